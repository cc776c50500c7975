import DigitImage
import DigitTensor

/// The description of one feature a ``FeatureExtractor`` can produce.
public struct FeatureSpec: Sendable, Equatable, Codable {
    /// The public name (`pool3`, `logits_unbiased`, `sfid`, …), as used on the command line.
    public var name: String
    /// Values per image.
    public var dimension: Int

    public init(name: String, dimension: Int) {
        self.name = name
        self.dimension = dimension
    }
}

/// A network that maps images to feature vectors (FID Inception, DINOv2, …).
///
/// Implementations must give the same rows whatever the batching of the input (tests check it),
/// and must say when their parameters are seeded rather than real.
public protocol FeatureExtractor: Sendable {
    /// The registry id (`inception-v3`).
    var id: FeatureExtractorID { get }
    /// True when the parameters are seeded test values, not a real checkpoint.
    var isSeeded: Bool { get }
    /// One line naming the network, its weights and its input recipe, for run records.
    var provenance: String { get }
    /// The features this extractor can produce.
    var availableFeatures: [FeatureSpec] { get }
    /// One (N, D) tensor per requested feature name, rows in image order.
    func extractFeatures(_ images: ImageBatch, names: [String]) throws -> [String: Tensor]
}
