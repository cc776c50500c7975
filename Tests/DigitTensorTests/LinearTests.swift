import DigitTensor
import Testing
import _DigitTestSupport

@Suite("matmul / linear")
struct LinearTests {
    @Test("linear matches a float64 loop", arguments: [(1, 1, 1), (3, 5, 7), (17, 33, 65), (64, 129, 10)])
    func linearMatchesNaive(m: Int, k: Int, n: Int) {
        var rng = TestRNG(seed: UInt64(m * 1000 + k * 10 + n))
        let x = rng.tensor([m, k]), w = rng.tensor([n, k]), b = rng.tensor([n])
        let y = linear(x, weight: w, bias: b)
        var ref = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = Double(b.scalars[j])
                for p in 0..<k { s += Double(x.scalars[i * k + p]) * Double(w.scalars[j * k + p]) }
                ref[i * n + j] = s
            }
        }
        // float32 accumulation over k terms of magnitude <= 1: |err| <= k * 2^-23 * k (loose bound).
        let c = compare(y.scalars, ref)
        #expect(y.shape == [m, n])
        #expect(c.maxAbsDiff <= 1e-6 * Double(k) + 1e-6, "\(c)")
    }
}
