// Port of DAMO-NLP-SG/DiGIT fairseq_user/pretrained_enc/dino/vits.py @ cd6d8ca3 (DiGIT's copy of
// facebookresearch/dinov2 dinov2/models/vision_transformer.py; the hub position-embedding variant
// follows facebookresearch/dinov2 @ b8931f7b dinov2/models/vision_transformer.py + hub/backbones.py).
//
// `DinoVisionTransformer` as DiGIT builds it: `vit_base(14, 4, block_chunks=0, init_values=1)` /
// `vit_large(…)`, inference only (no masks, no drop path). Keys: cls_token, pos_embed (1, 1370, D),
// register_tokens, mask_token, patch_embed.proj.*, blocks.i.{norm1, attn.qkv, attn.proj, ls1.gamma,
// norm2, mlp.fc1, mlp.fc2, ls2.gamma}, norm.*.

import DigitImage
import DigitNN
import DigitTensor
import Foundation

/// The DINOv2 backbones digit-bench knows (`--extractor`).
public enum DINOv2Model: String, CaseIterable, Sendable, Codable {
    case vitb14reg4 = "dinov2-vitb14-reg4"
    case vitl14reg4 = "dinov2-vitl14-reg4"

    /// The architecture (DiGIT's settings: no antialias, interpolate offset 0.1).
    public var configuration: DINOv2Configuration {
        switch self {
        case .vitb14reg4: return DINOv2Configuration(embedDim: 768, depth: 12, numHeads: 12)
        case .vitl14reg4: return DINOv2Configuration(embedDim: 1024, depth: 24, numHeads: 16)
        }
    }

    /// The released checkpoint (`dinov2/hub/backbones.py`: `_DINOV2_BASE_URL/<arch>/<file>`), a flat
    /// state dict with exactly the model's keys and no prefix.
    public var checkpointFile: String {
        switch self {
        case .vitb14reg4: return "dinov2_vitb14_reg4_pretrain.pth"
        case .vitl14reg4: return "dinov2_vitl14_reg4_pretrain.pth"
        }
    }

    public var checkpointURL: String {
        let arch = self == .vitb14reg4 ? "dinov2_vitb14" : "dinov2_vitl14"
        return "https://dl.fbaipublicfiles.com/dinov2/\(arch)/\(checkpointFile)"
    }
}

/// How the 37×37 pretraining grid of `pos_embed` is resampled to the input's patch grid.
public enum PositionEmbeddingInterpolation: String, CaseIterable, Sendable, Codable {
    /// DiGIT's copy (and DINOv2's class defaults): `F.interpolate(scale_factor=((g + 0.1)/37, …),
    /// mode='bicubic', antialias=False)` — the source scale is `37 / (g + 0.1)`, not `37 / g`.
    case digit
    /// The torch-hub `dinov2_vit*14_reg` settings: `size=(g, g)`, `antialias=True` (Pillow-style
    /// bicubic, A = −0.5, kernel widened by the downscale factor), offset 0.
    case hub
}

/// The `DinoVisionTransformer` constructor arguments that matter at inference (upstream names).
public struct DINOv2Configuration: Codable, Sendable, Equatable {
    public var embedDim: Int
    public var depth: Int
    public var numHeads: Int
    public var mlpRatio: Int = 4
    public var patchSize: Int = 14
    public var numRegisterTokens: Int = 4
    /// Rows of `pos_embed`: 1 + 37·37 (the 518-px pretraining grid; DiGIT hard-codes 1370).
    public var posEmbedTokens: Int = 1370
    public var interpolateAntialias: Bool = false
    public var interpolateOffset: Double = 0.1
    public var layerNormEps: Float = 1e-6

    enum CodingKeys: String, CodingKey {
        case embedDim = "embed_dim", depth, numHeads = "num_heads", mlpRatio = "mlp_ratio", patchSize = "patch_size"
        case numRegisterTokens = "num_register_tokens", posEmbedTokens = "pos_embed_tokens"
        case interpolateAntialias = "interpolate_antialias", interpolateOffset = "interpolate_offset"
        case layerNormEps = "layer_norm_eps"
    }

