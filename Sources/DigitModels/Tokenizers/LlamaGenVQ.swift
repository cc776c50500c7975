// Port of FoundationVision/LlamaGen tokenizer/tokenizer_image/vq_model.py @ ce98ec41803a74a90ce68c40ababa9eaeffeb4ec
// (VQModel, Encoder, Decoder, VectorQuantizer, ResnetBlock, AttnBlock, Upsample, Downsample; VQ_8, VQ_16)
import DigitCheckpoint
import DigitImage
import DigitNN
import DigitTensor
import Foundation

/// `ModelArgs` of vq_model.py plus the Encoder/Decoder constructor defaults it relies on.
public struct LlamaGenVQConfig: Codable, Sendable, Equatable {
    public var codebookSize = 16384
    public var codebookEmbedDim = 8
    public var codebookL2Norm = true
    public var codebookShowUsage = true
    public var encoderChMult: [Int]
    public var decoderChMult: [Int]
    public var zChannels = 256
    /// `Encoder(ch=128, num_res_blocks=2, in_channels=3)`, `Decoder(out_channels=3)` defaults.
    public var ch = 128
    public var numResBlocks = 2
    public var inChannels = 3
    public var outChannels = 3

    enum CodingKeys: String, CodingKey {
        case codebookSize = "codebook_size", codebookEmbedDim = "codebook_embed_dim"
        case codebookL2Norm = "codebook_l2_norm", codebookShowUsage = "codebook_show_usage"
        case encoderChMult = "encoder_ch_mult", decoderChMult = "decoder_ch_mult", zChannels = "z_channels"
        case ch, numResBlocks = "num_res_blocks", inChannels = "in_channels", outChannels = "out_channels"
    }

    /// `VQ_16(codebook_size=16384, codebook_embed_dim=8)`: 16x downsampling.
    public static let vq16 = LlamaGenVQConfig(encoderChMult: [1, 1, 2, 2, 4], decoderChMult: [1, 1, 2, 2, 4])
    /// `VQ_8(codebook_size=16384, codebook_embed_dim=8)`: 8x downsampling.
    public static let vq8 = LlamaGenVQConfig(encoderChMult: [1, 2, 2, 4], decoderChMult: [1, 2, 2, 4])

    /// The spatial downsampling factor of the encoder.
    public var downsampling: Int { 1 << (encoderChMult.count - 1) }
}

/// LlamaGen's VQ tokenizer (`VQModel`): images in [-1, 1] ⇄ a grid of codes from a 16384 x 8
/// codebook, searched with L2-normalised latent and codebook.
public final class LlamaGenVQ: ImageTokenizer {
    /// The public ids of the released tokenizers.
    public enum Variant: String, CaseIterable, Sendable {
        case vq16 = "llamagen-vq16"
        case vq8 = "llamagen-vq8"

        public var config: LlamaGenVQConfig { self == .vq16 ? .vq16 : .vq8 }
        /// The released checkpoint ({'model': state_dict}).
        public var checkpointFile: String { self == .vq16 ? "vq_ds16_c2i.pt" : "vq_ds8_c2i.pt" }
    }

    public let id: String
    public let config: LlamaGenVQConfig
    public let usesSeededWeights: Bool
    let encoder: Encoder
    let decoder: Decoder
    let codebook: VQCodebook
    let quantConv: Conv2d
    let postQuantConv: Conv2d

    /// Builds the model, requesting parameters in upstream's state-dict order. With a checkpoint,
    /// loading is strict (``Weights/finish()`` is called): a key of another tokenizer is an error
    /// naming it.
    public init(config: LlamaGenVQConfig, weights: Weights, id: String? = nil) throws {
        self.id = id ?? (config == .vq16 ? Variant.vq16.rawValue : config == .vq8 ? Variant.vq8.rawValue : "llamagen-vq")
        self.config = config
        usesSeededWeights = weights.isSeeded
        let root = weights.root
        encoder = try Encoder(root.scope("encoder"), config)
        decoder = try Decoder(root.scope("decoder"), config)
        let q = root.scope("quantize")
        if config.codebookShowUsage {
            // A float32 usage-history buffer written only in training (`self.training`); known, unused.
            q.acknowledge("codebook_used", shape: [65536])
        }
        let embedding = try q.tensor("embedding.weight", shape: [config.codebookSize, config.codebookEmbedDim])
        codebook = VQCodebook(embedding: embedding, l2Normalized: config.codebookL2Norm)
        quantConv = try Conv2d(root.scope("quant_conv"), inChannels: config.zChannels,
                               outChannels: config.codebookEmbedDim, kernel: 1)
        postQuantConv = try Conv2d(root.scope("post_quant_conv"), inChannels: config.codebookEmbedDim,
                                   outChannels: config.zChannels, kernel: 1)
        try weights.finish()
    }

