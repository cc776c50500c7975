// Port of TencentARC/SEED-Voken (formerly TencentARC/Open-MAGVIT2)
//   v1 @ ec8fba5a400d6a7ff1432d419aed3c65a504946c (2024-06-17, imagenet_{128,256}_B)
//   v2 @ 6515009bf786db5af56c54ae565736d4be5b6618 (2024-09-09, imagenet_{128,256}_L)
// files: taming/models/lfqgan.py (VQModel), taming/modules/diffusionmodules/improved_model.py
// (Encoder, Decoder, ResBlock, Upsampler, depth_to_space, AdaptiveGroupNorm),
// taming/modules/vqvae/lookup_free_quantize.py (LFQ), taming/modules/ema.py (LitEma key names).
//
// v1 and v2 are one parametrised architecture. The differences, all keyed on `generation`:
//   1. v2's decoder applies an AdaptiveGroupNorm (`decoder.adaptive.<level>`) before the
//      res blocks of every up level; v1 has none.
//   2. Token index bit order: v1 MSB-first (channel d ↔ 2^(17-d)), v2 LSB-first (d ↔ 2^d).
// Block counts (2 vs 4) and ch_mult (8x vs 16x) are ordinary configuration fields.

import DigitCheckpoint
import DigitImage
import DigitTensor
import Foundation

// MARK: - Configuration

/// Which upstream code generation a checkpoint belongs to (not interchangeable).
public enum LFQGeneration: String, Codable, Sendable {
    /// `ec8fba5` (June 2024): no adaptive GroupNorm, MSB-first token index.
    case v1
    /// `6515009` (September 2024): adaptive GroupNorm in the decoder, LSB-first token index.
    case v2

    /// The token bit order `LFQ` uses at this commit (its `mask` buffer).
    public var bitOrder: LFQBitOrder { self == .v1 ? .msbFirst : .lsbFirst }
    /// Whether `Decoder` has `adaptive.*` (AdaptiveGroupNorm) modules.
    public var usesAdaptiveGroupNorm: Bool { self == .v2 }
}

/// How LFQ turns the sign bits of a code into an index.
public enum LFQBitOrder: String, Codable, Sendable {
    /// `index = Σ_d bit_d · 2^(D-1-d)` (v1: `mask = 2**arange(D-1, -1, -1)`).
    case msbFirst
    /// `index = Σ_d bit_d · 2^d` (v2: `mask = 2**arange(D)`).
    case lsbFirst
}

/// `VQModel(**init_args)` of an Open-MAGVIT2 config, with upstream's field names.
public struct LFQConfiguration: Codable, Sendable, Equatable {
    /// `ddconfig`: shared by `Encoder` and `Decoder`.
    public struct DDConfig: Codable, Sendable, Equatable {
        public var doubleZ: Bool
        public var zChannels: Int
        /// Unused by the forward pass (upstream stores it); all configs say 128.
        public var resolution: Int
        public var inChannels: Int
        public var outCh: Int
        public var ch: Int
        public var chMult: [Int]
        public var numResBlocks: Int

        enum CodingKeys: String, CodingKey {
            case doubleZ = "double_z", zChannels = "z_channels", resolution, inChannels = "in_channels"
            case outCh = "out_ch", ch, chMult = "ch_mult", numResBlocks = "num_res_blocks"
        }

        public init(doubleZ: Bool = false, zChannels: Int = 18, resolution: Int = 128, inChannels: Int = 3,
                    outCh: Int = 3, ch: Int = 128, chMult: [Int], numResBlocks: Int) {
            self.doubleZ = doubleZ
            self.zChannels = zChannels
            self.resolution = resolution
            self.inChannels = inChannels
            self.outCh = outCh
            self.ch = ch
            self.chMult = chMult
            self.numResBlocks = numResBlocks
        }
    }

