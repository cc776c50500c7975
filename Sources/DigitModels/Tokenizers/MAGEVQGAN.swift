// Port of LTH14/mage taming/models/vqgan.py + taming/modules/diffusionmodules/model.py
//   + taming/modules/vqvae/quantize.py (VectorQuantizer2, legacy) @ 1becb14475354fc40df35ba7c7c7bf418a137cd3
// with config/vqgan.yaml; DiGIT (DAMO-NLP-SG/DiGIT @ cd6d8ca3) uses a byte-identical copy as its pixel tokenizer.
import DigitCheckpoint
import DigitImage
import DigitNN
import DigitTensor

/// `config/vqgan.yaml` (`model.params`): the ddconfig plus `n_embed` / `embed_dim`.
public struct MAGEVQGANConfig: Codable, Sendable, Equatable {
    public var embedDim = 256
    public var nEmbed = 1024
    public var zChannels = 256
    public var resolution = 256
    public var inChannels = 3
    public var outCh = 3
    public var ch = 128
    public var chMult = [1, 1, 2, 2, 4]
    public var numResBlocks = 2

    enum CodingKeys: String, CodingKey {
        case embedDim = "embed_dim", nEmbed = "n_embed", zChannels = "z_channels", resolution
        case inChannels = "in_channels", outCh = "out_ch", ch, chMult = "ch_mult", numResBlocks = "num_res_blocks"
    }

    /// `vqgan_jax_strongaug.ckpt` as MAGE and DiGIT build it.
    public static let mage = MAGEVQGANConfig()

    /// The spatial downsampling factor of the encoder.
    public var downsampling: Int { 1 << (chMult.count - 1) }
}

/// MAGE's VQGAN (id `mage-vqgan`), the pixel tokenizer of DiGIT: images in [0, 1] ⇄ a 16x16 grid of
/// codes from a 1024 x 256 codebook. Not stock taming: no attention, no quant/post-quant convs,
/// bias-free ResNet convs whose shortcut is computed from the residual branch, average-pool
/// downsampling.
public final class MAGEVQGAN: ImageTokenizer {
    public static let id = "mage-vqgan"
    /// The released checkpoint (flat or nested under `'state_dict'`).
    public static let checkpointFile = "vqgan_jax_strongaug.ckpt"

    public let config: MAGEVQGANConfig
    public let usesSeededWeights: Bool
    let encoder: Encoder
    let decoder: Decoder
    let codebook: VQCodebook

    /// Builds the model, requesting parameters in upstream's state-dict order; strict with a checkpoint.
    public init(config: MAGEVQGANConfig = .mage, weights: Weights) throws {
        guard config.zChannels == config.embedDim else {
            throw ModelLoadError.invalidConfiguration("MAGE VQGAN has no quant_conv: z_channels must equal embed_dim")
        }
        self.config = config
        usesSeededWeights = weights.isSeeded
        encoder = try Encoder(weights.root.scope("encoder"), config)
        decoder = try Decoder(weights.root.scope("decoder"), config)
        let embedding = try weights.root.tensor("quantize.embedding.weight", shape: [config.nEmbed, config.embedDim])
        codebook = VQCodebook(embedding: embedding, l2Normalized: false)
        try weights.finish()
    }

    /// Builds the model from a checkpoint's state dict (flat, or Lightning-style under `state_dict`).
    public convenience init(stateDict: StateDict) throws {
        try self.init(weights: Weights(stateDict: MAGEVQGAN.unwrap(stateDict)))
    }

    /// `init_from_ckpt`: `if "state_dict" in sd.keys(): sd = sd["state_dict"]`.
    public static func unwrap(_ sd: StateDict) -> StateDict {
        sd.keys.contains(where: { $0.hasPrefix("state_dict.") }) ? sd.selecting(prefix: "state_dict.") : sd
    }

    public var id: String { Self.id }
    public var codebookSize: Int { config.nEmbed }
    public var downsampleFactor: Int { config.downsampling }
    public var inputResolution: Int { config.resolution }
    public var inputRange: PixelRange { .zeroToOne }

    /// `VQModel.encode`: x (B, 3, H, W) in [0, 1] → `latent = encoder(x)` (B, 256, h, w), the
    /// `VectorQuantizer2` argmin tokens, and `quantized` = their codebook rows (what DiGIT decodes;
    /// ≤ 2.4e-7 from forward's straight-through `z + (z_q − z)`).
    public func encode(_ x: Tensor) throws -> TokenizerEncoding {
        try checkImageInput(x, id: id, channels: config.inChannels, multipleOf: downsampleFactor)
        let latent = encoder(x)                              // (B, 256, h, w)
        let tokens = TokenGrid(batch: latent.dim(0), height: latent.dim(2), width: latent.dim(3),
                               indices: codebook.nearest(VQCodebook.channelsLast(latent)))
        return TokenizerEncoding(tokens: tokens, latent: latent, quantized: try codebook.lookup(tokens))
    }

    /// DiGIT's stage-2 decode: `decode(quantize.get_codebook_entry(indices, (B, h, w, 256)))`:
    /// tokens → (B, 3, H, W), nominally [0, 1], unclipped.
    public func decode(_ tokens: TokenGrid) throws -> Tensor {
        decoder(try codebook.lookup(tokens))
    }