    /// Builds a released variant from a checkpoint's state dict (nested or flat, see ``unwrap(_:)``).
    public convenience init(_ variant: Variant, stateDict: StateDict) throws {
        try self.init(config: variant.config, weights: Weights(stateDict: LlamaGenVQ.unwrap(stateDict)), id: variant.rawValue)
    }

    /// A released variant on seeded stand-in weights (tests, dry runs).
    public convenience init(seeded variant: Variant) throws {
        try self.init(config: variant.config, weights: .seeded(), id: variant.rawValue)
    }

    /// The model's state dict inside a checkpoint: `reconstruction_vq_ddp.py` takes `"ema"` if
    /// present, then `"model"`, then `"state_dict"`, else the top level.
    public static func unwrap(_ sd: StateDict) -> StateDict {
        for prefix in ["ema.", "model.", "state_dict."] where sd.keys.contains(where: { $0.hasPrefix(prefix) }) {
            return sd.selecting(prefix: prefix)
        }
        return sd
    }

    public var codebookSize: Int { config.codebookSize }
    public var downsampleFactor: Int { config.downsampling }
    /// The released tokenizers were trained and are evaluated at 256 px (any multiple of the
    /// downsampling factor works).
    public var inputResolution: Int { 256 }
    public var inputRange: PixelRange { .minusOneToOne }

    // MARK: - Encode

    /// `VQModel.encode`: x (B, 3, H, W) in [-1, 1], H and W multiples of the downsampling factor.
    /// `latent` is `quant_conv(encoder(x))` (B, 8, h, w); `quantized` is `encode(x)[0]`, the
    /// normalised codebook rows through the straight-through `z + (z_q − z)`.
    public func encode(_ x: Tensor) throws -> TokenizerEncoding {
        try checkImageInput(x, id: id, channels: config.inChannels, multipleOf: downsampleFactor)
        let h = encoder(x)                                   // (B, 256, h, w)
        let latent = quantConv(h)                            // (B, 8, h, w)
        let (b, hh, ww) = (latent.dim(0), latent.dim(2), latent.dim(3))
        var z = VQCodebook.channelsLast(latent)              // (B·h·w, 8)
        if codebook.l2Normalized { z = VQCodebook.normalizedRows(z) }
        let indices = codebook.nearest(z)                    // (B·h·w)
        // Straight-through estimator of the forward pass: z + (z_q - z), rounded as upstream does.
        var quantRows = z
        codebook.rows.withUnsafeBufferPointer { pe in
            quantRows.withUnsafeMutableBufferPointer { pq in
                let d = codebook.dimension
                for (i, code) in indices.enumerated() {
                    for j in 0..<d {
                        let zv = pq[i * d + j]
                        pq[i * d + j] = zv + (pe[code * d + j] - zv)
                    }
                }
            }
        }
        let quant = VQCodebook.channelsFirst(quantRows, batch: b, height: hh, width: ww)
        return TokenizerEncoding(tokens: TokenGrid(batch: b, height: hh, width: ww, indices: indices),
                                 latent: latent, quantized: quant)
    }

    // MARK: - Decode

    /// `VQModel.decode`: decoder(post_quant_conv(quant)); quant (B, 8, h, w) → (B, 3, H, W), unclamped.
    public func decode(_ quant: Tensor) -> Tensor {
        decoder(postQuantConv(quant))
    }

    /// `VQModel.decode_code(indices, shape=(B, 8, h, w))`: tokens → images, unclamped.
    public func decode(_ tokens: TokenGrid) throws -> Tensor {
        decode(try codebook.lookup(tokens))
    }

    /// `reconstruction_vq_ddp.py`: `encode`, then `decode_code(indices, latent.shape)` (the codebook
    /// rows, not forward's straight-through value); unclamped.
    public func reconstruct(_ x: Tensor) throws -> Tensor {
        try decode(encode(x).tokens)
    }

    // MARK: - Pixels

    /// `ToTensor()` then `Normalize([0.5]*3, [0.5]*3)` in float32: `((u8 / 255) − 0.5) / 0.5`, NCHW.
    public func modelInput(_ images: ImageBatch) -> Tensor {
        imageTensor(images) { (Float($0) / 255 - 0.5) / 0.5 }
    }

