import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

@Suite("element-wise ops")
struct ElementwiseTests {
    @Test("activations match float64 formulas")
    func activations() {
        var rng = TestRNG(seed: 3)
        let x = rng.tensor([4, 1001], -8, 8)
        let xs = x.scalars.map(Double.init)
        func check(_ y: Tensor, _ f: (Double) -> Double, _ name: String, tol: Double) {
            let c = compare(y.scalars, xs.map(f))
            #expect(y.shape == x.shape)
            #expect(c.maxAbsDiff <= tol, "\(name): \(c)")
        }
        // Values up to 8 in size: float32 libm results are within ~2 ulp (~1e-6).
        check(relu(x), { max($0, 0) }, "relu", tol: 0)
        check(sigmoid(x), { 1 / (1 + Foundation.exp(-$0)) }, "sigmoid", tol: 1e-6)
        check(silu(x), { $0 / (1 + Foundation.exp(-$0)) }, "silu", tol: 2e-6)
        check(tanh(x), { Foundation.tanh($0) }, "tanh", tol: 1e-6)
        check(gelu(x), { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) }, "gelu", tol: 2e-6)
        check(geluTanh(x), { 0.5 * $0 * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) },
              "geluTanh", tol: 2e-6)
    }

    /// Broadcast reference: index arithmetic over the full output shape.
    func naiveBroadcast(_ a: Tensor, _ b: Tensor, _ op: (Float, Float) -> Float) -> [Float] {
        let shape = broadcastShape(a.shape, b.shape)
        func offset(_ idx: [Int], _ s: [Int]) -> Int {
            let pad = idx.count - s.count
            var off = 0
            for i in 0..<s.count { off = off * s[i] + (s[i] == 1 ? 0 : idx[pad + i]) }
            return off
        }
        var out: [Float] = []
        for flat in 0..<shape.product {
            var idx = [Int](repeating: 0, count: shape.count), r = flat
            for i in stride(from: shape.count - 1, through: 0, by: -1) { idx[i] = r % shape[i]; r /= shape[i] }
            out.append(op(a.scalars[offset(idx, a.shape)], b.scalars[offset(idx, b.shape)]))
        }
        return out
    }

    @Test("broadcasting arithmetic equals index arithmetic exactly", arguments: [
        ([2, 3, 4, 5], [2, 3, 4, 5]), ([2, 3, 4, 5], [5]), ([2, 3, 4, 5], [1, 3, 1, 1]), ([2, 3, 4, 5], [3, 1, 1]),
        ([3, 1, 5], [2, 1, 4, 1]), ([1], [4, 3]), ([6, 7], [6, 1]), ([2, 1, 3], [1, 5, 1]),
    ])
    func broadcasting(a: [Int], b: [Int]) {
        var rng = TestRNG(seed: UInt64(a.product * 31 + b.product))
        let x = rng.tensor(a), y = rng.tensor(b, 0.5, 2)
        // One float32 operation per element on identical operands: bit-exact.
        #expect((x + y).scalars == naiveBroadcast(x, y, +))
        #expect((x - y).scalars == naiveBroadcast(x, y, -))
        #expect((y * x).scalars == naiveBroadcast(y, x, *))
        #expect((x / y).scalars == naiveBroadcast(x, y, /))
        #expect((x + y).shape == broadcastShape(a, b))
    }

    @Test("scalar arithmetic")
    func scalars() {
        let x = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        #expect((x * 2 + 1).scalars == [3, 5, 7, 9])
        #expect((1 - x).scalars == [0, -1, -2, -3])
        #expect((x / 2).scalars == [0.5, 1, 1.5, 2])
        #expect((-x).scalars == [-1, -2, -3, -4])
        var y = x
        y += x
        y *= 0.5
        #expect(y == x)
    }

    @Test("float64 statistics")
    func statistics() {
        var rng = TestRNG(seed: 11)
        let x = rng.tensor([3, 4, 5], 1000, 1001)
        let d = x.scalars.map(Double.init)
        let mean = d.reduce(0, +) / Double(d.count)
        let v = d.map { ($0 - mean) * ($0 - mean) }.reduce(0, +)
        // Double accumulation of 60 floats: relative 1e-14.
        #expect(abs(x.sum64() - d.reduce(0, +)) <= 1e-9)
        #expect(abs(x.variance64() - v / 60) <= 1e-9)
        #expect(abs(x.variance64(unbiased: true) - v / 59) <= 1e-9)
        let m1 = x.mean(axis: 1)
        #expect(m1.shape == [3, 5])
        for i in 0..<3 {
            for k in 0..<5 {
                let ref = (0..<4).map { d[(i * 4 + $0) * 5 + k] }.reduce(0, +) / 4
                #expect(abs(Double(m1.scalars[i * 5 + k]) - ref) <= 1e-4)  // one float32 rounding at ~1000
            }
        }
        #expect(x.mean(axis: -1, keepDims: true).shape == [3, 4, 1])
        #expect(Tensor(shape: [2, 3], scalars: [1, 5, 5, 9, 2, 3]).argmaxLastDim() == [1, 0])
    }
}

@Suite("siluInPlace")
struct SiluInPlaceTests {
    @Test("matches x / (1 + exp(-x)) in float64 over the float range, including the clamps")
    func matchesFloat64() {
        // 10_003 values from -100 to 100 (odd count: the scalar tail runs too).
        let n = 10_003
        let values = (0..<n).map { Float(-100 + 200 * Double($0) / Double(n - 1)) }
        var x = Tensor(shape: [n], scalars: values)
        siluInPlace(&x)
        for (v, y) in zip(values, x.scalars) {
            let e = Double(v) / (1 + Foundation.exp(-Double(v)))
            // Polynomial exp within ~2 ulp, one division: |Δ| <= 4e-7·|e| + 1e-30; below -87 the clamp
            // gives |x|·e^-87 ~ 1e-36 where the exact value is smaller still.
            #expect(abs(Double(y) - e) <= 4e-7 * abs(e) + 1e-30, "silu(\(v)) = \(y), float64 \(e)")
        }
    }
}