    public init(embedDim: Int, depth: Int, numHeads: Int) {
        self.embedDim = embedDim
        self.depth = depth
        self.numHeads = numHeads
    }

    /// The same network with the position-embedding settings of `interpolation`.
    public func with(_ interpolation: PositionEmbeddingInterpolation) -> DINOv2Configuration {
        var c = self
        c.interpolateAntialias = interpolation == .hub
        c.interpolateOffset = interpolation == .hub ? 0 : 0.1
        return c
    }
}

/// One `Block` (`NestedTensorBlock` with `MemEffAttention`, run as plain attention):
/// `x + ls1(attn(norm1 x))`, then `x + ls2(mlp(norm2 x))`.
struct DINOv2Block: Sendable {
    let norm1: LayerNorm
    let qkv: Linear
    let proj: Linear
    let ls1: Tensor
    let norm2: LayerNorm
    let fc1: Linear
    let fc2: Linear
    let ls2: Tensor
    let heads: Int

    init(_ w: WeightScope, _ c: DINOv2Configuration) throws {
        let d = c.embedDim
        norm1 = try LayerNorm(w.scope("norm1"), dim: d, eps: c.layerNormEps)
        qkv = try Linear(w.scope("attn.qkv"), in: d, out: 3 * d)
        proj = try Linear(w.scope("attn.proj"), in: d, out: d)
        ls1 = try w.tensor("ls1.gamma", shape: [d])
        norm2 = try LayerNorm(w.scope("norm2"), dim: d, eps: c.layerNormEps)
        fc1 = try Linear(w.scope("mlp.fc1"), in: d, out: c.mlpRatio * d)
        fc2 = try Linear(w.scope("mlp.fc2"), in: c.mlpRatio * d, out: d)
        ls2 = try w.tensor("ls2.gamma", shape: [d])
        heads = c.numHeads
    }

    /// (B, T, D) → (B, T, D); `times` (profiling only) collects per-stage wall times.
    ///
    /// The linear layers run as whole-batch sgemms (M = B·T). Attention reads q, k, v straight from
    /// the packed qkv output and writes the merged heads (``packedSelfAttention``), LayerNorm and the
    /// exact GELU are vectorised passes (CKernels), LayerScale and the residual one fused pass.
    /// In place: no copy of the residual stream when `x` is uniquely referenced.
    func forward(_ x: inout Tensor, times: StageTimes? = nil) {
        let (b, t, d) = (x.dim(0), x.dim(1), x.dim(2))
        let hd = d / heads
        // Attention: qkv rows are [q; k; v], heads contiguous; upstream scales q by hd^-0.5 before
        // q·kᵀ (hd = 64: 1/8, a power of two, so scaling the product instead is exact).
        let n1 = timed(times, "norm1") { norm1.vectorized(x) }                          // (B, T, D)
        let packed = timed(times, "qkv") { qkv(n1) }                                     // (B, T, 3D)
        let a = timed(times, "attention") {
            Tensor(shape: [b, t, d], unsafeUninitialized: { out in
                packed.withUnsafeBufferPointer { p in
                    packedSelfAttention(qkv: p.baseAddress!, batch: b, tokens: t, heads: heads, headDim: hd,
                                        scale: 1 / Float(hd).squareRoot(), out: out.baseAddress!, times: times)
                }
            })
        }                                                                                 // (B, T, D)
        let p = timed(times, "proj") { proj(a) }
        timed(times, "ls1 + residual") { addScaled(&x, p, ls1) }
        // MLP with exact GELU.
        let n2 = timed(times, "norm2") { norm2.vectorized(x) }
        var h1 = timed(times, "fc1") { fc1(n2) }                                         // (B, T, 4D)
        timed(times, "gelu") { geluInPlace(&h1) }
        let h = timed(times, "fc2") { fc2(h1) }                                          // (B, T, D)
        timed(times, "ls2 + residual") { addScaled(&x, h, ls2) }
    }
}

