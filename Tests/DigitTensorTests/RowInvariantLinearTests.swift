import CKernels
import DigitTensor
import Testing
import _DigitTestSupport

/// `Gemm.linearRowInvariant`, the decoding projections' kernel (Sources/CKernels/kernels.c).
@Suite("row-invariant linear")
struct RowInvariantLinearTests {
    /// y (m, n) for x (m, k), w (n, k) through `linear(rowInvariant: true)` (Gemm.linearRowInvariant; threads split n).
    static func run(_ x: [Float], _ w: [Float], _ b: [Float]?, m: Int, n: Int, k: Int) -> [Float] {
        linear(Tensor(shape: [m, k], scalars: x), weight: Tensor(shape: [n, k], scalars: w),
               bias: b.map { Tensor(shape: [n], scalars: $0) }, rowInvariant: true).scalars
    }

    @Test("matches a float64 loop within its rounding bound", arguments: [(1, 1, 1), (3, 7, 5), (2, 16, 9), (17, 100, 33), (6, 768, 130), (33, 2048, 20)])
    func matchesFloat64(m: Int, k: Int, n: Int) {
        var rng = TestRNG(seed: UInt64(m * 100_000 + k * 100 + n))
        let x = rng.tensor([m, k]).scalars, w = rng.tensor([n, k]).scalars, b = rng.tensor([n]).scalars
        let y = Self.run(x, w, b, m: m, n: n, k: k)
        // Each lane sums ceil(k/16) products by FMA, then 4 tree additions and the bias: depth
        // d = ceil(k/16) + 5, so |y - exact| <= 1.01 d 2^-24 (Σ|x w| + |b|) (Higham, γ_d).
        let depth = Double((k + 15) / 16 + 5)
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var s = Double(b[j]), mag = abs(Double(b[j]))
                for p in 0..<k {
                    let t = Double(x[i * k + p]) * Double(w[j * k + p])
                    s += t
                    mag += abs(t)
                }
                let bound = 1.01 * depth * 0x1p-24 * mag
                worst = max(worst, abs(Double(y[i * n + j]) - s) / max(bound, .leastNonzeroMagnitude))
            }
        }
        #expect(worst <= 1, "error / bound = \(worst)")
    }

    @Test("row i of an m-row call equals that row alone, bit for bit (m = 1…33)", arguments: [(100, 133), (768, 200), (2048, 64)])
    func rowInvariance(k: Int, n: Int) {
        var rng = TestRNG(seed: UInt64(k * 1000 + n))
        let x = rng.tensor([33, k]).scalars, w = rng.tensor([n, k]).scalars
        let alone = (0..<33).map { i in Self.run(Array(x[(i * k)..<((i + 1) * k)]), w, nil, m: 1, n: n, k: k) }
        for m in 1...33 {
            let y = Self.run(Array(x[0..<(m * k)]), w, nil, m: m, n: n, k: k)
            for i in 0..<m {
                let row = Array(y[(i * n)..<((i + 1) * n)])
                #expect(row.map(\.bitPattern) == alone[i].map(\.bitPattern), "m = \(m), row \(i)")
            }
        }
    }

    @Test("the AVX-512 path and the portable path give the same bits")
    func portableAgrees() {
        var rng = TestRNG(seed: 99)
        let m = 7, k = 777, n = 45
        let x = rng.tensor([m, k]).scalars, w = rng.tensor([n, k]).scalars, b = rng.tensor([n]).scalars
        let y = Self.run(x, w, b, m: m, n: n, k: k)
        var ref = [Float](repeating: .nan, count: m * n)
        dbk_linear_rowinv_portable(x, Int64(k), w, Int64(k), b, &ref, Int64(n), Int64(m), Int64(k), 0, Int64(n))
        #expect(y.map(\.bitPattern) == ref.map(\.bitPattern), "AVX-512 in use: \(Gemm.rowInvariantUsesAVX512)")
    }

    @Test("linear(rowInvariant:) keeps the shape and agrees with sgemm's linear")
    func tensorEntry() {
        var rng = TestRNG(seed: 5)
        let x = rng.tensor([2, 3, 64]), w = rng.tensor([40, 64]), b = rng.tensor([40])
        let y = linear(x, weight: w, bias: b, rowInvariant: true)
        #expect(y.shape == [2, 3, 40])
        // two float32 orders over 64 terms of magnitude <= 1: within 64 * 2^-23 * 2
        #expect(compare(y.scalars, linear(x, weight: w, bias: b).scalars.map(Double.init)).maxAbsDiff <= 2e-5)
    }
}