    /// LlamaGen's sample/eval conversion: `clamp(127.5 * x + 128, 0, 255).to(uint8)` (truncation
    /// after adding 128, so 0 → 128; not the protocol's default `(clamp(x) + 1) / 2 · 255`, 0 → 127).
    public func outputImages(_ x: Tensor) -> ImageBatch {
        imageBatch(x) { v in
            let y = min(max(127.5 * v + 128, 0), 255)
            return y.isNaN ? 0 : UInt8(y)
        }
    }

    // MARK: - Blocks

    /// `AttnBlock`: single-head self-attention over the H·W positions with 1x1-conv q, k, v, proj_out.
    struct AttnBlock: Sendable {
        let norm: GroupNorm, q: Conv2d, k: Conv2d, v: Conv2d, projOut: Conv2d

        init(_ s: WeightScope, _ c: Int) throws {
            norm = try GroupNorm(s.scope("norm"), groups: 32, channels: c, eps: 1e-6)
            q = try Conv2d(s.scope("q"), inChannels: c, outChannels: c, kernel: 1)
            k = try Conv2d(s.scope("k"), inChannels: c, outChannels: c, kernel: 1)
            v = try Conv2d(s.scope("v"), inChannels: c, outChannels: c, kernel: 1)
            projOut = try Conv2d(s.scope("proj_out"), inChannels: c, outChannels: c, kernel: 1)
        }

        func callAsFunction(_ x: Tensor) -> Tensor {
            let hn = norm(x)
            let (qs, ks, vs) = (q(hn), k(hn), v(hn))         // (B, C, H, W) each
            let (b, c, hw) = (x.dim(0), x.dim(1), x.dim(2) * x.dim(3))
            var attended = Tensor(zeros: x.shape)            // (B, C, H, W)
            var w = [Float](repeating: 0, count: hw * hw)     // (HW_q, HW_k)
            qs.withUnsafeBufferPointer { pq in
                ks.withUnsafeBufferPointer { pk in
                    vs.withUnsafeBufferPointer { pv in
                        attended.withUnsafeMutableBufferPointer { po in
                            w.withUnsafeMutableBufferPointer { pw in
                                for bi in 0..<b {
                                    let off = bi * c * hw
                                    // w[i, j] = Σ_c q[c, i] k[c, j] · c^-0.5
                                    Gemm.sgemm(transA: true, m: hw, n: hw, k: c, alpha: Float(1 / Double(c).squareRoot()),
                                               a: pq.baseAddress! + off, lda: hw, b: pk.baseAddress! + off, ldb: hw,
                                               c: pw.baseAddress!, ldc: hw)
                                    let scores = pw.baseAddress!
                                    parallelFor(hw, grain: 8) { softmaxRow(scores + $0 * hw, count: hw) }
                                    // out[c, i] = Σ_j v[c, j] w[i, j]
                                    Gemm.sgemm(transB: true, m: c, n: hw, k: hw, a: pv.baseAddress! + off, lda: hw,
                                               b: pw.baseAddress!, ldb: hw, c: po.baseAddress! + off, ldc: hw)
                                }
                            }
                        }
                    }
                }
            }
            return x.adding(projOut(attended))
        }
    }

    /// One resolution level: `res` (+ `attn` after each res block at the coarsest level), then a
    /// `downsample` (pad (0,1,0,1) + 3x3 stride-2 conv) or an `upsample` (nearest x2 + 3x3 conv).
    struct Level: Sendable {
        let res: [TamingResnetBlock]
        let attn: [AttnBlock]
        let resample: Conv2d?

        func callAsFunction(_ x: Tensor, downsample: Bool) -> Tensor {
            var h = x
            for i in res.indices {
                h = res[i](h)
                if !attn.isEmpty { h = attn[i](h) }
            }
            guard let resample else { return h }
            if downsample {
                // F.pad(x, (0, 1, 0, 1)) then Conv2d(3, stride 2, padding 0)
                return conv2d(h, weight: resample.weight, bias: resample.bias, stride: (2, 2),
                              padding: Padding2d(top: 0, bottom: 1, left: 0, right: 1))
            }
            return resample(interpolateNearest(h, size: (2 * h.dim(2), 2 * h.dim(3))))
        }
    }

    struct Encoder: Sendable {
        let convIn: Conv2d
        let levels: [Level]
        let mid: (TamingResnetBlock, AttnBlock, TamingResnetBlock)
        let normOut: GroupNorm
        let convOut: Conv2d