    public var ddconfig: DDConfig
    /// Codebook size, `2^embedDim`.
    public var nEmbed: Int
    /// Bits per token (= `z_channels`).
    public var embedDim: Int
    /// Whether the checkpoint carries `model_ema.*` copies (all released tokenizers do).
    public var useEMA: Bool
    /// Ours, not upstream's: which code generation (see ``LFQGeneration``).
    public var generation: LFQGeneration
    /// The image side the released model is evaluated at (ours; the yaml's data section).
    public var imageSize: Int

    enum CodingKeys: String, CodingKey {
        case ddconfig, nEmbed = "n_embed", embedDim = "embed_dim", useEMA = "use_ema", generation
        case imageSize = "image_size"
    }

    public init(ddconfig: DDConfig, nEmbed: Int = 1 << 18, embedDim: Int = 18, useEMA: Bool = true,
                generation: LFQGeneration, imageSize: Int) {
        self.ddconfig = ddconfig
        self.nEmbed = nEmbed
        self.embedDim = embedDim
        self.useEMA = useEMA
        self.generation = generation
        self.imageSize = imageSize
    }

    /// `2^(len(ch_mult) - 1)`.
    public var downsampleFactor: Int { 1 << (ddconfig.chMult.count - 1) }

    /// Throws for configurations the port does not support (upstream would fail or differ too).
    public func validate() throws {
        let d = ddconfig
        guard !d.chMult.isEmpty, d.numResBlocks >= 1, d.ch > 0 else {
            throw ModelLoadError.invalidConfiguration("LFQ: ch_mult must be non-empty and num_res_blocks >= 1")
        }
        guard d.chMult.allSatisfy({ (d.ch * $0) % 32 == 0 }) else {
            throw ModelLoadError.invalidConfiguration("LFQ: every ch*ch_mult must be divisible by GroupNorm's 32 groups")
        }
        guard embedDim == d.zChannels, nEmbed == 1 << embedDim else {
            throw ModelLoadError.invalidConfiguration(
                "LFQ: need embed_dim == z_channels and n_embed == 2^embed_dim (got \(embedDim), \(d.zChannels), \(nEmbed))")
        }
        guard !d.doubleZ else { throw ModelLoadError.invalidConfiguration("LFQ: double_z is not used by Open-MAGVIT2") }
    }
}

// MARK: - Registry

/// The released Open-MAGVIT2 tokenizers. Raw values are the public ids.
public enum LFQTokenizerID: String, CaseIterable, Codable, Sendable {
    case lfq128 = "lfq-128"
    case lfq256 = "lfq-256"
    case lfq128L = "lfq-128-l"
    case lfq256L = "lfq-256-l"

    public var configuration: LFQConfiguration {
        switch self {
        case .lfq128:
            return LFQConfiguration(ddconfig: .init(chMult: [1, 2, 2, 4], numResBlocks: 2), generation: .v1, imageSize: 128)
        case .lfq256:
            return LFQConfiguration(ddconfig: .init(chMult: [1, 1, 2, 2, 4], numResBlocks: 2), generation: .v1, imageSize: 256)
        case .lfq128L:
            return LFQConfiguration(ddconfig: .init(chMult: [1, 2, 2, 4], numResBlocks: 4), generation: .v2, imageSize: 128)
        case .lfq256L:
            return LFQConfiguration(ddconfig: .init(chMult: [1, 1, 2, 2, 4], numResBlocks: 4), generation: .v2, imageSize: 256)
        }
    }
}

// MARK: - Parameter source (raw keys or their LitEma copies)

/// Requests each parameter either under its upstream key (`encoder.conv_in.weight`) or under its
/// `LitEma` copy (`model_ema.encoderconv_inweight`), and acknowledges the other, so strict loading
/// accepts a full Lightning `state_dict` and the requested list equals upstream's manifest.
struct LFQParameters {
    let weights: Weights
    let prefix: String
    let useEMA: Bool

    func scope(_ name: String) -> LFQParameters {
        LFQParameters(weights: weights, prefix: prefix.isEmpty ? name : "\(prefix).\(name)", useEMA: useEMA)
    }
    func scope(_ index: Int) -> LFQParameters { scope(String(index)) }

