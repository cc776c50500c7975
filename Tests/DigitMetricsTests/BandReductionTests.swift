@testable import DigitMetrics
import Foundation
import Testing

/// The own band reduction (`dgeqrt3` panels, block-column symmetric product) against LAPACK
/// `dsytrd_sy2sb` on the same matrices: the same Householder algorithm, so the same band up to
/// rounding (same reflector signs), entry by entry.
@Suite("Band reduction: own vs LAPACK dsytrd_sy2sb")
struct BandReductionTests {
    /// A random symmetric matrix (lower triangle filled; the upper is left at zero), entries
    /// uniform in [-1, 1) times `scale`, plus n on the diagonal for some cases' conditioning.
    static func symmetric(n: Int, seed: UInt64, scale: Double) -> [Double] {
        var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var a = [Double](repeating: 0, count: n * n)
        for j in 0..<n {
            for i in j..<n {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17
                a[j * n + i] = (Double(s >> 11) / 9_007_199_254_740_992 * 2 - 1) * scale
            }
        }
        return a
    }

    // Cases: the last panel shorter than kd (pn < kd), exactly kd, kd = n − 1 (one panel of one
    // row), kd ≥ n/2, several 512-wide blocks of the symmetric product (n = 1100). Bound: 1e-12 of
    // the largest band entry (backward-stable reductions, O(n ε) apart); measured ≤ 3.8e-14 of it
    // (n = 1100), 4e-14 of 222 at n = 2048 in the C prototype.
    @Test("same band as dsytrd_sy2sb", arguments: [(5, 1), (50, 2), (50, 49), (64, 48), (100, 33), (130, 48), (144, 48), (1100, 48)])
    func matchesLAPACK(n: Int, kd: Int) throws {
        for scale in [1.0, 1e-100, 1e100] {
            let a = Self.symmetric(n: n, seed: UInt64(n * 131 + kd), scale: scale)
            var x = a, y = a
            let own = try x.withUnsafeMutableBufferPointer { try BandReduction.own($0.baseAddress!, n: n, kd: kd) }
            let lapack = try y.withUnsafeMutableBufferPointer { try BandReduction.lapack($0.baseAddress!, n: n, kd: kd) }
            #expect(own.count == lapack.count)
            let largest = lapack.map(abs).max() ?? 0
            var worst = 0.0
            for (p, q) in zip(own, lapack) { worst = max(worst, abs(p - q)) }
            #expect(worst <= 1e-12 * largest, "n \(n) kd \(kd) scale \(scale): max |Δ| \(worst) of \(largest)")
            #expect(largest > 0)
        }
    }
}
