import CKernels
import Dispatch
import Foundation

/// Scaled dot-product attention (reference: `torch.nn.functional.scaled_dot_product_attention`).
///
/// `softmax(q kᵀ · scale + mask) v` per (batch, head), with `scale = 1/sqrt(hd)` by default.
///
/// - Parameters:
///   - q: (B, NH, L, hd)
///   - k, v: (B, NKV, S, hd); `NKV` must divide `NH` (grouped-query attention: head `h` uses
///     key/value head `h / (NH / NKV)`, as `repeat_interleave` in LlamaGen)
///   - causal: query `i` attends to keys `j <= i + (S - L)`. For `L == S` this is torch's
///     `is_causal=True`; for `L < S` (decoding with a cache) the queries are the last `L`
///     positions (torch's `is_causal` would align them to the first positions instead).
///   - mask: an additive float mask broadcastable to (B, NH, L, S) — shapes (L, S), (1|B, 1|NH, L, S);
///     use `-Float.infinity` to exclude a key (torch's boolean `attn_mask` True ↦ 0, False ↦ -inf).
/// - Returns: (B, NH, L, hd)
public func scaledDotProductAttention(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, causal: Bool = false, mask: Tensor? = nil, scale: Float? = nil
) -> Tensor {
    precondition(q.rank == 4 && k.rank == 4 && v.rank == 4 && k.shape == v.shape, "sdpa: q \(q.shape) k \(k.shape) v \(v.shape)")
    precondition(q.shape[0] == k.shape[0] && q.shape[3] == k.shape[3], "sdpa: q \(q.shape) vs k \(k.shape)")
    let s = k.shape[2]
    return k.withUnsafeBufferPointer { pk in
        v.withUnsafeBufferPointer { pv in
            attention(
                q, keys: pk.baseAddress!, values: pv.baseAddress!, kvHeads: k.shape[1], keyLength: s,
                headStride: s * k.shape[3], causal: causal, mask: mask, scale: scale)
        }
    }
}

