// Port of FoundationVision/LlamaGen autoregressive/sample/sample_c2i_ddp.py @ 5a50452db783a1351073a42eab4cac4eda80f618
// (the per-batch step: generate → vq_model.decode_code → optional bicubic resize → uint8).
import DigitImage
import DigitNN
import DigitTensor
import Foundation

/// A LlamaGen class-conditional GPT with the VQ-16 tokenizer that decodes its tokens, sampling as
/// `sample_c2i_ddp.py` does: tokens for a `(image_size / 16)²` grid, `decode_code`, then — when the
/// evaluation size differs (the 384-px models evaluated at 256) — `F.interpolate(mode='bicubic')`
/// (align_corners=False, no antialias) on the float images, and `clamp(127.5 x + 128, 0, 255)` to uint8.
///
/// Upstream samples in bfloat16 by default (`--precision bf16`); digit-bench runs float32 throughout.
public final class LlamaGenGenerator: @unchecked Sendable {
    public let id: GeneratorID
    public let gpt: LlamaGenGPT
    public let vq: LlamaGenVQ
    /// `--image-size`: 256 (16×16 tokens) or 384 (24×24 tokens).
    public let imageSize: Int
    /// `--image-size-eval`: the size of the images written (256 for every published FID).
    public let evalSize: Int
    public let usesSeededWeights: Bool

    /// The released checkpoints' image sizes per model (B and L exist at 256 and 384).
    public static func imageSizes(_ id: GeneratorID) -> [Int] {
        switch id {
        case .llamagenGPTB, .llamagenGPTL: [256, 384]
        default: [384]
        }
    }

    public init(id: GeneratorID, imageSize: Int, evalSize: Int = 256, gptWeights: Weights, vqWeights: Weights) throws {
        precondition(id.isLlamaGen, "LlamaGenGenerator: \(id.rawValue) is not a LlamaGen model")
        guard imageSize % 16 == 0, let config = LlamaGenGPTConfiguration.preset(id.size, blockSize: (imageSize / 16) * (imageSize / 16)) else {
            throw ModelLoadError.invalidConfiguration("\(id.rawValue): image size \(imageSize) is not a multiple of 16")
        }
        guard evalSize > 0 else { throw ModelLoadError.invalidConfiguration("evaluation size \(evalSize) must be positive") }
        self.id = id
        self.imageSize = imageSize
        self.evalSize = evalSize
        gpt = try LlamaGenGPT(config: config, weights: gptWeights)
        vq = try LlamaGenVQ(config: .vq16, weights: vqWeights)
        usesSeededWeights = gptWeights.isSeeded || vqWeights.isSeeded
    }

    /// `decode_code(tokens, (B, 8, g, g))`, resized bicubically to `evalSize` when it differs from
    /// the generated size; images in [-1, 1] (unclamped), (B, 3, evalSize, evalSize).
    public func decodeToImage(_ tokens: [[Int]]) throws -> Tensor {
        let g = gpt.config.gridSize
        var x = try vq.decode(TokenGrid(batch: tokens.count, height: g, width: g, indices: Array(tokens.joined())))
        if x.dim(2) != evalSize || x.dim(3) != evalSize {
            x = interpolate(x, size: (evalSize, evalSize), mode: .bicubic, alignCorners: false)
        }
        return x
    }
}

extension LlamaGenGenerator: ImageGenerator {
    public var numClasses: Int { gpt.config.numClasses }

    public func generate(classes: [Int], rngs: [SampleRNG], sampling: [SamplingConfiguration]) throws -> ImageBatch {
        precondition(sampling.count == 1, "LlamaGen samples with one configuration")
        let tokens = gpt.generate(classes: classes, sampling: sampling[0], rngs: rngs)
        return vq.outputImages(try decodeToImage(tokens))
    }
}
