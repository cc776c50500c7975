import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

/// float64 attention: softmax(q kᵀ / sqrt(hd) + mask) v, query i at key position i + (S - L).
func naiveAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, causal: Bool, mask: Tensor?) -> [Double] {
    let (b, nh, l, hd) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let nkv = k.shape[1], s = k.shape[2], rep = nh / nkv
    var out = [Double](repeating: 0, count: q.count)
    for bi in 0..<b { for h in 0..<nh { for i in 0..<l {
        let kvh = h / rep
        var sc = [Double](repeating: 0, count: s)
        for j in 0..<s {
            var d = 0.0
            for e in 0..<hd { d += Double(q.scalars[((bi * nh + h) * l + i) * hd + e]) * Double(k.scalars[((bi * nkv + kvh) * s + j) * hd + e]) }
            sc[j] = d / Double(hd).squareRoot()
            if let mask { sc[j] += Double(mask.scalars[i * s + j]) }
            if causal && j > i + s - l { sc[j] = -.infinity }
        }
        let m = sc.max()!
        let z = sc.map { Foundation.exp($0 - m) }.reduce(0, +)
        for j in 0..<s {
            let p = Foundation.exp(sc[j] - m) / z
            for e in 0..<hd { out[((bi * nh + h) * l + i) * hd + e] += p * Double(v.scalars[((bi * nkv + kvh) * s + j) * hd + e]) }
        }
    } } }
    return out
}

@Suite("attention")
struct AttentionTests {
    @Test("scaledDotProductAttention matches float64", arguments: [
        (2, 3, 3, 17, 17, 16, true, false), (1, 4, 2, 19, 19, 8, false, true), (2, 2, 2, 1, 9, 24, true, false),
        (1, 4, 1, 3, 10, 16, true, true), (1, 2, 2, 12, 12, 5, false, false),
    ])
    func sdpa(b: Int, nh: Int, nkv: Int, l: Int, s: Int, hd: Int, causal: Bool, useMask: Bool) {
        var rng = TestRNG(seed: UInt64(b * 1000 + nh * 100 + l * 10 + s))
        let q = rng.tensor([b, nh, l, hd], -2, 2), k = rng.tensor([b, nkv, s, hd], -2, 2), v = rng.tensor([b, nkv, s, hd])
        var mask: Tensor? = nil
        if useMask {
            var m = rng.tensor([l, s], -1, 1)
            m.apply { $0 < -0.8 ? -.infinity : $0 }
            for i in 0..<l { m.scalars[i * s] = 0 }  // keep one key per row so no row is all -inf
            mask = m
        }
        let y = scaledDotProductAttention(q, k, v, causal: causal, mask: mask)
        let ref = naiveAttention(q, k, v, causal: causal, mask: mask)
        let c = compare(y.scalars, ref)
        // Scores up to ~|4·hd/sqrt(hd)|, float32 gemm + exp: ~1e-6 relative; outputs in [-1, 1].
        #expect(y.shape == q.shape)
        #expect(c.maxAbsDiff <= 2e-5, "\(c)")
    }

    @Test("KV cache decoding step by step equals full causal attention")
    func kvCache() {
        let (b, nh, t, hd) = (2, 4, 11, 16)
        var rng = TestRNG(seed: 77)
        let q = rng.tensor([b, nh, t, hd]), k = rng.tensor([b, nh, t, hd]), v = rng.tensor([b, nh, t, hd])
        let full = scaledDotProductAttention(q, k, v, causal: true)
        var cache = KVCache(batch: b, heads: nh, maxLength: 16, headDim: hd)
        // Prefill 4 positions, then one at a time.
        cache.append(keys: k.slice(axis: 2, 0..<4), values: v.slice(axis: 2, 0..<4))
        var pieces = [cache.attention(q.slice(axis: 2, 0..<4))]
        for i in 4..<t {
            cache.append(keys: k.slice(axis: 2, i..<(i + 1)), values: v.slice(axis: 2, i..<(i + 1)))
            pieces.append(cache.attention(q.slice(axis: 2, i..<(i + 1))))
        }
        #expect(cache.length == t)
        #expect(cache.currentKeys == k)
        let inc = concat(pieces, axis: 2)
        let c = compare(inc.scalars, full.scalars)
        // Same math, different summation order (gemm vs loops): float32 rounding.
        #expect(c.maxAbsDiff <= 1e-5, "\(c)")
        cache.reset()
        #expect(cache.length == 0)
    }
}