extension LayerNorm {
    /// This norm with float32 vector statistics (``layerNormVectorized(_:weight:bias:eps:)``).
    /// (…, D) → (…, D)
    func vectorized(_ x: Tensor) -> Tensor { layerNormVectorized(x, weight: weight, bias: bias, eps: eps) }
}

/// `x += y ⊙ gamma` over the last dimension (LayerScale then the residual add).
private func addScaled(_ x: inout Tensor, _ y: Tensor, _ gamma: Tensor) {
    let d = gamma.count, rows = x.count / d
    precondition(x.shape == y.shape && x.dim(-1) == d, "addScaled: \(x.shape) \(y.shape) \(gamma.shape)")
    x.withUnsafeMutableBufferPointer { px in
        y.withUnsafeBufferPointer { py in
            gamma.withUnsafeBufferPointer { pg in
                let (dx, sy, g) = (px.baseAddress!, py.baseAddress!, pg.baseAddress!)
                parallelFor(rows, grain: 64) { r in
                    let o = dx + r * d, s = sy + r * d
                    for i in 0..<d { o[i] += s[i] * g[i] }
                }
            }
        }
    }
}

/// DINOv2 ViT with register tokens (`DinoVisionTransformer`), inference only.
///
/// Input images are `(B, 3, H, W)` float32, ImageNet-normalised, H and W multiples of 14.
/// Token layout: `[cls, reg1…reg4, patches row-major]`; the position embedding is added to cls and
/// the patches **before** the registers are inserted (registers get none).
public final class DINOv2: Sendable {
    public let configuration: DINOv2Configuration
    /// The registry id, when built from one.
    public let model: DINOv2Model?
    /// True when the parameters are seeded stand-ins (`spec/seeded-weights.md`).
    public let isSeeded: Bool
    /// Where the parameters came from (file or "seeded weights").
    public let weightsSource: String

    let patchProj: Conv2d
    let clsToken: Tensor        // (1, 1, D)
    let posEmbed: Tensor        // (1, 1370, D)
    let registerTokens: Tensor  // (1, R, D)
    let blocks: [DINOv2Block]
    let norm: LayerNorm

    /// Builds the network from `w` (strict: every key with its shape; `mask_token` is loaded and
    /// unused, as at upstream inference).
    public init(_ w: WeightScope, configuration c: DINOv2Configuration, model: DINOv2Model? = nil) throws {
        guard c.numHeads > 0, c.embedDim % c.numHeads == 0 else {
            throw ModelLoadError.invalidConfiguration("embed_dim \(c.embedDim) is not a multiple of num_heads \(c.numHeads)")
        }
        let m = Int(Double(c.posEmbedTokens - 1).squareRoot())
        guard m * m == c.posEmbedTokens - 1 else {
            throw ModelLoadError.invalidConfiguration("pos_embed has \(c.posEmbedTokens) rows, not 1 + a square")
        }
        let d = c.embedDim
        configuration = c
        self.model = model
        isSeeded = w.weights.isSeeded
        weightsSource = w.weights.sourceName
        clsToken = try w.tensor("cls_token", shape: [1, 1, d])
        posEmbed = try w.tensor("pos_embed", shape: [1, c.posEmbedTokens, d])
        registerTokens = try w.tensor("register_tokens", shape: [1, c.numRegisterTokens, d])
        _ = try w.tensor("mask_token", shape: [1, d])
        patchProj = try Conv2d(w.scope("patch_embed.proj"), inChannels: 3, outChannels: d, kernel: c.patchSize, stride: c.patchSize)
        blocks = try (0..<c.depth).map { try DINOv2Block(w.scope("blocks").scope($0), c) }
        norm = try LayerNorm(w.scope("norm"), dim: d, eps: c.layerNormEps)
    }

    /// A registry model on `weights` (the checkpoint's keys without prefix, or seeded), strict.
    public convenience init(_ model: DINOv2Model, weights: Weights, interpolation: PositionEmbeddingInterpolation = .digit) throws {
        try self.init(weights.root, configuration: model.configuration.with(interpolation), model: model)
        try weights.finish()
    }

    public var embedDim: Int { configuration.embedDim }
    public var depth: Int { configuration.depth }
    /// Tokens before the patches: cls + registers.
    public var prefixTokens: Int { 1 + configuration.numRegisterTokens }