    /// `decoder(z_q)` for z_q (B, 256, h, w).
    public func decode(_ quant: Tensor) -> Tensor { decoder(quant) }

    /// `ToTensor()`: `u8 / 255` in float32, NCHW.
    public func modelInput(_ images: ImageBatch) -> Tensor {
        imageTensor(images) { Float($0) / 255 }
    }

    /// DiGIT's conversion: `np.clip(x * 255, 0, 255).astype(np.uint8)` (truncation, not rounding).
    public func outputImages(_ x: Tensor) -> ImageBatch {
        imageBatch(x) { v in
            let y = min(max(v * 255, 0), 255)
            return y.isNaN ? 0 : UInt8(y)
        }
    }

    // MARK: - Blocks

    struct Encoder: Sendable {
        let convIn: Conv2d
        /// `down[i].block`; avg_pool2d(2) follows every level but the last.
        let levels: [[TamingResnetBlock]]
        let mid: (TamingResnetBlock, TamingResnetBlock)
        let normOut: GroupNorm
        let convOut: Conv2d

        init(_ s: WeightScope, _ cfg: MAGEVQGANConfig) throws {
            let ch = cfg.ch, mult = cfg.chMult
            convIn = try Conv2d(s.scope("conv_in"), inChannels: cfg.inChannels, outChannels: ch, kernel: 3,
                                padding: 1, bias: false)
            let inMult = [1] + mult
            var blockIn = ch
            levels = try mult.indices.map { i in
                blockIn = ch * inMult[i]
                let blockOut = ch * mult[i]
                return try (0..<cfg.numResBlocks).map { j in
                    defer { blockIn = blockOut }
                    return try TamingResnetBlock(.mage, s.scope("down").scope(i).scope("block").scope(j), blockIn, blockOut)
                }
            }
            mid = (try TamingResnetBlock(.mage, s.scope("mid.block_1"), blockIn, blockIn),
                   try TamingResnetBlock(.mage, s.scope("mid.block_2"), blockIn, blockIn))
            normOut = try GroupNorm(s.scope("norm_out"), groups: 32, channels: blockIn, eps: 1e-6)
            convOut = try Conv2d(s.scope("conv_out"), inChannels: blockIn, outChannels: cfg.zChannels, kernel: 1)
        }

        func callAsFunction(_ x: Tensor) -> Tensor {
            var h = convIn(x)                                 // (B, 128, H, W)
            for (i, blocks) in levels.enumerated() {
                for block in blocks { h = block(h) }
                if i != levels.count - 1 { h = avgPool2d(h, kernel: (2, 2)) }
            }                                                 // (B, 512, H/16, W/16)
            h = mid.1(mid.0(h))
            return convOut(normSwish(normOut, h))             // (B, 256, H/16, W/16)
        }
    }

    struct Decoder: Sendable {
        let convIn: Conv2d
        let mid: (TamingResnetBlock, TamingResnetBlock)
        /// `up[i]` in level order (finest first); the forward pass runs them coarsest first.
        let levels: [(blocks: [TamingResnetBlock], upsample: Conv2d?)]
        let normOut: GroupNorm
        let convOut: Conv2d

        init(_ s: WeightScope, _ cfg: MAGEVQGANConfig) throws {
            let ch = cfg.ch, mult = cfg.chMult, n = mult.count
            var blockIn = ch * mult[n - 1]
            convIn = try Conv2d(s.scope("conv_in"), inChannels: cfg.zChannels, outChannels: blockIn, kernel: 3,
                                padding: 1)
            mid = (try TamingResnetBlock(.mage, s.scope("mid.block_1"), blockIn, blockIn),
                   try TamingResnetBlock(.mage, s.scope("mid.block_2"), blockIn, blockIn))
            // up[i] takes the output of up[i + 1] (of mid for the coarsest level); requested in index order.
            levels = try (0..<n).map { i in
                let blockOut = ch * mult[i]
                let cin = ch * mult[min(i + 1, n - 1)]
                let ls = s.scope("up").scope(i)
                let blocks = try (0..<cfg.numResBlocks).map { j in
                    try TamingResnetBlock(.mage, ls.scope("block").scope(j), j == 0 ? cin : blockOut, blockOut)
                }
                let upsample = i != 0
                    ? try Conv2d(ls.scope("upsample.conv"), inChannels: blockOut, outChannels: blockOut, kernel: 3,
                                 padding: 1).using(vqConvAlgorithm) : nil
                return (blocks, upsample)
            }
            blockIn = ch * mult[0]
            normOut = try GroupNorm(s.scope("norm_out"), groups: 32, channels: blockIn, eps: 1e-6)
            convOut = try Conv2d(s.scope("conv_out"), inChannels: blockIn, outChannels: cfg.outCh, kernel: 3,
                                 padding: 1)
        }

        func callAsFunction(_ z: Tensor) -> Tensor {
            var h = convIn(z)                                 // (B, 512, h, w)
            h = mid.1(mid.0(h))
            for level in levels.reversed() {
                for block in level.blocks { h = block(h) }
                if let up = level.upsample { h = up(interpolateNearest(h, size: (2 * h.dim(2), 2 * h.dim(3)))) }
            }                                                 // (B, 128, H, W)
            return convOut(normSwish(normOut, h))             // (B, 3, H, W)
        }
    }
}