    func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        let key = prefix.isEmpty ? name : "\(prefix).\(name)"
        let ema = LFQTokenizer.emaKey(for: key)
        if useEMA {
            weights.acknowledge(key, shape: shape)
            return try weights.tensor(ema, shape: shape)
        } else {
            weights.acknowledge(ema, shape: shape)
            return try weights.tensor(key, shape: shape)
        }
    }
}

// MARK: - Layers

/// `nn.Conv2d` with square kernel, `padding = kernel / 2`.
struct LFQConv2d {
    let conv: Conv2d
    var weight: Tensor { conv.weight }  // (out, in, k, k)

    /// Convs with at least 32 input channels take the VQ tokenizers' algorithm (``vqConvAlgorithm``:
    /// Winograd F(4×4, 3×3) for 3×3 stride-1 convs with at least 32×32 outputs, else im2col).
    init(_ p: LFQParameters, _ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, bias: Bool) throws {
        let layer = Conv2d(weight: try p.tensor("weight", shape: [outChannels, inChannels, kernel, kernel]),
                           bias: bias ? try p.tensor("bias", shape: [outChannels]) : nil, stride: stride, padding: kernel / 2)
        conv = inChannels >= 32 ? layer.using(vqConvAlgorithm) : layer
    }

    func callAsFunction(_ x: Tensor) -> Tensor { conv(x) }
}

/// `nn.GroupNorm(32, C, eps=1e-6)`, affine unless built without parameters (AdaGN's `gn`).
struct LFQGroupNorm {
    let weight: Tensor?
    let bias: Tensor?
    static let groups = 32
    static let eps: Float = 1e-6

    init(_ p: LFQParameters, _ channels: Int) throws {
        weight = try p.tensor("weight", shape: [channels])
        bias = try p.tensor("bias", shape: [channels])
    }

    /// `affine=False`.
    init() {
        weight = nil
        bias = nil
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        groupNorm(x, groups: Self.groups, weight: weight, bias: bias, eps: Self.eps)
    }
}

/// `nn.Linear`.
struct LFQLinear {
    let weight: Tensor  // (out, in)
    let bias: Tensor  // (out)

    init(_ p: LFQParameters, _ inFeatures: Int, _ outFeatures: Int) throws {
        weight = try p.tensor("weight", shape: [outFeatures, inFeatures])
        bias = try p.tensor("bias", shape: [outFeatures])
    }

    func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight: weight, bias: bias) }
}

/// Upstream's `swish(x) = x * sigmoid(x)` (= `silu`), in place: the activations it follows are
/// fresh GroupNorm outputs, so no second buffer is needed.
@inline(__always)
func swish(_ x: inout Tensor) {
    siluInPlace(&x)
}

/// `ResBlock`: GN → swish → conv3x3 → GN → swish → conv3x3, plus the (1x1) shortcut when the
/// width changes. All convs bias-free. (v2's `use_agn` flag is never set by the released models.)
struct LFQResBlock {
    let norm1: LFQGroupNorm
    let conv1: LFQConv2d
    let norm2: LFQGroupNorm
    let conv2: LFQConv2d
    let ninShortcut: LFQConv2d?

    init(_ p: LFQParameters, _ inFilters: Int, _ outFilters: Int) throws {
        norm1 = try LFQGroupNorm(p.scope("norm1"), inFilters)
        norm2 = try LFQGroupNorm(p.scope("norm2"), outFilters)
        conv1 = try LFQConv2d(p.scope("conv1"), inFilters, outFilters, kernel: 3, bias: false)
        conv2 = try LFQConv2d(p.scope("conv2"), outFilters, outFilters, kernel: 3, bias: false)
        ninShortcut = inFilters != outFilters
            ? try LFQConv2d(p.scope("nin_shortcut"), inFilters, outFilters, kernel: 1, bias: false) : nil
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = norm1(x)  // (B, Cin, H, W)
        swish(&h)
        h = conv1(h)  // (B, Cout, H, W)
        h = norm2(h)
        swish(&h)
        h = conv2(h)
        h += ninShortcut.map { $0(x) } ?? x  // residual
        return h
    }
}

