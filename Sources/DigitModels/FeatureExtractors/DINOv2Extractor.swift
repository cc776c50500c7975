import DigitImage
import DigitTensor

// DINOv2 behind the ``FeatureExtractor`` protocol: 8-bit images of any size in, one (N, D) tensor
// per named feature out, with the input recipe fixed at construction (Pillow-exact torchvision
// Resize + CenterCrop, ToTensor, ImageNet Normalize — the same crops DiGIT and dinov2's linear eval use).

/// Names the DINOv2 extractor answers to, for one block `b` (the last block unless chosen).
public enum DINOv2Feature: String, CaseIterable, Sendable {
    /// `norm(tokens)[:, 0]` (dinov2's `x_norm_clstoken` for the last block). D values.
    case cls
    /// The mean of `norm(tokens)[:, 1 + R:]` over the patches (registers excluded). D values.
    case patchMean = "patch_mean"
    /// `norm(tokens)[:, 1 + R:]` flattened row-major, patch by patch (dinov2's
    /// `x_norm_patchtokens`; DiGIT's tokenizer feature at block L−3). N·D values.
    case patchTokens = "patch_tokens"
}

/// A ``FeatureExtractor`` view of a DINOv2 backbone with a fixed crop and block.
public struct DINOv2FeatureExtractor: FeatureExtractor {
    public let network: DINOv2
    public let id: FeatureExtractorID
    /// Which Pillow crop the images go through (`.lp224`: Resize 256 + CenterCrop 224, the
    /// linear-eval default; `.dump224`: Resize 224 + CenterCrop 224, DiGIT's K-means dump).
    public let inputPath: DiGITInputPath
    /// The block whose normed tokens the features are made of.
    public let block: Int

    /// - Parameters:
    ///   - block: block index, negative from the end (`-1`, the default, is the last block;
    ///     `-3` is DiGIT's tokenizer feature).
    ///   - inputPath: `.lp224` or `.dump224` (`.gen256` feeds a 256 crop resampled to 224 inside
    ///     DiGIT's tokenizer and is served by ``DiGITTokenizer``, not here).
    public init(network: DINOv2, inputPath: DiGITInputPath = .lp224, block: Int = -1) throws {
        guard let model = network.model else { throw DINOv2ExtractorError.unregisteredNetwork }
        guard inputPath != .gen256 else { throw DINOv2ExtractorError.unsupportedInputPath(inputPath.rawValue) }
        guard let b = network.blockIndex(layer: block) else {
            throw DINOv2ExtractorError.blockOutOfRange(block, depth: network.depth)
        }
        self.network = network
        self.id = model.featureExtractorID
        self.inputPath = inputPath
        self.block = b
    }

    /// Patch tokens per image at the 224 crop.
    var patches: Int {
        let side = 224 / network.configuration.patchSize
        return side * side
    }

    public var isSeeded: Bool { network.isSeeded }
    public var provenance: String {
        "\(network.provenance); input \(inputPath.rawValue) (Pillow bicubic Resize + CenterCrop, ImageNet normalisation); norm(block \(block))"
    }
    public var availableFeatures: [FeatureSpec] {
        let d = network.embedDim
        return [FeatureSpec(name: DINOv2Feature.cls.rawValue, dimension: d),
                FeatureSpec(name: DINOv2Feature.patchMean.rawValue, dimension: d),
                FeatureSpec(name: DINOv2Feature.patchTokens.rawValue, dimension: patches * d)]
    }

    public func extractFeatures(_ images: ImageBatch, names: [String]) throws -> [String: Tensor] {
        let features = try names.map { n -> DINOv2Feature in
            guard let f = DINOv2Feature(rawValue: n) else {
                throw DINOv2ExtractorError.unknownFeature(n, valid: DINOv2Feature.allCases.map(\.rawValue))
            }
            return f
        }
        let crops = (0..<images.count).map { DiGITTokenizer.crop(images.image($0), path: inputPath) }
        let x = DINOv2Input.normalized(ImageBatch(images: crops))            // (B, 3, 224, 224)
        // One pass for every requested feature: norm(block) of all tokens, then pooled or sliced
        // as `probeFeatures` / `patchFeatures` do.
        let n = network.norm.vectorized(network.hiddenStates(x, throughBlock: block))  // (B, 1 + R + N, D)
        let (b, t, d, skip) = (n.dim(0), n.dim(1), n.dim(2), network.prefixTokens)
        var out: [String: Tensor] = [:]
        for (name, f) in zip(names, features) where out[name] == nil {
            switch f {
            case .cls:
                out[name] = Tensor(shape: [b, d], scalars: SequencePooling.row(0)(n))
            case .patchMean:
                out[name] = Tensor(shape: [b, d], scalars: SequencePooling.mean(skip..<t)(n))
            case .patchTokens:
                out[name] = n.slice(axis: 1, skip..<t).reshaped([b, (t - skip) * d])  // (B, N·D)
            }
        }
        return out
    }
}

extension DINOv2Model {
    /// The registry id of this backbone as a feature extractor.
    public var featureExtractorID: FeatureExtractorID {
        switch self {
        case .vitb14reg4: return .dinov2VitB14Reg4
        case .vitl14reg4: return .dinov2VitL14Reg4
        }
    }
}

public enum DINOv2ExtractorError: Error, CustomStringConvertible, Equatable {
    case unknownFeature(String, valid: [String])
    case blockOutOfRange(Int, depth: Int)
    case unsupportedInputPath(String)
    case unregisteredNetwork

    public var description: String {
        switch self {
        case let .unknownFeature(n, valid): return "DINOv2 has no feature '\(n)'; valid: \(valid.joined(separator: ", "))"
        case let .blockOutOfRange(b, depth): return "DINOv2: block \(b) outside -\(depth)…\(depth - 1)"
        case let .unsupportedInputPath(p): return "DINOv2 feature extractor: input path \(p) is DiGIT's tokenizer path; use lp224 or dump224"
        case .unregisteredNetwork: return "DINOv2 feature extractor: the network must be one of the registered models (dinov2-vitb14-reg4, dinov2-vitl14-reg4)"
        }
    }
}