    /// `patch_embed`: Conv2d(3→D, k=s=14), `flatten(2).transpose(1, 2)`.
    /// (B, 3, H, W) → (B, (H/14)·(W/14), D)
    public func patchEmbed(_ x: Tensor) -> Tensor {
        let y = patchProj(x)                                            // (B, D, gh, gw)
        let (b, d) = (y.dim(0), y.dim(1))
        return y.reshaped([b, d, -1]).transposed(1, 2)                  // (B, N, D)
    }

    /// `interpolate_pos_encoding` for a `gridHeight × gridWidth` patch grid: row 0 is the cls
    /// embedding unchanged, then the resampled patch table row-major. `interpolation` overrides the
    /// configuration's settings. → (1 + gh·gw, D)
    public func positionEmbedding(
        gridHeight gh: Int, gridWidth gw: Int, interpolation: PositionEmbeddingInterpolation? = nil
    ) -> Tensor {
        let c = interpolation.map { configuration.with($0) } ?? configuration, d = c.embedDim
        let n = c.posEmbedTokens - 1, m = Int(Double(n).squareRoot())
        let table = posEmbed.reshaped([c.posEmbedTokens, d])
        // Upstream returns pos_embed itself when the grid already has N patches and is square.
        if gh * gw == n && gh == gw { return table }
        let grid = table.slice(axis: 0, 1..<(n + 1)).reshaped([1, m, m, d]).permuted([0, 3, 1, 2])  // (1, D, M, M)
        let resized: Tensor                                                                          // (1, D, gh, gw)
        if c.interpolateAntialias {
            // torch `_upsample_bicubic2d_aa` = Pillow's separable bicubic (A = −0.5, support widened by
            // the scale, weights normalised); the hub passes `size`, so the scale is M / g.
            resized = Tensor(shape: [1, d, gh, gw], unsafeUninitialized: { out in
                grid.withUnsafeBufferPointer { src in
                    let o = out.baseAddress!
                    for ch in 0..<d {
                        let plane = Array(src[(ch * m * m)..<((ch + 1) * m * m)])
                        let r = Resample.resizeFloat(plane, width: m, height: m, toWidth: gw, toHeight: gh, filter: .bicubic)
                        (o + ch * gh * gw).initialize(from: r, count: gh * gw)
                    }
                }
            })
        } else if c.interpolateOffset != 0 {
            // scale_factor = (g + offset) / M (Python floats); output floor(M · s) = g; source scale 1/s.
            let sy = (Double(gh) + c.interpolateOffset) / Double(m), sx = (Double(gw) + c.interpolateOffset) / Double(m)
            let oh = Int((Double(m) * sy).rounded(.down)), ow = Int((Double(m) * sx).rounded(.down))
            precondition(oh == gh && ow == gw, "pos-embed interpolation gives \(oh)x\(ow) for grid \(gh)x\(gw)")
            resized = interpolateBicubic(grid, size: (gh, gw), scaleFactors: (sy, sx))
        } else {
            resized = interpolateBicubic(grid, size: (gh, gw))
        }
        let patches = resized.permuted([0, 2, 3, 1]).reshaped([gh * gw, d])                        // (gh·gw, D)
        return concat([table.slice(axis: 0, 0..<1), patches], axis: 0)                              // (1 + gh·gw, D)
    }