/// v2's `AdaptiveGroupNorm(z_channels, C)`: `GroupNorm(32, C, affine=False)(x)` scaled by
/// `gamma(sqrt(var(q) + eps))` and shifted by `beta(mean(q))`, where mean and the **unbiased**
/// variance are taken over H·W of each channel of the decoder input `q` (the ±1 code).
struct LFQAdaptiveGroupNorm {
    let gn = LFQGroupNorm()
    let gamma: LFQLinear
    let beta: LFQLinear
    static let eps: Float = 1e-6

    init(_ p: LFQParameters, zChannels: Int, channels: Int) throws {
        gamma = try LFQLinear(p.scope("gamma"), zChannels, channels)
        beta = try LFQLinear(p.scope("beta"), zChannels, channels)
    }

    func callAsFunction(_ x: Tensor, style: Tensor) -> Tensor {
        let (b, c, h, w) = (x.dim(0), x.dim(1), x.dim(2), x.dim(3))
        let (z, n) = (style.dim(1), style.dim(2) * style.dim(3))
        // Per-(batch, channel) statistics of the code over h·w: (B, z)
        var std = [Float](repeating: 0, count: b * z)
        var mean = [Float](repeating: 0, count: b * z)
        style.withUnsafeBufferPointer { s in
            for i in 0..<(b * z) {
                let row = s.baseAddress! + i * n
                var sum = 0.0
                for j in 0..<n { sum += Double(row[j]) }
                let m = sum / Double(n)
                var ss = 0.0
                for j in 0..<n { let d = Double(row[j]) - m; ss += d * d }
                let variance = ss / Double(n - 1)  // torch.var default: unbiased
                mean[i] = Float(m)
                std[i] = (Float(variance) + Self.eps).squareRoot()  // var + eps, then sqrt, in float32
            }
        }
        let scale = gamma(Tensor(shape: [b, z], scalars: std))  // (B, C)
        let shift = beta(Tensor(shape: [b, z], scalars: mean))  // (B, C)
        var out = gn(x)  // (B, C, H, W)
        out.withUnsafeMutableBufferPointer { o in
            let base = o.baseAddress!
            parallelFor(b * c) { bc in
                let (sc, sh) = (scale.scalars[bc], shift.scalars[bc])
                let plane = base + bc * h * w
                for i in 0..<(h * w) { plane[i] = sc * plane[i] + sh }
            }
        }
        return out
    }
}

/// `Upsampler`: conv3x3 C → 4C (bias), then DCR depth-to-space with block 2:
/// `out[c, 2h+i, 2w+j] = in[(2i+j)·C + c, h, w]` (not `pixel_shuffle`, which is CRD).
struct LFQUpsampler {
    let conv1: LFQConv2d

    init(_ p: LFQParameters, _ channels: Int) throws {
        conv1 = try LFQConv2d(p.scope("conv1"), channels, channels * 4, kernel: 3, bias: true)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        depthToSpace(conv1(x), block: 2)  // (B, 4C, H, W) -> (B, C, 2H, 2W)
    }
}

// MARK: - Encoder / Decoder

/// `improved_model.Encoder`.
struct LFQEncoder {
    let convIn: LFQConv2d
    let down: [(blocks: [LFQResBlock], downsample: LFQConv2d?)]
    let midBlock: [LFQResBlock]
    let normOut: LFQGroupNorm
    let convOut: LFQConv2d

