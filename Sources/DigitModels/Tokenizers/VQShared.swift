// Nearest-code search shared by the taming-style vector quantizers:
//   FoundationVision/LlamaGen tokenizer/tokenizer_image/vq_model.py (VectorQuantizer, l2_norm=True)
//   LTH14/mage taming/modules/vqvae/quantize.py (VectorQuantizer2, legacy, no normalisation)
import DigitImage
import DigitNN
import DigitTensor
import Foundation

/// A codebook `embedding.weight` (K, D) and upstream's nearest-code rule:
/// `argmin_k |z|² + |e_k|² − 2 z·e_k`, evaluated in float32 in that order (first index wins ties,
/// as `torch.argmin`), optionally on L2-normalised latents and rows (`F.normalize`, eps 1e-12).
struct VQCodebook: Sendable {
    /// The rows the search and the lookups use: (K, D), normalised when `l2Normalized`.
    let rows: Tensor
    /// `|e_k|²` of `rows`, float32.
    let squaredNorms: [Float]
    let l2Normalized: Bool

    var size: Int { rows.dim(0) }
    var dimension: Int { rows.dim(1) }

    init(embedding: Tensor, l2Normalized: Bool) {
        self.l2Normalized = l2Normalized
        rows = l2Normalized ? VQCodebook.normalizedRows(embedding) : embedding
        squaredNorms = VQCodebook.squaredRowNorms(rows)
    }

    /// `F.normalize(x, p=2, dim=-1)` for the rows of a (N, D) tensor: `x / max(|x|, 1e-12)`.
    static func normalizedRows(_ x: Tensor) -> Tensor {
        let d = x.dim(-1), n = x.count / d
        var out = x
        out.withUnsafeMutableBufferPointer { p in
            let p = p.baseAddress!
            parallelFor(n, grain: 256) { r in
                let row = p + r * d
                var s = 0.0
                for j in 0..<d { s += Double(row[j]) * Double(row[j]) }
                let norm = max(Float(s.squareRoot()), 1e-12)
                for j in 0..<d { row[j] /= norm }
            }
        }
        return out
    }

    /// `torch.sum(x ** 2, dim=1)` of a (N, D) tensor.
    static func squaredRowNorms(_ x: Tensor) -> [Float] {
        let d = x.dim(-1), n = x.count / d
        return x.withUnsafeBufferPointer { p in
            [Float](unsafeUninitializedCapacity: n) { out, count in
                let out = out.baseAddress!
                parallelFor(n, grain: 256) { r in
                    var s: Float = 0
                    for j in 0..<d { let v = p[r * d + j]; s += v * v }
                    out[r] = s
                }
                count = n
            }
        }
    }

    /// The (B·H·W, D) rows of a (B, D, H, W) latent, i.e. `einsum('b c h w -> b h w c')` flattened.
    static func channelsLast(_ z: Tensor) -> Tensor {
        let (b, c, h, w) = (z.dim(0), z.dim(1), z.dim(2), z.dim(3))
        let hw = h * w
        return Tensor(shape: [b * hw, c]) { out in
            z.withUnsafeBufferPointer { p in
                let out = out.baseAddress!, p = p.baseAddress!
                parallelFor(b * hw, grain: 64) { r in
                    let bi = r / hw, s = r % hw
                    for ch in 0..<c { out[r * c + ch] = p[(bi * c + ch) * hw + s] }
                }
            }
        }
    }

    /// The inverse of ``channelsLast(_:)``: (B·H·W, D) rows to (B, D, H, W).
    static func channelsFirst(_ rows: Tensor, batch: Int, height: Int, width: Int) -> Tensor {
        let c = rows.dim(1), hw = height * width
        return Tensor(shape: [batch, c, height, width]) { out in
            rows.withUnsafeBufferPointer { p in
                let out = out.baseAddress!, p = p.baseAddress!
                parallelFor(batch * c, grain: 16) { i in
                    let bi = i / c, ch = i % c
                    for s in 0..<hw { out[i * hw + s] = p[(bi * hw + s) * c + ch] }
                }
            }
        }
    }