    /// `prepare_tokens_with_masks` (masks = None). (B, 3, H, W) → (B, 1 + R + N, D)
    public func prepareTokens(_ x: Tensor, times: StageTimes? = nil) -> Tensor {
        precondition(x.rank == 4 && x.dim(1) == 3, "DINOv2: expected (B, 3, H, W), got \(x.shape)")
        let p = configuration.patchSize
        precondition(x.dim(2) % p == 0 && x.dim(3) % p == 0, "DINOv2: image \(x.dim(2))x\(x.dim(3)) is not a multiple of \(p)")
        let (b, gh, gw, d, r) = (x.dim(0), x.dim(2) / p, x.dim(3) / p, embedDim, configuration.numRegisterTokens)
        let patches = timed(times, "patch embed") { patchEmbed(x) }                          // (B, N, D)
        let pos = timed(times, "pos-embed interp") { positionEmbedding(gridHeight: gh, gridWidth: gw) }  // (1 + N, D)
        let n = gh * gw, t = 1 + r + n
        // [cls + pos[0], reg1…regR, patch_i + pos[1 + i]]
        return timed(times, "tokens") { Tensor(shape: [b, t, d]) { out in
            let o = out.baseAddress!
            patches.withUnsafeBufferPointer { pp in
                pos.withUnsafeBufferPointer { pe in
                    clsToken.withUnsafeBufferPointer { pc in
                        registerTokens.withUnsafeBufferPointer { pr in
                            for bi in 0..<b {
                                let base = o + bi * t * d
                                for i in 0..<d { (base + i).initialize(to: pc[i] + pe[i]) }
                                (base + d).initialize(from: pr.baseAddress!, count: r * d)
                                for j in 0..<n {
                                    let dst = base + (1 + r + j) * d, src = pp.baseAddress! + (bi * n + j) * d
                                    let pj = pe.baseAddress! + (1 + j) * d
                                    for i in 0..<d { (dst + i).initialize(to: src[i] + pj[i]) }
                                }
                            }
                        }
                    }
                }
            }
        } }
    }

    /// The tokens after blocks `0…lastBlock` (not normalised). (B, 3, H, W) → (B, 1 + R + N, D)
    /// `times` (profiling only) collects per-stage wall times.
    public func hiddenStates(_ x: Tensor, throughBlock lastBlock: Int, times: StageTimes? = nil) -> Tensor {
        precondition((0..<depth).contains(lastBlock), "DINOv2: block \(lastBlock) outside 0..<\(depth)")
        var h = prepareTokens(x, times: times)
        for i in 0...lastBlock { blocks[i].forward(&h, times: times) }
        return h
    }

    /// `forward_features(x)["x_norm…"]`: `norm` of the last block's output for all tokens.
    /// (B, 3, H, W) → (B, 1 + R + N, D)
    /// `times` (profiling only) collects per-stage wall times.
    public func forwardFeatures(_ x: Tensor, times: StageTimes? = nil) -> Tensor {
        let h = hiddenStates(x, throughBlock: depth - 1, times: times)
        return timed(times, "final norm") { norm.vectorized(h) }
    }

    /// The index of the block DiGIT's `get_intermediate_layers(x, n)[0]` returns: `depth − n`
    /// (`n = 3`: block 9 of ViT-B, 21 of ViT-L). Only that block and the ones before it run —
    /// DiGIT's `_get_intermediate_layers_not_chunked` stops at the first collected block.
    public func intermediateBlockIndex(lastBlocks n: Int) -> Int { depth - n }

    /// DiGIT's feature, `get_intermediate_layers(x, n)[0]`: the **final** `norm` applied to the
    /// output of block `depth − n`, cls and registers dropped. (B, 3, H, W) → (B, N, D)
    public func intermediatePatchFeatures(_ x: Tensor, lastBlocks n: Int = 3) -> Tensor {
        patchFeatures(x, block: intermediateBlockIndex(lastBlocks: n))
    }

    /// `norm(output of block)` for the patch tokens only. (B, 3, H, W) → (B, N, D)
    public func patchFeatures(_ x: Tensor, block: Int) -> Tensor {
        let h = norm.vectorized(hiddenStates(x, throughBlock: block))              // (B, 1 + R + N, D)
        return h.slice(axis: 1, prefixTokens..<h.dim(1))                // (B, N, D)
    }

