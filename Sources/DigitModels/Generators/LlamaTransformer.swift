// Port of the Llama-style transformer block shared by FoundationVision/LlamaGen
// autoregressive/models/gpt.py @ ce98ec4 (TransformerBlock, Attention, FeedForward, RMSNorm,
// apply_rotary_emb, precompute_freqs_cis_2d) and TencentARC/SEED-Voken
// taming/modules/transformer/gpt.py @ 6515009 (Block, the same modules with the same keys).
import DigitNN
import DigitTensor
import Foundation

/// Keys and values of every layer for a batch of sequences, laid out (B, NKV, capacity, hd) per
/// layer as upstream's `KVCache`.
public final class TransformerKVCache {
    public let batch: Int
    public let heads: Int
    public let capacity: Int
    public let headDim: Int
    var keys: [[Float]]
    var values: [[Float]]
    /// Number of positions written so far.
    public internal(set) var length = 0

    public init(layers: Int, batch: Int, heads: Int, capacity: Int, headDim: Int) {
        self.batch = batch
        self.heads = heads
        self.capacity = capacity
        self.headDim = headDim
        let n = batch * heads * capacity * headDim
        keys = Array(repeating: [Float](repeating: 0, count: n), count: layers)
        values = keys
    }

    /// Forgets every position (the buffers are reused).
    public func reset() { length = 0 }
}

/// Dimensions of a stack of Llama blocks.
public struct LlamaBlockShape: Sendable, Equatable {
    public var dim: Int
    public var heads: Int
    public var kvHeads: Int
    public var ffnHidden: Int
    public var normEps: Float

    public var headDim: Int { dim / heads }

    /// `FeedForward`'s hidden size: int(2 * 4 * dim / 3), times the multiplier, rounded up to
    /// `multiple_of`.
    public static func ffnHidden(dim: Int, multipleOf: Int, multiplier: Double?) -> Int {
        var h = Int(2 * Double(4 * dim) / 3)
        if let m = multiplier { h = Int(m * Double(h)) }
        return h % multipleOf == 0 ? h : h + multipleOf - h % multipleOf
    }
}

/// `precompute_freqs_cis_2d(grid, head_dim, base, cls_token_num)`: rows of (cos, sin) pairs,
/// (clsTokenNum + grid², hd/2, 2). Class-token rows are zero, so q and k are zeroed there
/// (upstream's quirk, not an identity rotation). Computed in float32 as torch does.
public func rotaryTable2D(gridSize g: Int, headDim: Int, base: Double, clsTokenNum: Int) -> [Float] {
    let half = headDim / 2, quarter = half / 2
    var inv = [Float](repeating: 0, count: quarter)
    for k in 0..<quarter { inv[k] = 1 / powf(Float(base), Float(2 * k) / Float(half)) }
    var table = [Float](repeating: 0, count: (clsTokenNum + g * g) * half * 2)
    for r in 0..<g {
        for col in 0..<g {
            let base = ((clsTokenNum + r * g + col) * half) * 2
            for k in 0..<half {
                // the first hd/4 pairs rotate with the row, the rest with the column
                let angle = k < quarter ? Float(r) * inv[k] : Float(col) * inv[k - quarter]
                table[base + 2 * k] = cosf(angle)
                table[base + 2 * k + 1] = sinf(angle)
            }
        }
    }
    return table
}

/// One `TransformerBlock`: pre-norm attention and SwiGLU feed-forward, no biases.
struct LlamaBlock {
    var attentionNorm: Tensor  // (C)
    var wqkv: Tensor  // ((NH + 2 NKV) hd, C): q | k | v, each head contiguous
    var wo: Tensor  // (C, C)
    var ffnNorm: Tensor  // (C)
    var w1: Tensor  // (F, C)
    var w3: Tensor  // (F, C)
    var w2: Tensor  // (C, F)

    init(_ w: WeightScope, shape s: LlamaBlockShape) throws {
        let c = s.dim, f = s.ffnHidden
        attentionNorm = try w.tensor("attention_norm.weight", shape: [c])
        wqkv = try w.tensor("attention.wqkv.weight", shape: [(s.heads + 2 * s.kvHeads) * s.headDim, c])
        wo = try w.tensor("attention.wo.weight", shape: [c, c])
        ffnNorm = try w.tensor("ffn_norm.weight", shape: [c])
        w1 = try w.tensor("feed_forward.w1.weight", shape: [f, c])
        w3 = try w.tensor("feed_forward.w3.weight", shape: [f, c])
        w2 = try w.tensor("feed_forward.w2.weight", shape: [c, f])
    }
}

