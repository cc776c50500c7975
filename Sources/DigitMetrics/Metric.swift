import DigitTensor

/// The metrics digit-bench computes. The raw value is the public id: the CLI value, the suite
/// field, the cache-key part and the baseline column.
public enum MetricID: String, CaseIterable, Codable, Sendable {
    case fid
    case inceptionScore = "is"
    case kid
    case precisionRecall = "pr"
    case psnr
    case ssim
    case codebookUsage = "codebook-usage"

    /// The result keys a metric's value always carries (torch-fidelity's names where it has one).
    public var resultKeys: [String] {
        switch self {
        case .fid: [MetricKey.fid]
        case .inceptionScore: [MetricKey.isMean, MetricKey.isStd]
        case .kid: [MetricKey.kidMean, MetricKey.kidStd]
        case .precisionRecall: [MetricKey.precision, MetricKey.recall, MetricKey.fScore]
        case .psnr: [MetricKey.psnr]
        case .ssim: [MetricKey.ssim]
        case .codebookUsage: [MetricKey.codebookUsage, MetricKey.codebookPerplexity, MetricKey.codebookEntropyBits]
        }
    }

    /// Parses a public id, throwing an error that lists the valid ones (with a "did you mean").
    public static func parse(_ text: String) throws -> MetricID {
        if let id = MetricID(rawValue: text) { return id }
        throw MetricsError.unknownID(kind: "metric", id: text, valid: allCases.map(\.rawValue))
    }
}

/// Constant result keys. FID/IS/KID/PR keys are torch-fidelity's `KEY_METRIC_*` strings, so a
/// digit-bench JSON can be diffed against a torch-fidelity one.
public enum MetricKey {
    public static let fid = "frechet_inception_distance"
    public static let isMean = "inception_score_mean"
    public static let isStd = "inception_score_std"
    public static let kidMean = "kernel_inception_distance_mean"
    public static let kidStd = "kernel_inception_distance_std"
    public static let precision = "precision"
    public static let recall = "recall"
    public static let fScore = "f_score"
    public static let psnr = "psnr"
    public static let ssim = "ssim"
    public static let codebookUsage = "codebook_usage"
    public static let codebookPerplexity = "codebook_perplexity"
    public static let codebookEntropyBits = "codebook_entropy_bits"
}

/// A metric's value: the numbers under constant keys, plus notes on what was done to get them
/// (clamped eigenvalues, protocol names) for the run record.
public struct MetricResult: Sendable, Equatable, Codable {
    public var id: MetricID
    /// The protocol that produced the numbers (e.g. `torch-fidelity`, `adm`).
    public var protocolName: String
    public var values: [String: Double]
    public var notes: [String]

    public init(id: MetricID, protocolName: String, values: [String: Double], notes: [String] = []) {
        precondition(Set(values.keys).isSuperset(of: id.resultKeys), "\(id) result lacks keys \(id.resultKeys)")
        self.id = id
        self.protocolName = protocolName
        self.values = values
        self.notes = notes
    }

    public subscript(key: String) -> Double? { values[key] }
}

/// A metric as staged pure functions: inputs → statistics (mergeable or cacheable) → value.
///
/// `Input` is what the feature extractor (or image pipeline) produces; `Statistics` is what can be
/// stored, merged across shards and compared; `value` never sees the raw inputs again.
public protocol Metric: Sendable {
    associatedtype Input
    associatedtype Statistics
    static var id: MetricID { get }
    /// Reduces inputs to statistics.
    func statistics(_ input: Input) throws -> Statistics
    /// Computes the metric's value from statistics.
    func value(_ statistics: Statistics) throws -> MetricResult
}

extension Metric {
    /// `value(statistics(input))`.
    public func evaluate(_ input: Input) throws -> MetricResult { try value(statistics(input)) }
}
