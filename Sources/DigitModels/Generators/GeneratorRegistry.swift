import DigitImage
import DigitNN
import DigitTensor
import Foundation

/// The class-conditional generators digit-bench samples from. Raw values are the public ids
/// (CLI value, suite field, baseline row id).
public enum GeneratorID: String, CaseIterable, Codable, Sendable {
    case llamagenGPTB = "llamagen-gpt-b"
    case llamagenGPTL = "llamagen-gpt-l"
    case llamagenGPTXL = "llamagen-gpt-xl"
    case llamagenGPTXXL = "llamagen-gpt-xxl"
    case llamagenGPT3B = "llamagen-gpt-3b"
    case openMAGVIT2ARB = "openmagvit2-ar-b"
    case openMAGVIT2ARL = "openmagvit2-ar-l"
    case openMAGVIT2ARXL = "openmagvit2-ar-xl"

    /// The size name upstream uses (`B`, `L`, `XL`, `XXL`, `3B`).
    public var size: String {
        switch self {
        case .llamagenGPTB, .openMAGVIT2ARB: "B"
        case .llamagenGPTL, .openMAGVIT2ARL: "L"
        case .llamagenGPTXL, .openMAGVIT2ARXL: "XL"
        case .llamagenGPTXXL: "XXL"
        case .llamagenGPT3B: "3B"
        }
    }

    public var isLlamaGen: Bool { rawValue.hasPrefix("llamagen") }

    /// The published sampling settings (LlamaGen README / sample scripts; Open-MAGVIT2 README),
    /// one configuration per sub-token for Open-MAGVIT2.
    public var publishedSampling: [SamplingConfiguration] {
        switch self {
        case .llamagenGPTB, .llamagenGPTL: [SamplingConfiguration(cfgScale: 2.0)]
        case .llamagenGPTXL, .llamagenGPTXXL: [SamplingConfiguration(cfgScale: 1.75)]
        case .llamagenGPT3B: [SamplingConfiguration(cfgScale: 1.65)]
        case .openMAGVIT2ARB:
            [SamplingConfiguration(temperature: 1.0, cfgScale: 1.9), SamplingConfiguration(temperature: 1.0, cfgScale: 2.0)]
        case .openMAGVIT2ARL:
            [SamplingConfiguration(temperature: 1.1, cfgScale: 1.9), SamplingConfiguration(temperature: 1.0, cfgScale: 1.9)]
        case .openMAGVIT2ARXL:
            [SamplingConfiguration(temperature: 1.1, cfgScale: 1.75), SamplingConfiguration(temperature: 1.0, cfgScale: 1.85)]
        }
    }
}

/// Which class each sample gets. Sample `i`'s class depends only on (schedule, seed, i).
public enum ClassSchedule: Sendable, Equatable {
    /// Sample i has class `i / perClass` (ADM/LlamaGen's 50 per class for 50,000 samples).
    case perClass(Int)
    /// A class drawn from (seed, i).
    case random
    /// Classes from a list, cycled.
    case list([Int])

    /// Parses `50-per-class`, `random` or `1,2,3`.
    public init(parsing s: String) throws {
        if s == "random" {
            self = .random
        } else if s.hasSuffix("-per-class"), let n = Int(s.dropLast("-per-class".count)), n > 0 {
            self = .perClass(n)
        } else {
            let parts = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else {
                throw ModelLoadError.invalidConfiguration("--classes takes N-per-class, random, or a comma list of ids; got '\(s)'")
            }
            self = .list(parts.map { $0! })
        }
    }

    public func classFor(sample i: Int, seed: UInt64, numClasses: Int) -> Int {
        switch self {
        case let .perClass(n): return (i / n) % numClasses
        case .random: return Int(SampleRNG(seed: seed, sample: i).uniform(step: 0, stream: 0xC1A55) * Double(numClasses))
        case let .list(l): return l[i % l.count]
        }
    }
}

/// A class-conditional image generator: tokens from an AR transformer, decoded to pixels.
public protocol ImageGenerator: AnyObject, Sendable {
    var id: GeneratorID { get }
    var usesSeededWeights: Bool { get }
    var numClasses: Int { get }
    /// Generates one image per class; row `r` uses `rngs[r]`.
    func generate(classes: [Int], rngs: [SampleRNG], sampling: [SamplingConfiguration]) throws -> ImageBatch
}

extension OpenMAGVIT2Generator: ImageGenerator {
    public var id: GeneratorID {
        switch transformer.config.dim {
        case 1024: .openMAGVIT2ARB
        case 1280: .openMAGVIT2ARL
        default: .openMAGVIT2ARXL
        }
    }

    public var numClasses: Int { transformer.config.classNum }

    public func generate(classes: [Int], rngs: [SampleRNG], sampling: [SamplingConfiguration]) throws -> ImageBatch {
        let (pre, post) = transformer.generate(classes: classes, sampling: sampling, rngs: rngs)
        let g = transformer.config.gridSize
        let x = try decodeToImage(pre: pre, post: post, height: g, width: g)  // (B, 3, 256, 256) in [-1, 1]
        return tokenizer.outputImages(x)
    }
}

/// LlamaGen class-conditional sampling (`autoregressive/sample/sample_c2i.py`): GPT tokens, then
/// `vq_model.decode_code(index_sample, qzshape)` with the VQ-16 tokenizer and LlamaGen's
/// `clamp(127.5 x + 128, 0, 255)` to uint8.
public final class LlamaGenGenerator: ImageGenerator, @unchecked Sendable {
    public let id: GeneratorID
    public let gpt: LlamaGenGPT
    public let vq: LlamaGenVQ
    public let usesSeededWeights: Bool

    public init(id: GeneratorID, gpt: LlamaGenGPT, vq: LlamaGenVQ, usesSeededWeights: Bool) {
        precondition(id.isLlamaGen, "LlamaGenGenerator: \(id.rawValue) is not a LlamaGen model")
        self.id = id
        self.gpt = gpt
        self.vq = vq
        self.usesSeededWeights = usesSeededWeights
    }

    public var numClasses: Int { gpt.config.numClasses }

    /// One sampling configuration (LlamaGen has one token stream).
    public func generate(classes: [Int], rngs: [SampleRNG], sampling: [SamplingConfiguration]) throws -> ImageBatch {
        let tokens = gpt.generate(classes: classes, sampling: sampling[0], rngs: rngs)  // B × (g·g)
        let g = gpt.config.gridSize
        let grid = TokenGrid(batch: classes.count, height: g, width: g, indices: tokens.flatMap { $0 })
        return vq.outputImages(try vq.decode(grid))                                      // (B, 3, 16g, 16g) → uint8
    }
}