/// A stack of ``LlamaBlock``s (`layers.i` / `spatial_blocks.i` / `factorized_blocks.i`) run over
/// embeddings with a KV cache.
public final class LlamaBlockStack: @unchecked Sendable {
    public let shape: LlamaBlockShape
    let blocks: [LlamaBlock]

    /// Loads `count` blocks under `scope.0`, `scope.1`, ….
    public init(_ scope: WeightScope, count: Int, shape: LlamaBlockShape) throws {
        self.shape = shape
        blocks = try (0..<count).map { try LlamaBlock(scope.scope($0), shape: shape) }
    }

    public var layerCount: Int { blocks.count }

    public func makeCache(batch: Int, capacity: Int) -> TransformerKVCache {
        TransformerKVCache(layers: blocks.count, batch: batch, heads: shape.kvHeads, capacity: capacity, headDim: shape.headDim)
    }

    /// Runs `x` (B, S, C) at cache positions `cache.length ..< cache.length + S`, rotating q and k
    /// with rows `ropeRows` (length S) of `rope`, appending keys/values to the cache; attention is
    /// causal over everything cached. Returns the hidden states (B, S, C), before the final norm.
    ///
    /// - Parameters:
    ///   - depth: run only the first `depth` blocks (all when nil); the cache's later layers stay empty.
    ///   - onLayer: called with (layer index, hidden state after that layer).
    public func callAsFunction(
        _ x: Tensor, rope: [Float], ropeRows: [Int], cache: TransformerKVCache, depth: Int? = nil,
        onLayer: ((Int, Tensor) -> Void)? = nil
    ) -> Tensor {
        precondition(x.rank == 3 && x.dim(2) == shape.dim && ropeRows.count == x.dim(1), "LlamaBlockStack: x \(x.shape)")
        precondition(x.dim(0) == cache.batch && cache.length + x.dim(1) <= cache.capacity, "KV cache too small")
        // One position per sequence (every decoding step): row-invariant projections, so a
        // sample's numbers do not depend on the batch it shares (see Gemm.linearRowInvariant).
        // The choice depends on S only, never on B.
        let inv = x.dim(1) == 1
        var h = x  // (B, S, C)
        precondition(depth.map { (0...blocks.count).contains($0) } ?? true, "LlamaBlockStack: depth \(depth!) of \(blocks.count)")
        for (i, blk) in blocks.prefix(depth ?? blocks.count).enumerated() {
            // h = x + attention(attention_norm(x))
            h += attention(
                rmsNorm(h, weight: blk.attentionNorm, eps: shape.normEps), blk, layer: i, rope: rope, rows: ropeRows,
                cache: cache, rowInvariant: inv)
            // out = h + feed_forward(ffn_norm(h)), SwiGLU: w2(silu(w1 x) * w3 x)
            let n = rmsNorm(h, weight: blk.ffnNorm, eps: shape.normEps)
            let gate = siluMul(linear(n, weight: blk.w1, rowInvariant: inv), linear(n, weight: blk.w3, rowInvariant: inv))
            h += linear(gate, weight: blk.w2, rowInvariant: inv)
            onLayer?(i, h)
        }
        cache.length += x.dim(1)
        return h
    }