    /// The index of the nearest row for each row of `z` (N, D) (already normalised if the codebook is).
    func nearest(_ z: Tensor) -> [Int] {
        let d = dimension, k = size, n = z.dim(0)
        precondition(z.dim(1) == d, "VQ search: latent rows \(z.shape), codebook \(rows.shape)")
        let zz = VQCodebook.squaredRowNorms(z)
        let tile = max(1, min(n, (1 << 20) / k))  // ≤ 4 MB of distances at a time
        var dots = [Float](repeating: 0, count: tile * k)
        var result = [Int](repeating: 0, count: n)
        z.withUnsafeBufferPointer { pz in
            rows.withUnsafeBufferPointer { pe in
                squaredNorms.withUnsafeBufferPointer { ee in
                    dots.withUnsafeMutableBufferPointer { pd in
                        result.withUnsafeMutableBufferPointer { res in
                            let pd = pd.baseAddress!, res = res.baseAddress!
                            var r0 = 0
                            while r0 < n {
                                let m = min(tile, n - r0)
                                // (m, K) = z[r0..<r0+m] (m, D) · eᵀ (D, K)
                                Gemm.sgemm(transB: true, m: m, n: k, k: d, a: pz.baseAddress! + r0 * d, lda: d,
                                           b: pe.baseAddress!, ldb: d, c: pd, ldc: k)
                                parallelFor(m, grain: 4) { i in
                                    let row = pd + i * k
                                    let zi = zz[r0 + i]
                                    var best = Float.infinity, arg = 0
                                    for j in 0..<k {
                                        let dist = (zi + ee[j]) - 2 * row[j]
                                        if dist < best { best = dist; arg = j }
                                    }
                                    res[r0 + i] = arg
                                }
                                r0 += m
                            }
                        }
                    }
                }
            }
        }
        return result
    }

    /// The codebook rows of `indices` as (B, D, H, W) (`get_codebook_entry` with channel_first).
    func lookup(_ indices: [Int], batch: Int, height: Int, width: Int) -> Tensor {
        let d = dimension
        precondition(indices.count == batch * height * width, "VQ lookup: \(indices.count) indices for \(batch)x\(height)x\(width)")
        let gathered = Tensor(shape: [indices.count, d]) { out in
            rows.withUnsafeBufferPointer { pe in
                for (i, code) in indices.enumerated() {
                    (out.baseAddress! + i * d).update(from: pe.baseAddress! + Int(code) * d, count: d)
                }
            }
        }
        return VQCodebook.channelsFirst(gathered, batch: batch, height: height, width: width)
    }
}

/// Throws unless `x` is (B, channels, H, W) with H, W positive multiples of `factor`.
func checkImageInput(_ x: Tensor, id: String, channels: Int, multipleOf factor: Int) throws {
    guard x.rank == 4, x.dim(0) > 0, x.dim(1) == channels, x.dim(2) > 0, x.dim(3) > 0,
          x.dim(2) % factor == 0, x.dim(3) % factor == 0
    else {
        throw TokenizerError.badInput("\(id): expected images (B, \(channels), H, W) with H, W multiples of \(factor); got \(x.shape)")
    }
}

extension VQCodebook {
    /// The codebook rows of a validated token grid (B, D, h, w) (codes outside the codebook are
    /// errors, never traps).
    func lookup(_ tokens: TokenGrid) throws -> Tensor {
        if let i = tokens.indices.firstIndex(where: { $0 < 0 || $0 >= size }) {
            throw TokenizerError.tokenOutOfRange(position: i, value: tokens.indices[i], codebookSize: size)
        }
        return lookup(tokens.indices, batch: tokens.batch, height: tokens.height, width: tokens.width)
    }
}

// MARK: - ResnetBlock

/// The algorithm of the VQ tokenizers' 3x3 stride-1 convs (ResnetBlock convs, upsampling convs,
/// the decoder's conv_out): Winograd F(4x4, 3x3) where the output has at least 32x32 positions
/// (the 128- and 256-channel levels, which hold most of the FLOPs); im2col on the small coarse
/// levels, where the tiles are too few for efficient sgemms. Error and speed: docs/conv-perf.md.
let vqConvAlgorithm = Conv2dAlgorithm.winograd(tile: 4, minOutputPixels: 32 * 32)