/// Attention over keys/values given as pointers: head `(b, g)` starts at `(b·kvHeads + g)·headStride`
/// and holds `keyLength` rows of `hd` floats. Shared by ``scaledDotProductAttention(_:_:_:causal:mask:scale:)``
/// and ``KVCache``.
func attention(
    _ q: Tensor, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, kvHeads: Int, keyLength s: Int, headStride: Int,
    causal: Bool, mask: Tensor?, scale: Float?
) -> Tensor {
    let b = q.shape[0], nh = q.shape[1], l = q.shape[2], hd = q.shape[3]
    precondition(nh % kvHeads == 0, "sdpa: \(kvHeads) key/value heads for \(nh) query heads")
    precondition(l <= s || !causal, "sdpa: causal attention with more queries (\(l)) than keys (\(s))")
    let rep = nh / kvHeads
    let alpha = scale ?? 1 / Float(hd).squareRoot()
    // Mask as (mb, mh, L, S) with broadcast strides.
    var maskStrideB = 0, maskStrideH = 0
    if let mask {
        let m4 = [Int](repeating: 1, count: max(0, 4 - mask.rank)) + mask.shape
        precondition(
            m4.count == 4 && m4[2] == l && m4[3] == s && (m4[0] == 1 || m4[0] == b) && (m4[1] == 1 || m4[1] == nh),
            "sdpa: mask \(mask.shape) does not broadcast to \([b, nh, l, s])")
        maskStrideH = m4[1] == 1 ? 0 : l * s
        maskStrideB = m4[0] == 1 ? 0 : m4[1] * l * s
    }
    let offset = s - l  // position of query 0 among the keys when causal
    var out = Tensor(zeros: q.shape)
    let small = l <= 8  // decoding: hand-written loops in parallel over heads beat B·NH tiny gemms
    // Enough heads: each worker runs whole heads with single-threaded sgemms (one scores buffer per
    // worker); otherwise heads in turn with threaded sgemms.
    let headsInParallel = Threads.count > 1 && b * nh >= 2 * Threads.count
    let workers = headsInParallel ? Threads.count : 1
    var scores = [Float](repeating: 0, count: small ? b * nh * l * s : workers * l * s)
    q.withUnsafeBufferPointer { pq in
        out.withUnsafeMutableBufferPointer { po in
            scores.withUnsafeMutableBufferPointer { ps in
                withOptionalPointer(mask) { pm in
                    let qs = pq.baseAddress!, os = po.baseAddress!, sc = ps.baseAddress!
                    // Adds the mask, applies the causal cut and normalises row `i` of head (bi, h).
                    func finishRow(_ row: UnsafeMutablePointer<Float>, bi: Int, h: Int, i: Int) {
                        if let pm {
                            let mrow = pm + bi * maskStrideB + h * maskStrideH + i * s
                            for j in 0..<s { row[j] += mrow[j] }
                        }
                        if causal {
                            let last = i + offset
                            for j in (last + 1)..<max(last + 1, s) { row[j] = -.infinity }
                        }
                        softmaxRow(row, count: s)
                    }
                    if small {
                        parallelFor(b * nh) { t in
                            let bi = t / nh, h = t % nh
                            let kh = keys + (bi * kvHeads + h / rep) * headStride
                            let vh = values + (bi * kvHeads + h / rep) * headStride
                            for i in 0..<l {
                                let qi = qs + (t * l + i) * hd
                                let row = sc + (t * l + i) * s
                                for j in 0..<s { row[j] = dot(qi, kh + j * hd, hd) * alpha }
                                finishRow(row, bi: bi, h: h, i: i)
                                let o = os + (t * l + i) * hd
                                for j in 0..<s {
                                    let pj = row[j], vj = vh + j * hd
                                    if pj == 0 { continue }
                                    for d in 0..<hd { o[d] += pj * vj[d] }
                                }
                            }
                        }
                    } else {
                        // Head t: scores = q kᵀ·scale, masked softmax by rows, out = scores v.
                        func head(_ t: Int, scores sc: UnsafeMutablePointer<Float>, rowsInParallel: Bool) {
                            let bi = t / nh, h = t % nh
                            let kh = keys + (bi * kvHeads + h / rep) * headStride
                            let vh = values + (bi * kvHeads + h / rep) * headStride
                            Gemm.sgemm(
                                transB: true, m: l, n: s, k: hd, alpha: alpha, a: qs + t * l * hd, lda: hd, b: kh, ldb: hd,
                                c: sc, ldc: s)
                            if rowsInParallel {
                                parallelFor(l, grain: max(1, 2048 / max(s, 1))) { i in finishRow(sc + i * s, bi: bi, h: h, i: i) }
                            } else {
                                for i in 0..<l { finishRow(sc + i * s, bi: bi, h: h, i: i) }
                            }
                            Gemm.sgemm(m: l, n: hd, k: s, a: sc, lda: s, b: vh, ldb: hd, c: os + t * l * hd, ldc: hd)
                        }
                        if headsInParallel {
                            let next = TaskCounter()
                            Threads.withSingleThreadedBLAS {
                                parallelFor(workers) { w in
                                    while let t = next.take(below: b * nh) { head(t, scores: sc + w * l * s, rowsInParallel: false) }
                                }
                            }
                        } else {
                            for t in 0..<(b * nh) { head(t, scores: sc, rowsInParallel: true) }
                        }
                    }
                }
            }
        }
    }
    return out
}