    /// Causal multi-head attention with RoPE and the KV cache; returns `wo(attn)` (B, S, C).
    func attention(
        _ x: Tensor, _ blk: LlamaBlock, layer: Int, rope: [Float], rows: [Int], cache: TransformerKVCache, rowInvariant: Bool
    ) -> Tensor {
        let b = x.dim(0), s = x.dim(1), c = shape.dim
        let nh = shape.heads, nkv = shape.kvHeads, hd = shape.headDim, half = hd / 2
        let p0 = cache.length, cap = cache.capacity
        let width = (nh + 2 * nkv) * hd
        var qkv = linear(x, weight: blk.wqkv, rowInvariant: rowInvariant)  // (B, S, (NH + 2 NKV) hd)
        // apply_rotary_emb on q and k: interleaved pairs (x0, x1) -> (x0 cos - x1 sin, x1 cos + x0 sin)
        qkv.withUnsafeMutableBufferPointer { p in
            rope.withUnsafeBufferPointer { fr in
                for bi in 0..<b {
                    for t in 0..<s {
                        let row = p.baseAddress! + (bi * s + t) * width
                        let f = fr.baseAddress! + rows[t] * half * 2
                        for head in 0..<(nh + nkv) {
                            let v = row + head * hd
                            for k in 0..<half {
                                let x0 = v[2 * k], x1 = v[2 * k + 1], cs = f[2 * k], sn = f[2 * k + 1]
                                v[2 * k] = x0 * cs - x1 * sn
                                v[2 * k + 1] = x1 * cs + x0 * sn
                            }
                        }
                    }
                }
            }
        }
        // KVCache.update: k, v into (B, NKV, cap, hd) at positions p0 ..< p0 + S
        qkv.withUnsafeBufferPointer { p in
            cache.keys[layer].withUnsafeMutableBufferPointer { kc in
                cache.values[layer].withUnsafeMutableBufferPointer { vc in
                    for bi in 0..<b {
                        for t in 0..<s {
                            let row = p.baseAddress! + (bi * s + t) * width
                            for head in 0..<nkv {
                                let dst = ((bi * nkv + head) * cap + p0 + t) * hd
                                (kc.baseAddress! + dst).update(from: row + (nh + head) * hd, count: hd)
                                (vc.baseAddress! + dst).update(from: row + (nh + nkv + head) * hd, count: hd)
                            }
                        }
                    }
                }
            }
        }
        // softmax(q kᵀ / sqrt(hd), causal) v for each (batch, head); kv heads repeat_interleave'd
        let scale = 1 / Float(hd).squareRoot()
        var out = Tensor(zeros: [b, s, c])
        qkv.withUnsafeBufferPointer { p in
            cache.keys[layer].withUnsafeBufferPointer { kc in
                cache.values[layer].withUnsafeBufferPointer { vc in
                    out.withUnsafeMutableBufferPointer { o in
                        let qp = p.baseAddress!, kp = kc.baseAddress!, vp = vc.baseAddress!, op = o.baseAddress!
                        parallelFor(b * nh) { job in
                            let bi = job / nh, head = job % nh, kvh = head / (nh / nkv)
                            let kBase = kp + (bi * nkv + kvh) * cap * hd
                            let vBase = vp + (bi * nkv + kvh) * cap * hd
                            let scores = UnsafeMutablePointer<Float>.allocate(capacity: p0 + s)
                            defer { scores.deallocate() }
                            for t in 0..<s {
                                let q = qp + (bi * s + t) * width + head * hd
                                let n = p0 + t + 1  // keys 0 ... p0 + t
                                var m = -Float.infinity
                                for j in 0..<n {
                                    let d = dot(q, kBase + j * hd, hd) * scale
                                    scores[j] = d
                                    m = max(m, d)
                                }
                                var sum: Float = 0
                                for j in 0..<n {
                                    let e = expf(scores[j] - m)
                                    scores[j] = e
                                    sum += e
                                }
                                let inv = 1 / sum
                                let dst = op + (bi * s + t) * c + head * hd
                                for j in 0..<n { axpy(scores[j] * inv, vBase + j * hd, dst, hd) }
                            }
                        }
                    }
                }
            }
        }
        return linear(out, weight: blk.wo, rowInvariant: rowInvariant)  // (B, S, C)
    }
}

/// `silu(a) * b` elementwise (SwiGLU's gate).
func siluMul(_ a: Tensor, _ b: Tensor) -> Tensor {
    var out = a
    out.withUnsafeMutableBufferPointer { o in
        b.withUnsafeBufferPointer { pb in
            for i in 0..<o.count {
                let v = o[i]
                o[i] = v / (1 + expf(-v)) * pb[i]
            }
        }
    }
    return out
}

@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        acc += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        i += 8
    }
    var s = acc.sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

@inline(__always)
func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { y[i] += alpha * x[i] }
}