/// `nonlinearity(norm(x))`: swish (`x * sigmoid(x)`, DigitTensor's `silu` formula with its
/// vectorised exp, `siluInPlace`) applied to each GroupNorm output plane as it is written (one
/// pass over the activation instead of two).
func normSwish(_ norm: GroupNorm, _ x: Tensor) -> Tensor {
    groupNorm(x, groups: norm.groups, weight: norm.weight, bias: norm.bias, eps: norm.eps, swish: true)
}

/// The taming-transformers `ResnetBlock` as each port's upstream modified it:
/// `h = conv2(swish(norm2(conv1(swish(norm1(x))))))` (GroupNorm(32, eps 1e-6), 3x3 convs,
/// dropout = identity in eval), then a shortcut when cin ≠ cout:
/// - `.llamaGen` (LlamaGen vq_model.py, stock taming): convs with bias; returns
///   `nin_shortcut(x) + h` with a 1x1 cin → cout conv (bias) on the block input.
/// - `.mage` (MAGE's taming copy): bias-free convs; the 1x1 `nin_shortcut` (cout → cout, no bias)
///   is applied to the residual branch and the block returns `nin_shortcut(h) + h` (x is dropped).
struct TamingResnetBlock: Sendable {
    enum Variant: Sendable { case llamaGen, mage }

    let variant: Variant
    let norm1: GroupNorm, conv1: Conv2d, norm2: GroupNorm, conv2: Conv2d
    let ninShortcut: Conv2d?

    init(_ variant: Variant, _ s: WeightScope, _ cin: Int, _ cout: Int) throws {
        self.variant = variant
        let bias = variant == .llamaGen
        norm1 = try GroupNorm(s.scope("norm1"), groups: 32, channels: cin, eps: 1e-6)
        conv1 = try Conv2d(s.scope("conv1"), inChannels: cin, outChannels: cout, kernel: 3, padding: 1, bias: bias)
            .using(vqConvAlgorithm)
        norm2 = try GroupNorm(s.scope("norm2"), groups: 32, channels: cout, eps: 1e-6)
        conv2 = try Conv2d(s.scope("conv2"), inChannels: cout, outChannels: cout, kernel: 3, padding: 1, bias: bias)
            .using(vqConvAlgorithm)
        ninShortcut = cin == cout ? nil
            : try Conv2d(s.scope("nin_shortcut"), inChannels: variant == .mage ? cout : cin, outChannels: cout,
                         kernel: 1, bias: bias)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = conv1(normSwish(norm1, x))                   // (B, cout, H, W)
        h = conv2(normSwish(norm2, h))                       // (B, cout, H, W)
        guard let ninShortcut else { return x.adding(h) }
        return ninShortcut(variant == .mage ? h : x).adding(h)
    }
}

// MARK: - Pixels

/// NHWC uint8 images → NCHW float32 through a per-value map `f` (e.g. ToTensor and Normalize).
func imageTensor(_ images: ImageBatch, _ f: (UInt8) -> Float) -> Tensor {
    let (n, h, w) = (images.count, images.height, images.width)
    let table = (0...255).map { f(UInt8($0)) }
    return Tensor(shape: [n, 3, h, w]) { out in
        images.pixels.withUnsafeBufferPointer { px in
            for b in 0..<n {
                for c in 0..<3 {
                    let dst = out.baseAddress! + (b * 3 + c) * h * w
                    let src = px.baseAddress! + b * h * w * 3 + c
                    for i in 0..<(h * w) { dst[i] = table[Int(src[3 * i])] }
                }
            }
        }
    }
}

/// NCHW float32 (3 channels) → NHWC uint8 images through a per-value map `f`.
func imageBatch(_ x: Tensor, _ f: (Float) -> UInt8) -> ImageBatch {
    precondition(x.rank == 4 && x.dim(1) == 3, "imageBatch: expected (B, 3, H, W), got \(x.shape)")
    let (n, h, w) = (x.dim(0), x.dim(2), x.dim(3))
    var pixels = [UInt8](repeating: 0, count: n * h * w * 3)
    x.withUnsafeBufferPointer { px in
        for b in 0..<n {
            for c in 0..<3 {
                let src = px.baseAddress! + (b * 3 + c) * h * w
                for i in 0..<(h * w) { pixels[(b * h * w + i) * 3 + c] = f(src[i]) }
            }
        }
    }
    return ImageBatch(count: n, height: h, width: w, pixels: pixels)
}