/// Self-attention read straight from a packed qkv projection and written straight into the merged
/// layout, without head-split copies (reference: ViT `Attention.forward`, `qkv(x).reshape(B, T, 3, NH,
/// hd)`, `softmax(q·scale @ kᵀ) @ v`, `transpose(1, 2).reshape(B, T, NH·hd)`).
///
/// Per (image, head): `scores = scale · q kᵀ`, softmax by rows in float32 (CKernels
/// `dbk_softmax_rows`: max-subtracted, vectorised exp), `out = scores v`. With hd = 64 on AVX-512 a
/// head is one call of the register-blocked kernel `dbk_attention_head` (strided q, k, v read in
/// place); otherwise two sgemms around the softmax. Heads run in parallel, each worker with its own
/// scratch (and single-threaded sgemms). For a power-of-two `scale` (hd = 64: 1/8) applying it to the
/// product equals scaling q first.
///
/// - Parameters:
///   - qkv: (B, T, 3·NH·hd) row-major: each token's row holds q (heads contiguous), then k, then v
///   - out: (B, T, NH·hd), fully overwritten
///   - times: profiling only: per-worker time of `attention/q·kᵀ`, `attention/softmax`, `attention/a·v`
public func packedSelfAttention(
    qkv: UnsafePointer<Float>, batch b: Int, tokens t: Int, heads nh: Int, headDim hd: Int, scale: Float,
    out: UnsafeMutablePointer<Float>, times: StageTimes? = nil
) {
    let d = nh * hd, ld = 3 * d
    let workers = Threads.count > 1 && b * nh >= 2 * Threads.count ? Threads.count : 1
    let fused = hd == 64 && dbk_transformer_isa() != 0 && !AttentionKernel.sgemmOnly
    let scratch = fused ? Int(dbk_attention_head_work(Int64(t), Int64(hd))) : t * t
    var work = [Float](repeating: 0, count: workers * scratch)
    let phases = ["q·kᵀ", "softmax", "a·v"]
    work.withUnsafeMutableBufferPointer { pw in
        let w0 = pw.baseAddress!
        func head(_ task: Int, scratch s: UnsafeMutablePointer<Float>) {
            let bi = task / nh, h = task % nh
            let q = qkv + bi * t * ld + h * hd, k = q + d, v = q + 2 * d, o = out + bi * t * d + h * hd
            var ns = [UInt64](repeating: 0, count: 3)
            if fused {
                if times == nil {
                    _ = dbk_attention_head(q, k, v, Int64(ld), Int64(t), Int64(hd), scale, o, Int64(d), s, nil)
                } else {
                    _ = dbk_attention_head(q, k, v, Int64(ld), Int64(t), Int64(hd), scale, o, Int64(d), s, &ns)
                }
            } else {
                var clock = times == nil ? 0 : DispatchTime.now().uptimeNanoseconds
                func lap(_ i: Int) {
                    guard times != nil else { return }
                    let now = DispatchTime.now().uptimeNanoseconds
                    ns[i] = now - clock
                    clock = now
                }
                Gemm.sgemm(transB: true, m: t, n: t, k: hd, alpha: scale, a: q, lda: ld, b: k, ldb: ld, c: s, ldc: t)
                lap(0)
                dbk_softmax_rows(s, Int64(t), Int64(t), Int64(t))
                lap(1)
                Gemm.sgemm(m: t, n: hd, k: t, a: s, lda: t, b: v, ldb: ld, c: o, ldc: d)
                lap(2)
            }
            if let times { for i in 0..<3 { times.addWorkerTime("attention/" + phases[i], nanoseconds: ns[i]) } }
        }
        func runAll() {
            if workers > 1 {
                let next = TaskCounter()
                parallelFor(workers) { w in
                    while let task = next.take(below: b * nh) { head(task, scratch: w0 + w * scratch) }
                }
            } else {
                for task in 0..<(b * nh) { head(task, scratch: w0) }
            }
        }
        // The sgemm path calls BLAS from the workers: one OpenBLAS thread each.
        if fused || workers == 1 { runAll() } else { Threads.withSingleThreadedBLAS { runAll() } }
    }
}

/// `DIGIT_BENCH_ATTENTION=sgemm` makes ``packedSelfAttention(qkv:batch:tokens:heads:headDim:scale:out:times:)``
/// use its sgemm path even where the fused kernel applies (A/B runs in one binary).
enum AttentionKernel {
    static let sgemmOnly = ProcessInfo.processInfo.environment["DIGIT_BENCH_ATTENTION"] == "sgemm"
}