    /// Multiply-add FLOPs (2 per multiply-add) of `forwardFeatures` for one `height × width` image, per
    /// part: patch embedding, then over all blocks qkv, proj, fc1, fc2 (12 d² per token) and the two
    /// attention products q·kᵀ and a·v (T² · d each).
    public func flops(height: Int, width: Int) -> [(part: String, flops: Double)] {
        let p = configuration.patchSize, n = Double((height / p) * (width / p))
        let (d, t, depth) = (Double(embedDim), Double(prefixTokens) + n, Double(depth))
        let hidden = Double(configuration.mlpRatio) * d
        return [
            ("patch embed", 2 * 3 * Double(p * p) * d * n),
            ("qkv", depth * 2 * t * d * 3 * d), ("proj", depth * 2 * t * d * d),
            ("fc1", depth * 2 * t * d * hidden), ("fc2", depth * 2 * t * hidden * d),
            ("q·kᵀ", depth * 2 * t * t * d), ("a·v", depth * 2 * t * t * d),
        ]
    }

    /// A one-line description for run records.
    public var provenance: String {
        let id = model?.rawValue ?? "dinov2(D=\(embedDim), depth \(depth))"
        let interp = configuration.interpolateAntialias ? "hub pos-embed (antialias)" : "DiGIT pos-embed (offset \(configuration.interpolateOffset))"
        return "\(id), \(interp), weights: \(weightsSource)\(isSeeded ? " (SEEDED, not real outputs)" : "")"
    }
}

/// Turning 8-bit RGB images into DINOv2 input as torchvision does:
/// `ToTensor()` (`u8 / 255` in float32) then `Normalize(mean, std)` (`(x − mean) / std` in float32).
public enum DINOv2Input {
    public static let mean: [Float] = [0.485, 0.456, 0.406]
    public static let std: [Float] = [0.229, 0.224, 0.225]

    /// ImageNet-normalised NCHW float32. (N images H×W) → (N, 3, H, W)
    public static func normalized(_ images: ImageBatch) -> Tensor {
        let (n, h, w) = (images.count, images.height, images.width)
        let plane = h * w
        return Tensor(shape: [n, 3, h, w]) { out in
            let o = out.baseAddress!
            images.pixels.withUnsafeBufferPointer { px in
                parallelFor(n * 3) { nc in
                    let (i, c) = (nc / 3, nc % 3)
                    let src = px.baseAddress! + i * plane * 3 + c
                    let dst = o + nc * plane
                    let (m, s) = (mean[c], std[c])
                    for p in 0..<plane { (dst + p).initialize(to: (Float(src[3 * p]) / 255 - m) / s) }
                }
            }
        }
    }
}

// MARK: - Feature dumps (DiGIT preprocess/dump_features.py)

extension DINOv2 {
    /// The block a DiGIT-style layer names: `-n` is `get_intermediate_layers(x, n)[0]`'s block
    /// `depth − n` (`-3`: DiGIT's feature), `i ≥ 0` is block `i`. Nil when out of range.
    public func blockIndex(layer: Int) -> Int? {
        let b = layer < 0 ? depth + layer : layer
        return (0..<depth).contains(b) ? b : nil
    }

    /// Patch-feature rows for a batch of already-cropped images, as DiGIT's K-means dump makes them
    /// (`feat.flatten(0, 1)`): `norm(block)` of every patch, image by image, patches row-major.
    /// With `sample`, only that many distinct patches per image are kept, chosen by
    /// `MersenneTwister.permutation(N, seed: seed + imageIndex)` (first `sample`, in patch order), so the
    /// rows do not depend on batching or sharding. → rows × D, row-major
    public func patchFeatureRows(
        _ encoderInput: Tensor, block: Int, sample: Int? = nil, seed: Int64 = 0, firstImageIndex: Int = 0
    ) -> (rows: Int, values: [Float]) {
        let f = patchFeatures(encoderInput, block: block)                // (B, N, D)
        let (b, n, d) = (f.dim(0), f.dim(1), f.dim(2))
        guard let sample, sample < n else { return (b * n, f.scalars) }
        var out: [Float] = []
        out.reserveCapacity(b * sample * d)
        f.withUnsafeBufferPointer { p in
            for i in 0..<b {
                let picks = MersenneTwister.permutation(n, seed: seed &+ Int64(firstImageIndex + i)).prefix(sample).sorted()
                for j in picks { out += p[((i * n + j) * d)..<((i * n + j + 1) * d)] }
            }
        }
        return (b * sample, out)
    }
}