        init(_ s: WeightScope, _ cfg: LlamaGenVQConfig) throws {
            let ch = cfg.ch, mult = cfg.encoderChMult, n = mult.count
            convIn = try Conv2d(s.scope("conv_in"), inChannels: cfg.inChannels, outChannels: ch, kernel: 3, padding: 1)
            let inMult = [1] + mult
            var levels: [Level] = []
            var blockIn = ch
            for i in 0..<n {
                let ls = s.scope("conv_blocks").scope(i)
                blockIn = ch * inMult[i]
                let blockOut = ch * mult[i]
                var res: [TamingResnetBlock] = []
                for j in 0..<cfg.numResBlocks {
                    res.append(try TamingResnetBlock(.llamaGen, ls.scope("res").scope(j), blockIn, blockOut))
                    blockIn = blockOut
                }
                let attn = i == n - 1
                    ? try (0..<cfg.numResBlocks).map { try AttnBlock(ls.scope("attn").scope($0), blockIn) } : []
                let down = i != n - 1
                    ? try Conv2d(ls.scope("downsample").scope("conv"), inChannels: blockIn, outChannels: blockIn,
                                 kernel: 3, stride: 2) : nil
                levels.append(Level(res: res, attn: attn, resample: down))
            }
            self.levels = levels
            let m = s.scope("mid")
            mid = (try TamingResnetBlock(.llamaGen, m.scope(0), blockIn, blockIn), try AttnBlock(m.scope(1), blockIn),
                   try TamingResnetBlock(.llamaGen, m.scope(2), blockIn, blockIn))
            normOut = try GroupNorm(s.scope("norm_out"), groups: 32, channels: blockIn, eps: 1e-6)
            convOut = try Conv2d(s.scope("conv_out"), inChannels: blockIn, outChannels: cfg.zChannels, kernel: 3,
                                 padding: 1)
        }

        func callAsFunction(_ x: Tensor) -> Tensor {
            var h = convIn(x)                                 // (B, 128, H, W)
            for level in levels { h = level(h, downsample: true) }  // (B, 512, H/f, W/f)
            h = mid.2(mid.1(mid.0(h)))
            return convOut(normSwish(normOut, h))             // (B, 256, H/f, W/f)
        }
    }

    struct Decoder: Sendable {
        let convIn: Conv2d
        let mid: (TamingResnetBlock, AttnBlock, TamingResnetBlock)
        /// conv_blocks[0] is the coarsest level.
        let levels: [Level]
        let normOut: GroupNorm
        let convOut: Conv2d

        init(_ s: WeightScope, _ cfg: LlamaGenVQConfig) throws {
            let ch = cfg.ch, mult = cfg.decoderChMult, n = mult.count
            var blockIn = ch * mult[n - 1]
            convIn = try Conv2d(s.scope("conv_in"), inChannels: cfg.zChannels, outChannels: blockIn, kernel: 3,
                                padding: 1)
            let m = s.scope("mid")
            mid = (try TamingResnetBlock(.llamaGen, m.scope(0), blockIn, blockIn), try AttnBlock(m.scope(1), blockIn),
                   try TamingResnetBlock(.llamaGen, m.scope(2), blockIn, blockIn))
            var levels: [Level] = []
            for (idx, i) in (0..<n).reversed().enumerated() {
                let ls = s.scope("conv_blocks").scope(idx)
                let blockOut = ch * mult[i]
                var res: [TamingResnetBlock] = []
                for j in 0...cfg.numResBlocks {
                    res.append(try TamingResnetBlock(.llamaGen, ls.scope("res").scope(j), blockIn, blockOut))
                    blockIn = blockOut
                }
                let attn = i == n - 1
                    ? try (0...cfg.numResBlocks).map { try AttnBlock(ls.scope("attn").scope($0), blockIn) } : []
                let up = i != 0
                    ? try Conv2d(ls.scope("upsample").scope("conv"), inChannels: blockIn, outChannels: blockIn,
                                 kernel: 3, padding: 1).using(vqConvAlgorithm) : nil
                levels.append(Level(res: res, attn: attn, resample: up))
            }
            self.levels = levels
            normOut = try GroupNorm(s.scope("norm_out"), groups: 32, channels: blockIn, eps: 1e-6)
            convOut = try Conv2d(s.scope("conv_out"), inChannels: blockIn, outChannels: cfg.outChannels, kernel: 3,
                                 padding: 1).using(vqConvAlgorithm)
        }

        func callAsFunction(_ z: Tensor) -> Tensor {
            var h = convIn(z)                                 // (B, 512, h, w)
            h = mid.2(mid.1(mid.0(h)))
            for level in levels { h = level(h, downsample: false) }  // (B, 128, H, W)
            return convOut(normSwish(normOut, h))             // (B, 3, H, W)
        }
    }
}