    init(_ p: LFQParameters, _ d: LFQConfiguration.DDConfig) throws {
        convIn = try LFQConv2d(p.scope("conv_in"), d.inChannels, d.ch, kernel: 3, bias: false)
        let inChMult = [1] + d.chMult
        var levels: [(blocks: [LFQResBlock], downsample: LFQConv2d?)] = []
        var blockIn = d.ch
        var blockOut = d.ch
        for level in 0..<d.chMult.count {
            let lp = p.scope("down").scope(level)
            blockIn = d.ch * inChMult[level]
            blockOut = d.ch * d.chMult[level]
            var blocks: [LFQResBlock] = []
            for i in 0..<d.numResBlocks {
                blocks.append(try LFQResBlock(lp.scope("block").scope(i), blockIn, blockOut))
                blockIn = blockOut
            }
            let downsample = level < d.chMult.count - 1
                ? try LFQConv2d(lp.scope("downsample"), blockOut, blockOut, kernel: 3, stride: 2, bias: true) : nil
            levels.append((blocks, downsample))
        }
        down = levels
        midBlock = try (0..<d.numResBlocks).map { try LFQResBlock(p.scope("mid_block").scope($0), blockIn, blockIn) }
        normOut = try LFQGroupNorm(p.scope("norm_out"), blockOut)
        convOut = try LFQConv2d(p.scope("conv_out"), blockOut, d.zChannels, kernel: 1, bias: true)
    }

    func callAsFunction(_ image: Tensor) -> Tensor {
        var x = convIn(image)  // (B, ch, H, W)
        for level in down {
            for block in level.blocks { x = block(x) }
            if let ds = level.downsample { x = ds(x) }  // (B, C, H/2, W/2)
        }
        for block in midBlock { x = block(x) }  // (B, ch·ch_mult[-1], h, w)
        x = normOut(x)
        swish(&x)
        return convOut(x)  // (B, z_channels, h, w)
    }
}

/// `improved_model.Decoder` (v2: with `adaptive.*`).
struct LFQDecoder {
    let convIn: LFQConv2d
    let midBlock: [LFQResBlock]
    /// Indexed by level (`up.<level>`); run from the last level to 0.
    let up: [(blocks: [LFQResBlock], upsample: LFQUpsampler?)]
    /// v2 only: `adaptive.<level>`, applied before that level's res blocks.
    let adaptive: [LFQAdaptiveGroupNorm]?
    let normOut: LFQGroupNorm
    let convOut: LFQConv2d

    init(_ p: LFQParameters, _ d: LFQConfiguration.DDConfig, adaptiveGroupNorm: Bool) throws {
        let levels = d.chMult.count
        var blockIn = d.ch * d.chMult[levels - 1]
        convIn = try LFQConv2d(p.scope("conv_in"), d.zChannels, blockIn, kernel: 3, bias: true)
        midBlock = try (0..<d.numResBlocks).map { try LFQResBlock(p.scope("mid_block").scope($0), blockIn, blockIn) }
        // Upstream builds levels from the last to the first (`up.insert(0, …)`); state-dict order
        // is still up.0, up.1, … because ModuleList registers by final position. Build in
        // upstream's order so errors name keys in the order upstream would create them.
        var upLevels = [(blocks: [LFQResBlock], upsample: LFQUpsampler?)?](repeating: nil, count: levels)
        var adaptiveInputs = [Int](repeating: 0, count: levels)
        var blockSpecs: [(level: Int, inOut: [(Int, Int)])] = []
        for level in stride(from: levels - 1, through: 0, by: -1) {
            adaptiveInputs[level] = blockIn
            let blockOut = d.ch * d.chMult[level]
            var io: [(Int, Int)] = []
            for _ in 0..<d.numResBlocks {
                io.append((blockIn, blockOut))
                blockIn = blockOut
            }
            blockSpecs.append((level, io))
        }
        // Parameters are requested in state-dict order: mid_block, up.0 …, adaptive.0 …, norm_out, conv_out.
        for (level, io) in blockSpecs.sorted(by: { $0.level < $1.level }) {
            let lp = p.scope("up").scope(level)
            let blocks = try io.enumerated().map { try LFQResBlock(lp.scope("block").scope($0.offset), $0.element.0, $0.element.1) }
            let upsample = level > 0 ? try LFQUpsampler(lp.scope("upsample"), io.last!.1) : nil
            upLevels[level] = (blocks, upsample)
        }
        up = upLevels.map { $0! }
        adaptive = adaptiveGroupNorm
            ? try (0..<levels).map {
                try LFQAdaptiveGroupNorm(p.scope("adaptive").scope($0), zChannels: d.zChannels, channels: adaptiveInputs[$0])
            } : nil
        normOut = try LFQGroupNorm(p.scope("norm_out"), blockIn)
        convOut = try LFQConv2d(p.scope("conv_out"), blockIn, d.outCh, kernel: 3, bias: true)
    }

