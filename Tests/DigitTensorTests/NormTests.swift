import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

@Suite("normalisation")
struct NormTests {
    @Test("batchNorm (eval) matches (x - mean) / sqrt(var + eps) * w + b in float64")
    func batchNormNaive() {
        var rng = TestRNG(seed: 1)
        let x = rng.tensor([3, 5, 4, 7], -3, 3)
        let mean = rng.tensor([5], -0.5, 0.5), variance = rng.tensor([5], 0.2, 2)
        let w = rng.tensor([5], 0.5, 1.5), b = rng.tensor([5])
        let eps: Float = 1e-3
        let y = batchNorm2dEval(x, mean: mean, variance: variance, weight: w, bias: b, eps: eps)
        var ref = [Double]()
        for i in 0..<x.count {
            let c = (i / 28) % 5
            ref.append((Double(x.scalars[i]) - Double(mean.scalars[c])) / (Double(variance.scalars[c]) + Double(eps)).squareRoot()
                * Double(w.scalars[c]) + Double(b.scalars[c]))
        }
        // Folded scale/shift in float32: a few ulp of values up to ~10.
        let c = compare(y.scalars, ref)
        #expect(c.maxAbsDiff <= 5e-6, "\(c)")
    }

    @Test("layerNorm over the last dimension", arguments: [(4, 37, true), (3, 768, true), (5, 8, false)])
    func layerNormNaive(rows: Int, d: Int, affine: Bool) {
        var rng = TestRNG(seed: UInt64(rows * d))
        let x = rng.tensor([rows, d], -2, 3)
        let w = affine ? rng.tensor([d]) : nil, b = affine ? rng.tensor([d]) : nil
        let y = layerNorm(x, weight: w, bias: b, eps: 1e-6)
        var ref = [Double]()
        for r in 0..<rows {
            let row = (0..<d).map { Double(x.scalars[r * d + $0]) }
            let m = row.reduce(0, +) / Double(d)
            let v = row.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(d)
            for i in 0..<d {
                var t = (row[i] - m) / (v + 1e-6).squareRoot()
                if let w, let b { t = t * Double(w.scalars[i]) + Double(b.scalars[i]) }
                ref.append(t)
            }
        }
        // Normalised values are O(3); float32 application: a few ulp.
        let c = compare(y.scalars, ref)
        #expect(c.maxAbsDiff <= 5e-6, "\(c)")
    }

    @Test("groupNorm per (image, group)", arguments: [(2, 32, 5, 7, 8, true), (1, 6, 3, 3, 3, false), (2, 64, 4, 4, 32, true)])
    func groupNormNaive(n: Int, c: Int, h: Int, w: Int, groups: Int, affine: Bool) {
        var rng = TestRNG(seed: UInt64(n + c * 3 + groups))
        // An offset mean stresses the variance computation (single-pass float32 would lose digits).
        let x = rng.tensor([n, c, h, w], 99, 101)
        let wt = affine ? rng.tensor([c]) : nil, bs = affine ? rng.tensor([c]) : nil
        let y = groupNorm(x, groups: groups, weight: wt, bias: bs, eps: 1e-6)
        let cg = c / groups, inner = h * w
        var ref = [Double](repeating: 0, count: x.count)
        for ni in 0..<n {
            for g in 0..<groups {
                let base = (ni * c + g * cg) * inner
                let vals = (0..<(cg * inner)).map { Double(x.scalars[base + $0]) }
                let m = vals.reduce(0, +) / Double(vals.count)
                let v = vals.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(vals.count)
                for i in 0..<vals.count {
                    let ch = g * cg + i / inner
                    var t = (vals[i] - m) / (v + 1e-6).squareRoot()
                    if let wt, let bs { t = t * Double(wt.scalars[ch]) + Double(bs.scalars[ch]) }
                    ref[base + i] = t
                }
            }
        }
        // x ~ 100 so x*a + b cancels ~2 digits in float32: allow 1e-4 on O(2) outputs.
        let cmp = compare(y.scalars, ref)
        #expect(cmp.maxAbsDiff <= 1e-4, "\(cmp)")
    }

    @Test("rmsNorm as LlamaGen: x * rsqrt(mean(x^2) + eps) * weight")
    func rmsNormNaive() {
        var rng = TestRNG(seed: 9)
        let x = rng.tensor([6, 96], -4, 4), w = rng.tensor([96], 0.5, 1.5)
        let y = rmsNorm(x, weight: w, eps: 1e-5)
        var ref = [Double]()
        for r in 0..<6 {
            let row = (0..<96).map { Double(x.scalars[r * 96 + $0]) }
            let ms = row.map { $0 * $0 }.reduce(0, +) / 96
            for i in 0..<96 { ref.append(row[i] / (ms + 1e-5).squareRoot() * Double(w.scalars[i])) }
        }
        let c = compare(y.scalars, ref)
        // float32 rsqrt and two products: a few ulp of O(3) values.
        #expect(c.maxAbsDiff <= 5e-6, "\(c)")
    }
}

@Suite("softmax")
struct SoftmaxTests {
    @Test("softmax and logSoftmax over the last dimension match float64", arguments: [1, 7, 1000])
    func softmaxNaive(d: Int) {
        var rng = TestRNG(seed: UInt64(d))
        let x = rng.tensor([3, d], -20, 20)
        let s = softmax(x), ls = logSoftmax(x)
        var ref = [Double](), lref = [Double]()
        for r in 0..<3 {
            let row = (0..<d).map { Double(x.scalars[r * d + $0]) }
            let m = row.max()!
            let z = row.map { Foundation.exp($0 - m) }.reduce(0, +)
            for v in row {
                ref.append(Foundation.exp(v - m) / z)
                lref.append(v - m - Foundation.log(z))
            }
        }
        // Probabilities in [0, 1]: float32 exp is within ~1 ulp; log-probabilities up to ~50 in size.
        #expect(compare(s.scalars, ref).maxAbsDiff <= 1e-6, "\(compare(s.scalars, ref))")
        #expect(compare(ls.scalars, lref).maxAbsDiff <= 1e-5, "\(compare(ls.scalars, lref))")
    }

    @Test("softmax of huge logits does not overflow")
    func stable() {
        let s = softmax(Tensor(shape: [1, 3], scalars: [1000, 1000, -.infinity]))
        #expect(s.scalars == [0.5, 0.5, 0])
    }
}
