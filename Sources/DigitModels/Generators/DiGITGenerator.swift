// Port of DAMO-NLP-SG/DiGIT fairseq_user/image_generation_stage2/generator.py @ cd6d8ca30a89d88cd5e4173ed4ec4e5f0d9493a1
// (PrefixSequenceGenerator.generate: stage-1 clusters → stage-2 VQ codes → MAGE VQGAN decode → uint8).
import DigitImage
import DigitNN
import DigitTensor
import Foundation

/// DiGIT's two-stage generator: the stage-1 GPT samples 256 DiGIT tokens (K-means clusters of
/// DINOv2 features), the stage-2 AR pixel decoder samples 256 MAGE-VQGAN codes after that prefix,
/// and the VQGAN decodes the 16×16 grid to 256×256 pixels (`np.clip(x·255, 0, 255).astype(uint8)`).
///
/// Upstream runs each stage with fairseq's generator, `--min-len 256` and a larger `--max-len-b`
/// (300 / 600), then keeps the first 256 codes; the search forbids `</s>` before step 256 and
/// nothing after it is used, so stopping at 256 gives the same grid and skips the wasted steps.
public final class DiGITGenerator: @unchecked Sendable {
    public let id: GeneratorID
    public let stage1: DiGITStage1
    public let stage2: DiGITStage2
    public let vqgan: MAGEVQGAN
    public let usesSeededWeights: Bool
    /// Tokens per image (16×16).
    public static let tokens = 256

    public init(id: GeneratorID, stage1: DiGITStage1, stage2: DiGITStage2, vqgan: MAGEVQGAN, usesSeededWeights: Bool) throws {
        precondition(id.isDiGIT, "DiGITGenerator: \(id.rawValue) is not a DiGIT model")
        try Self.checkConditioning(id: id, stage1ClassConditional: stage1.configuration.classConditional)
        (self.id, self.stage1, self.stage2, self.vqgan, self.usesSeededWeights) = (id, stage1, stage2, vqgan, usesSeededWeights)
    }

    /// A class-conditional stage 1 serves only the `-cls` ids, an unconditional one only the others.
    public static func checkConditioning(id: GeneratorID, stage1ClassConditional: Bool) throws {
        guard stage1ClassConditional == id.isClassConditional else {
            throw DiGITError.invalidInput("\(id.rawValue) is \(id.isClassConditional ? "" : "un")conditional, but the stage-1 checkpoint says class_conditional = \(stage1ClassConditional)")
        }
    }

    /// Seeded stand-in weights on the base configurations (tests and dry runs).
    public static func seeded(id: GeneratorID) throws -> DiGITGenerator {
        var c1 = DiGITStage1.configurationDefaults
        c1.classConditional = id.isClassConditional
        if id.size == "large" {
            throw DiGITError.invalidInput("seeded weights are provided for the base models only (\(id.rawValue) has 732M parameters)")
        }
        return try DiGITGenerator(
            id: id, stage1: DiGITStage1(.seeded(), configuration: c1), stage2: DiGITStage2(.seeded(), configuration: DiGITStage2.configurationDefaults),
            vqgan: MAGEVQGAN(weights: .seeded()), usesSeededWeights: true)
    }

    /// Fairseq search settings for one stage from a sampling configuration: top-k when `topK > 0`,
    /// else top-p when `topP < 1`, else greedy (`--beam 1`).
    public static func searchOptions(_ s: SamplingConfiguration) -> FairseqGenerationOptions {
        let method: FairseqSearchMethod = s.greedy ? .greedy : s.topK > 0 ? .topK(s.topK) : s.topP < 1 ? .topP(s.topP) : .greedy
        return FairseqGenerationOptions(minLength: tokens, maxLength: tokens, temperature: s.temperature, method: method)
    }

    /// Stage 1: 256 cluster ids per sample (uniforms from stream 0 of each sample's RNG).
    public func clusters(classes: [Int?], rngs: [SampleRNG], sampling: SamplingConfiguration) throws -> [[Int]] {
        let hyps = try stage1.generate(classLabels: classes, options: Self.searchOptions(sampling)) { i, step in rngs[i].uniform(step: step, stream: 0) }
        return hyps.map { Array($0.codes.prefix(Self.tokens)) }
    }

    /// Stage 2 then the VQGAN: images in [0, 1] (unclipped), (B, 3, 256, 256).
    public func decode(clusters: [[Int]], rngs: [SampleRNG], sampling: SamplingConfiguration) throws -> Tensor {
        try vqgan.decode(Self.pixelCodes(stage2: stage2, clusters: clusters, rngs: rngs, sampling: sampling))
    }

    /// Stage 2 alone: the 16×16 MAGE-VQGAN codes sampled after each cluster prefix (uniforms from
    /// stream 1 of each sample's RNG).
    public static func pixelCodes(stage2: DiGITStage2, clusters: [[Int]], rngs: [SampleRNG], sampling: SamplingConfiguration) throws -> TokenGrid {
        let hyps = try stage2.generate(clusterIDs: clusters, options: searchOptions(sampling)) { i, step in rngs[i].uniform(step: step, stream: 1) }
        let codes = hyps.map { Array($0.codes.prefix(tokens)) }
        return TokenGrid(batch: codes.count, height: 16, width: 16, indices: Array(codes.joined()))
    }
}

extension DiGITGenerator: ImageGenerator {
    public var numClasses: Int { DiGITStage1.classCount }

    /// `classes` are ignored by the unconditional models.
    public func generate(classes: [Int], rngs: [SampleRNG], sampling: [SamplingConfiguration]) throws -> ImageBatch {
        precondition(sampling.count == 2, "DiGIT samples with one configuration per stage")
        let labels: [Int?] = id.isClassConditional ? classes : classes.map { _ in nil }
        let k = try clusters(classes: labels, rngs: rngs, sampling: sampling[0])
        return vqgan.outputImages(try decode(clusters: k, rngs: rngs, sampling: sampling[1]))
    }
}