    func callAsFunction(_ quant: Tensor) -> Tensor {
        let style = quant  // (B, z, h, w): AdaGN statistics come from the decoder input
        var z = convIn(quant)  // (B, ch·ch_mult[-1], h, w)
        for block in midBlock { z = block(z) }
        for level in stride(from: up.count - 1, through: 0, by: -1) {
            if let adaptive { z = adaptive[level](z, style: style) }
            for block in up[level].blocks { z = block(z) }
            if let us = up[level].upsample { z = us(z) }  // (B, C, 2H, 2W)
        }
        z = normOut(z)
        swish(&z)
        return convOut(z)  // (B, out_ch, H, W)
    }
}

// MARK: - Lookup-free quantizer

/// `LFQ` at inference: each latent channel is quantized to its sign, `x > 0 → +1`, else `-1`
/// (so exactly 0 maps to -1), and the token index packs the sign bits in the generation's order.
public struct LookupFreeQuantizer: Sendable {
    /// Bits per token (`codebook_dim`, 18).
    public let codebookDim: Int
    public let bitOrder: LFQBitOrder

    public init(codebookDim: Int, bitOrder: LFQBitOrder) {
        self.codebookDim = codebookDim
        self.bitOrder = bitOrder
    }

    public var codebookSize: Int { 1 << codebookDim }

    /// The index weight of channel `d`.
    @inlinable public func weight(ofChannel d: Int) -> Int {
        bitOrder == .msbFirst ? 1 << (codebookDim - 1 - d) : 1 << d
    }

    /// Quantizes `(B, D, h, w)` latents. Returns the straight-through value upstream hands the
    /// decoder, `x + (q - x)` in float32 (equal to ±1 up to rounding), and the token grid.
    public func callAsFunction(_ latent: Tensor) -> (quantized: Tensor, tokens: TokenGrid) {
        precondition(latent.rank == 4 && latent.dim(1) == codebookDim, "LFQ: latent \(latent.shape), D = \(codebookDim)")
        let (b, h, w) = (latent.dim(0), latent.dim(2), latent.dim(3))
        let n = h * w
        var indices = [Int](repeating: 0, count: b * n)
        var quantized = latent
        quantized.withUnsafeMutableBufferPointer { q in
            for bi in 0..<b {
                for d in 0..<codebookDim {
                    let plane = q.baseAddress! + (bi * codebookDim + d) * n
                    let bit = weight(ofChannel: d)
                    for t in 0..<n {
                        let x = plane[t]
                        let code: Float = x > 0 ? 1 : -1
                        if x > 0 { indices[bi * n + t] += bit }
                        plane[t] = x + (code - x)
                    }
                }
            }
        }
        return (quantized, TokenGrid(batch: b, height: h, width: w, indices: indices))
    }

    /// `get_codebook_entry`: token indices → ±1 codes, `(B, D, h, w)`.
    public func codes(for tokens: TokenGrid) throws -> Tensor {
        let n = tokens.height * tokens.width
        for (i, t) in tokens.indices.enumerated() where t < 0 || t >= codebookSize {
            throw TokenizerError.tokenOutOfRange(position: i, value: t, codebookSize: codebookSize)
        }
        return Tensor(shape: [tokens.batch, codebookDim, tokens.height, tokens.width]) { out in
            for bi in 0..<tokens.batch {
                for d in 0..<codebookDim {
                    let bit = weight(ofChannel: d)
                    let plane = out.baseAddress! + (bi * codebookDim + d) * n
                    for t in 0..<n { plane[t] = tokens.indices[bi * n + t] & bit != 0 ? 1 : -1 }
                }
            }
        }
    }
}

// MARK: - Tokenizer

