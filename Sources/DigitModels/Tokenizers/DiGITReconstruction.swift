// Composition of DAMO-NLP-SG/DiGIT @ cd6d8ca30a89d88cd5e4173ed4ec4e5f0d9493a1: the discriminative
// tokenizer (fairseq_user/pretrained_enc/dino + K-means), the stage-2 pixel decoder
// (fairseq_user/image_generation_stage2) and MAGE's VQGAN, as a reconstruction path.
import DigitImage
import DigitTensor
import Foundation

/// A decode that needs each image's place in the dataset (its sampling stream), so that a
/// reconstruction does not depend on batching or sharding.
public protocol IndexedTokenDecoder {
    func decode(_ tokens: TokenGrid, sampleIndices: [Int]) throws -> Tensor
}

/// DiGIT's tokenizer given a way back to pixels: image → DiGIT tokens (generation path: the
/// 256² crop in [0, 1], ImageNet normalisation, bicubic ×224/256, DINOv2 block L−3, nearest
/// centroid) → the stage-2 AR decoder samples 256 MAGE-VQGAN codes after that prefix (DiGIT's
/// search: top-p 0.8, temperature 1, or greedy) → the VQGAN decodes 256² pixels in [0, 1].
///
/// The stage-2 draws of image `i` come from `SampleRNG(seed: seed, sample: i)` stream 1, as in
/// `generate`, so a reconstruction depends only on the image, its dataset index and the seed.
/// Without ``IndexedTokenDecoder`` (plain `decode`), images are numbered from 0 within the call.
public final class DiGITReconstruction: ImageTokenizer, IndexedTokenDecoder, @unchecked Sendable {
    public let tokenizer: DiGITTokenizer
    public let stage2: DiGITStage2
    public let vqgan: MAGEVQGAN
    public let sampling: SamplingConfiguration
    public let seed: UInt64
    public let usesSeededWeights: Bool

    /// DiGIT's stage-2 search (`--sampling --sampling-topp 0.8`).
    public static let publishedSampling = SamplingConfiguration(topP: 0.8)

    /// `stage2Seeded`: whether the stage-2 decoder runs on seeded stand-in weights.
    public init(tokenizer: DiGITTokenizer, stage2: DiGITStage2, stage2Seeded: Bool, vqgan: MAGEVQGAN,
                sampling: SamplingConfiguration = DiGITReconstruction.publishedSampling, seed: UInt64 = 0) {
        (self.tokenizer, self.stage2, self.vqgan, self.sampling, self.seed) = (tokenizer, stage2, vqgan, sampling, seed)
        usesSeededWeights = tokenizer.usesSeededWeights || stage2Seeded || vqgan.usesSeededWeights
    }

    public var id: String { tokenizer.id?.rawValue ?? "digit-tokenizer" }
    public var inputResolution: Int { 256 }
    public var inputRange: PixelRange { .zeroToOne }
    public var codebookSize: Int { tokenizer.codebookSize }
    public var downsampleFactor: Int { 16 }

    /// `ToTensor()` of the 256² crop (the reconstruction target). → (B, 3, 256, 256)
    public func modelInput(_ images: ImageBatch) -> Tensor { vqgan.modelInput(images) }

    /// DiGIT tokens of `ToTensor()` images: the same float32 operations as
    /// ``DiGITTokenizer/encoderInput(croppedImages:)`` ((u8/255 − mean)/std, then bicubic ×224/256).
    /// The latent is DINOv2's feature map (B, D, 16, 16); `quantized` is the nearest centroids'.
    public func encode(_ images: Tensor) throws -> TokenizerEncoding {
        let (b, h, w) = (images.dim(0), images.dim(2), images.dim(3))
        guard h == 256, w == 256 else { throw DiGITError.invalidInput("DiGIT reconstruction expects 256x256 crops, got \(h)x\(w)") }
        let normalized = Tensor(shape: images.shape) { out in
            images.withUnsafeBufferPointer { src in
                for n in 0..<(b * 3) {
                    let (m, s) = (DINOv2Input.mean[n % 3], DINOv2Input.std[n % 3])
                    for p in 0..<(h * w) { (out.baseAddress! + n * h * w + p).initialize(to: (src[n * h * w + p] - m) / s) }
                }
            }
        }
        return tokenizer.encoding(encoderInput: DiGITTokenizer.encoderInput(normalized: normalized))
    }

    public func decode(_ tokens: TokenGrid) throws -> Tensor {
        try decode(tokens, sampleIndices: Array(0..<tokens.batch))
    }

    /// Stage 2 then the VQGAN: (B, 3, 256, 256) in [0, 1], unclipped.
    public func decode(_ tokens: TokenGrid, sampleIndices: [Int]) throws -> Tensor {
        precondition(sampleIndices.count == tokens.batch, "DiGITReconstruction: \(sampleIndices.count) indices for \(tokens.batch) images")
        let n = tokens.height * tokens.width
        let clusters = (0..<tokens.batch).map { Array(tokens.indices[($0 * n)..<(($0 + 1) * n)]) }
        let rngs = sampleIndices.map { SampleRNG(seed: seed, sample: $0) }
        return try vqgan.decode(DiGITGenerator.pixelCodes(stage2: stage2, clusters: clusters, rngs: rngs, sampling: sampling))
    }

    /// DiGIT's conversion to uint8 (the VQGAN's truncating rule).
    public func outputImages(_ x: Tensor) -> ImageBatch { vqgan.outputImages(x) }
}