/// Dot product of two float vectors with 8 independent partial sums.
@inlinable
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        let x = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
        let y = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        acc += x * y
        i += 8
    }
    var s = acc.sum()
    while i < n {
        s += a[i] * b[i]
        i += 1
    }
    return s
}

/// A preallocated key/value cache for incremental decoding: keys and values of shape
/// (B, NKV, maxLength, hd), filled position by position (reference: LlamaGen `KVCache`, gpt-fast).
public struct KVCache: Sendable {
    /// (B, NKV, maxLength, hd); positions `length..<maxLength` are zero.
    public private(set) var keys: Tensor
    public private(set) var values: Tensor
    /// The number of positions written so far.
    public private(set) var length: Int = 0

    public let batch: Int, heads: Int, maxLength: Int, headDim: Int

    public init(batch: Int, heads: Int, maxLength: Int, headDim: Int) {
        self.batch = batch
        self.heads = heads
        self.maxLength = maxLength
        self.headDim = headDim
        keys = Tensor(zeros: [batch, heads, maxLength, headDim])
        values = keys
    }

    /// Writes `k`, `v` (B, NKV, t, hd) at positions `length ..< length + t` and advances `length`.
    public mutating func append(keys k: Tensor, values v: Tensor) {
        write(keys: k, values: v, at: length)
    }

    /// Writes `k`, `v` (B, NKV, t, hd) at positions `position ..< position + t`
    /// (`k_cache[:, :, input_pos] = k_val`); `length` becomes at least `position + t`.
    public mutating func write(keys k: Tensor, values v: Tensor, at position: Int) {
        precondition(k.shape == v.shape && k.rank == 4 && k.shape[0] == batch && k.shape[1] == heads && k.shape[3] == headDim,
                     "KVCache: keys \(k.shape) for cache (\(batch), \(heads), \(maxLength), \(headDim))")
        let t = k.shape[2]
        precondition(position >= 0 && position + t <= maxLength, "KVCache: positions \(position)..<\(position + t) beyond \(maxLength)")
        let hd = headDim, maxT = maxLength
        for (src, isKeys) in [(k, true), (v, false)] {
            src.withUnsafeBufferPointer { ps in
                func copy(_ dst: inout Tensor) {
                    dst.withUnsafeMutableBufferPointer { pd in
                        for bh in 0..<(batch * heads) {
                            (pd.baseAddress! + (bh * maxT + position) * hd).update(from: ps.baseAddress! + bh * t * hd, count: t * hd)
                        }
                    }
                }
                if isKeys { copy(&keys) } else { copy(&values) }
            }
        }
        length = max(length, position + t)
    }

    /// Forgets all positions (the storage is kept; stale values beyond `length` are never read).
    public mutating func reset() { length = 0 }

    /// Attention of `q` (B, NH, L, hd) over the first ``length`` cached positions (see
    /// ``scaledDotProductAttention(_:_:_:causal:mask:scale:)``; `mask` must be (…, L, length)).
    public func attention(_ q: Tensor, causal: Bool = true, mask: Tensor? = nil, scale: Float? = nil) -> Tensor {
        precondition(q.rank == 4 && q.shape[0] == batch && q.shape[3] == headDim, "KVCache.attention: q \(q.shape)")
        return keys.withUnsafeBufferPointer { pk in
            values.withUnsafeBufferPointer { pv in
                DigitTensor.attention(
                    q, keys: pk.baseAddress!, values: pv.baseAddress!, kvHeads: heads, keyLength: length,
                    headStride: maxLength * headDim, causal: causal, mask: mask, scale: scale)
            }
        }
    }

    /// The cached keys of the first ``length`` positions, (B, NKV, length, hd) (a copy).
    public var currentKeys: Tensor { keys.slice(axis: 2, 0..<length) }
    /// The cached values of the first ``length`` positions, (B, NKV, length, hd) (a copy).
    public var currentValues: Tensor { values.slice(axis: 2, 0..<length) }
}