/// An Open-MAGVIT2 LFQ tokenizer (`VQModel` at inference, EMA weights by default).
public final class LFQTokenizer: ImageTokenizer {
    public let id: String
    public let configuration: LFQConfiguration
    public let quantizer: LookupFreeQuantizer
    public let usesSeededWeights: Bool
    /// Whether the `model_ema.*` copies were loaded (upstream evaluation's `ema_scope()`).
    public let loadedEMA: Bool
    let encoder: LFQEncoder
    let decoder: LFQDecoder

    /// `model_ema.` + the key with every `.` removed (`LitEma`'s buffer names).
    public static func emaKey(for key: String) -> String {
        "model_ema." + key.replacingOccurrences(of: ".", with: "")
    }

    /// Builds the model from `weights`.
    ///
    /// - Parameters:
    ///   - useEMA: read `model_ema.*` (as published evaluations do); `false` reads the raw
    ///     `encoder.*`/`decoder.*` weights. Both sets are accepted as present in the file.
    ///     Ignored (raw) when the configuration has `use_ema: false`.
    /// Strict: every parameter must exist with its shape; `loss.*` and `model_ema.loss*` entries
    /// (present only in training checkpoints) are ignored; any other extra key is an error.
    ///   - keyPrefix: where the tokenizer sits inside a larger checkpoint (`first_stage_model` in
    ///     Open-MAGVIT2's AR checkpoints); the caller then checks the whole file with
    ///     `weights.finish()` itself (`finish: false`).
    public init(
        id: String, configuration: LFQConfiguration, weights: Weights, useEMA: Bool = true, keyPrefix: String = "",
        finish: Bool = true
    ) throws {
        try configuration.validate()
        self.id = id
        self.configuration = configuration
        let ema = useEMA && configuration.useEMA
        if ema, case let .stateDict(sd) = weights.origin, !sd.keys.contains(where: { $0.hasPrefix("model_ema.encoder") }) {
            throw ModelLoadError.missingKey(
                key: Self.emaKey(for: "encoder.conv_in.weight"), expectedShape: [configuration.ddconfig.ch, configuration.ddconfig.inChannels, 3, 3],
                source: weights.sourceName + " (no model_ema.* EMA weights in this file; load the raw weights with --no-ema)")
        }
        let p = LFQParameters(weights: weights, prefix: keyPrefix, useEMA: ema)
        encoder = try LFQEncoder(p.scope("encoder"), configuration.ddconfig)
        decoder = try LFQDecoder(p.scope("decoder"), configuration.ddconfig,
                                 adaptiveGroupNorm: configuration.generation.usesAdaptiveGroupNorm)
        if configuration.useEMA {
            weights.acknowledge("model_ema.decay")
            weights.acknowledge("model_ema.num_updates")
        }
        if case let .stateDict(sd) = weights.origin {
            for key in sd.keys where key.hasPrefix("loss.") || key.hasPrefix("model_ema.loss") { weights.acknowledge(key) }
        }
        if finish { try weights.finish() }
        quantizer = LookupFreeQuantizer(codebookDim: configuration.embedDim, bitOrder: configuration.generation.bitOrder)
        usesSeededWeights = weights.isSeeded
        loadedEMA = ema
    }

    /// A released tokenizer by id.
    public convenience init(_ id: LFQTokenizerID, weights: Weights, useEMA: Bool = true) throws {
        try self.init(id: id.rawValue, configuration: id.configuration, weights: weights, useEMA: useEMA)
    }

    /// Loads a released tokenizer from a Lightning checkpoint's `state_dict`.
    public convenience init(_ id: LFQTokenizerID, stateDict: StateDict, useEMA: Bool = true) throws {
        try self.init(id, weights: Weights(stateDict: stateDict), useEMA: useEMA)
    }

    public var inputResolution: Int { configuration.imageSize }
    public var inputRange: PixelRange { .minusOneToOne }
    public var codebookSize: Int { configuration.nEmbed }
    public var downsampleFactor: Int { configuration.downsampleFactor }

