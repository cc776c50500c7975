import CKernels
@testable import DigitMetrics
import Foundation
import Testing

/// Σ sqrt(λ) of a positive definite tridiagonal matrix by quadrature (`TridiagonalTrace`), against
/// an independent reference: every eigenvalue by Sturm-count bisection in Float80 (64-bit
/// significand, pivots of T − x I, which fix each eigenvalue of these matrices to high relative
/// accuracy), square roots summed in Float80. Also against LAPACK `dsterf`, whose absolute
/// eigenvalue error (ε ‖T‖) shows in the roots of tiny eigenvalues.
@Suite("Tridiagonal Σ sqrt(λ) by quadrature")
struct TridiagonalTraceTests {
    /// Diagonal and off-diagonal of a test matrix; every kind is positive definite.
    static func matrix(_ kind: String, n: Int, scale: Double) -> (d: [Double], e: [Double]) {
        var s: UInt64 = 0x2545_F491_4F6C_DD1D
        func uniform() -> Double { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return Double(s >> 11) / 9_007_199_254_740_992 }
        var d = [Double](repeating: 0, count: n), e = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let u = uniform(), v = uniform() * 2 - 1
            switch kind {
            case "random": d[i] = 2 + u; e[i] = 0.9 * v  // diagonally dominant, λ in ~[0.2, 4.8]
            case "laplacian": d[i] = 2; e[i] = -1  // λ = 2 − 2 cos(kπ/(n+1)): λmin ~ 1e-4 .. 1e-6
            default: d[i] = 3 * pow(10, -12 * u); e[i] = v  // graded: diagonal over 12 decades
            }
        }
        if kind == "graded" { for i in 0..<(n - 1) { e[i] *= 0.45 * min(d[i], d[i + 1]) } }
        return (d.map { $0 * scale }, e.map { $0 * scale })
    }

    /// Σ sqrt(λ) by bisection on Sturm counts in Float80.
    static func reference(_ d: [Double], _ e: [Double]) -> Float80 {
        let n = d.count
        let e2 = (0..<max(0, n - 1)).map { Float80(e[$0]) * Float80(e[$0]) }
        func below(_ x: Float80) -> Int {
            var count = 0
            var p = Float80(d[0]) - x
            if p < 0 { count += 1 }
            for k in 1..<max(1, n) {
                if p == 0 { p = Float80.leastNormalMagnitude }
                p = (Float80(d[k]) - x) - e2[k - 1] / p
                if p < 0 { count += 1 }
            }
            return count
        }
        var upper: Float80 = 0
        for k in 0..<n { upper = max(upper, Float80(d[k]) + (k > 0 ? Float80(abs(e[k - 1])) : 0) + (k < n - 1 ? Float80(abs(e[k])) : 0)) }
        var total: Float80 = 0
        for j in 0..<n {
            var lo: Float80 = 0, hi = upper
            for _ in 0..<400 {
                let mid = (lo + hi) / 2
                if mid <= lo || mid >= hi { break }
                if below(mid) > j { hi = mid } else { lo = mid }
            }
            total += ((lo + hi) / 2).squareRoot()
        }
        return total
    }

    // Bound 1e-14 relative (trapezoidal error ≈ 3e-17, n roundings per shifted trace, compensated
    // sums; measured ≤ 1.9e-16 on every case); the scales 1e-150 and 1e150 check the scaling by
    // the Gershgorin bound.
    @Test("matches Float80 bisection", arguments: ["random", "laplacian", "graded"], [1.0, 1e-150, 1e150])
    func matchesBisection(kind: String, scale: Double) throws {
        for n in [1, 2, 7, 300] {
            let (d, e) = Self.matrix(kind, n: n, scale: scale)
            let got = try #require(TridiagonalTrace.sqrtTrace(d: d, e: e))
            let want = Double(Self.reference(d, e))
            let rel = abs(got.value - want) / want
            #expect(rel <= 1e-14, "\(kind) n \(n) scale \(scale): \(got.value) vs \(want) (rel \(rel))")
            #expect(got.nodes == 488)
        }
    }

    // Where dsterf is accurate (λ of one magnitude) the two agree to rounding; on the graded matrix
    // the quadrature stays within 1e-14 of the reference while dsterf's sum is off by more
    // (measured 1e-12 at n = 2048 in a C prototype) — so the reference, not dsterf, is the bound.
    @Test("agrees with dsterf where dsterf is accurate")
    func agreesWithDsterf() throws {
        for kind in ["random", "laplacian"] {
            let (d, e) = Self.matrix(kind, n: 500, scale: 1)
            let w = try TwoStageTridiagonal.tridiagonalEigenvalues(d: d, e: e)
            let lapack = w.reduce(0) { $0 + max(0, $1).squareRoot() }
            let got = try #require(TridiagonalTrace.sqrtTrace(d: d, e: e))
            #expect(abs(got.value - lapack) / lapack <= 1e-13, "\(kind): \(got.value) vs dsterf \(lapack)")
        }
    }

    // Nearly singular positive definite matrices, eigenvalues far below rounding (ε ρ): B Bᵀ and
    // Bᵀ B for bidiagonal B with a quarter of one diagonal at 1e-8 … 1e-17, and a path-graph
    // Laplacian whose last diagonal entry is 1 + 2⁻⁴⁰ … 2⁻⁵⁹ (one eigenvalue ~ that excess / n).
    // Unclamped, rounding put 443 of the shifted traces of 20 000 such matrices outside their exact
    // range [0, n] (a C probe; some as far as −91.7): every one must now be inside. Σ sqrt(λ) is then
    // off by about sqrt(ε ρ) per eigenvalue at the noise level, as dsterf with its negatives
    // clamped; bound 4 sqrt(n ε ρ), absolute, against the Float80 reference (every 8th matrix).
    @Test("nearly singular: shifted traces in range, error at the sqrt(ε ρ) noise level")
    func nearlySingular() throws {
        var s: UInt64 = 0x9E37_79B9_7F4A_7C15
        func uniform() -> Double { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return Double(s >> 11) / 9_007_199_254_740_992 }
        var accepted = 0
        for trial in 0..<1200 {
            let n = 2 + Int(uniform() * 60)
            var d = [Double](repeating: 0, count: n), e = [Double](repeating: 0, count: n)
            if trial % 3 == 0 {
                for k in 0..<n { d[k] = 2 }
                d[0] = 1
                d[n - 1] = 1 + pow(2, -40 - Double(Int(uniform() * 20)))
                for k in 0..<(n - 1) { e[k] = -1 }
            } else {
                let a = (0..<n).map { _ in uniform() < 0.25 ? pow(10, -8 - Double(Int(uniform() * 10))) : 0.5 + uniform() }
                let b = (0..<n).map { _ in 0.5 + uniform() }
                let (p, q) = trial % 3 == 1 ? (a, b) : (b, a)  // B Bᵀ or Bᵀ B
                for k in 0..<n {
                    d[k] = p[k] * p[k] + (k > 0 ? q[k - 1] * q[k - 1] : 0)
                    if k < n - 1 { e[k] = p[k] * q[k] }
                }
            }
            let e2 = (0..<n).map { $0 < n - 1 ? e[$0] * e[$0] : 0 }
            guard dbk_tridiag_positive_definite(Int64(n), d, e2) == 1 else { continue }
            accepted += 1
            var scratch = [Double](repeating: 0, count: 8 * n), g = [Double](repeating: 0, count: 8)
            let rho = (0..<n).map { d[$0] + ($0 > 0 ? abs(e[$0 - 1]) : 0) + ($0 < n - 1 ? abs(e[$0]) : 0) }.max()!
            for block in 0..<61 {
                let shifts = (0..<8).map { rho * exp(2 * (-80 + Double(block * 8 + $0) * 0.25)) }
                dbk_tridiag_shifted_traces8(Int64(n), d, e2, shifts, &scratch, &g)
                for l in 0..<8 where !(g[l] >= 0 && g[l] <= Double(n)) {
                    Issue.record("trial \(trial), n \(n): g(\(shifts[l])) = \(g[l]) outside [0, \(n)]")
                }
            }
            if trial % 8 == 0, let got = TridiagonalTrace.sqrtTrace(d: d, e: e) {
                let want = Double(Self.reference(d, e))
                let bound = 4 * (Double(n) * Double.ulpOfOne * rho).squareRoot()
                #expect(abs(got.value - want) <= bound, "trial \(trial), n \(n): \(got.value) vs \(want), bound \(bound)")
            }
        }
        #expect(accepted > 600, "only \(accepted) of 1200 matrices passed the pivot test")
    }

    @Test("not positive definite, or not finite: nil (the caller takes dsterf)")
    func refuses() {
        #expect(TridiagonalTrace.sqrtTrace(d: [1, 1], e: [2]) == nil)  // λ = −1, 3
        #expect(TridiagonalTrace.sqrtTrace(d: [1, 0, 1], e: [0, 0]) == nil)  // a zero eigenvalue
        #expect(TridiagonalTrace.sqrtTrace(d: [-1], e: [0]) == nil)
        #expect(TridiagonalTrace.sqrtTrace(d: [1, .nan], e: [0]) == nil)
        #expect(TridiagonalTrace.sqrtTrace(d: [1, .infinity], e: [0]) == nil)
    }

    @Test("the vector and portable loops give the same bits")
    func vectorMatchesPortable() {
        let (d, e) = Self.matrix("graded", n: 257, scale: 1)
        let e2 = (0..<257).map { $0 < 256 ? e[$0] * e[$0] : 0 }
        let shifts = (0..<8).map { exp(Double($0 * 9 - 40)) }
        var scratch = [Double](repeating: 0, count: 8 * 257)
        var a = [Double](repeating: 0, count: 8), b = [Double](repeating: 0, count: 8)
        dbk_tridiag_shifted_traces8(257, d, e2, shifts, &scratch, &a)
        dbk_tridiag_shifted_traces8_portable(257, d, e2, shifts, &scratch, &b)
        #expect(a == b, "ISA \(dbk_tridiag_isa()): \(a) vs \(b)")
        // Each lane is a sum of 257 terms in (0, 1], decreasing with the shift.
        for l in 0..<8 { #expect(a[l] > 0 && a[l] <= 257) }
        for l in 1..<8 { #expect(a[l] < a[l - 1]) }
    }
}