    /// `ImagePaths.preprocess_image`: `float32(u8 / 127.5 - 1.0)` with the arithmetic in float64
    /// (numpy promotes), HWC → CHW.
    public func modelInput(_ images: ImageBatch) -> Tensor {
        let (b, h, w) = (images.count, images.height, images.width)
        return Tensor(shape: [b, 3, h, w]) { out in
            for bi in 0..<b {
                for i in 0..<(h * w) {
                    for c in 0..<3 {
                        let v = Double(images.pixels[(bi * h * w + i) * 3 + c]) / 127.5 - 1.0
                        out[(bi * 3 + c) * h * w + i] = Float(v)
                    }
                }
            }
        }
    }

    /// The encoder output (the latent LFQ receives), `(B, 18, H/f, W/f)`.
    public func encodeLatent(_ images: Tensor) throws -> Tensor {
        let d = configuration.ddconfig
        guard images.rank == 4, images.dim(1) == d.inChannels,
              images.dim(2) % downsampleFactor == 0, images.dim(3) % downsampleFactor == 0, images.dim(2) > 0
        else {
            throw TokenizerError.badInput(
                "\(id): expected images (B, \(d.inChannels), H, W) with H, W multiples of \(downsampleFactor); got \(images.shape)")
        }
        return encoder(images)
    }

    /// `VQModel.encode`: encoder, then LFQ.
    public func encode(_ images: Tensor) throws -> TokenizerEncoding {
        let latent = try encodeLatent(images)  // (B, 18, h, w)
        let (quantized, tokens) = quantizer(latent)
        return TokenizerEncoding(tokens: tokens, latent: latent, quantized: quantized)
    }

    /// `VQModel.decode`: the decoder on code vectors `(B, 18, h, w)`; unclamped output.
    public func decode(quantized: Tensor) throws -> Tensor {
        guard quantized.rank == 4, quantized.dim(1) == configuration.embedDim else {
            throw TokenizerError.badInput("\(id): expected codes (B, \(configuration.embedDim), h, w); got \(quantized.shape)")
        }
        return decoder(quantized)
    }

    /// Tokens → `get_codebook_entry` → decoder.
    public func decode(_ tokens: TokenGrid) throws -> Tensor {
        try decode(quantized: quantizer.codes(for: tokens))
    }
}

// MARK: - Cost model

extension LFQConv2d {
    /// Multiply-adds × 2 for an output of `side × side`.
    func flops(outputSide side: Int) -> Double { 2 * Double(weight.count) * Double(side * side) }
}

extension LFQResBlock {
    func flops(side: Int) -> Double {
        conv1.flops(outputSide: side) + conv2.flops(outputSide: side) + (ninShortcut?.flops(outputSide: side) ?? 0)
    }
}

extension LFQTokenizer {
    /// Convolution and linear FLOPs (2 per multiply-add) of one `side × side` image; norms,
    /// activations and the quantizer (O(activations)) are not counted.
    public func flops(imageSide side: Int) -> (encoder: Double, decoder: Double) {
        var s = side
        var enc = encoder.convIn.flops(outputSide: s)
        for level in encoder.down {
            for block in level.blocks { enc += block.flops(side: s) }
            if let ds = level.downsample {
                s /= 2
                enc += ds.flops(outputSide: s)
            }
        }
        for block in encoder.midBlock { enc += block.flops(side: s) }
        enc += encoder.convOut.flops(outputSide: s)

        var dec = decoder.convIn.flops(outputSide: s)
        for block in decoder.midBlock { dec += block.flops(side: s) }
        for level in decoder.up.reversed() {
            for block in level.blocks { dec += block.flops(side: s) }
            if let us = level.upsample {
                dec += us.conv1.flops(outputSide: s)
                s *= 2
            }
        }
        dec += decoder.convOut.flops(outputSide: s)
        if let adaptive = decoder.adaptive {
            dec += adaptive.reduce(0) { $0 + 2 * Double($1.gamma.weight.count + $1.beta.weight.count) }
        }
        return (enc, dec)
    }
}
