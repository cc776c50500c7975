import CKernels
import DigitTensor
import Foundation

/// tr sqrt(T) = Σ sqrt(λ_i) for a symmetric positive definite tridiagonal T, without its eigenvalues.
///
/// For x > 0, sqrt(x) = (2/π) ∫ x eᵘ / (x + e²ᵘ) du over the real line; the integrand is
/// (sqrt(x)/2) sech(u − ln sqrt(x)), so the trapezoidal rule with step h has relative error about
/// 4 exp(−π²/h) (Poisson summation; 3e-17 at h = 1/4) once the nodes cover ln sqrt(x) ± 40. Summed over
/// the eigenvalues, each node u_j needs g(s) = Σ λ_i / (λ_i + s) = tr(T (T + sI)⁻¹) at s = e^{2u_j},
/// which twisted LDLᵀ factorisations give in O(n) (CKernels' `dbk_tridiag_shifted_traces8`, eight
/// nodes per call; every term in [0, 1], formed without cancellation unless T is nearly singular):
///
///   tr sqrt(T) ≈ (2h/π) Σ_j e^{u_j} g(e^{2u_j}).
///
/// T is first scaled by its Gershgorin bound ρ ≥ λmax (so λ/ρ ≤ 1 and every shift stays in range),
/// and the nodes run over u ∈ [−80, 41.75] (481 steps of ¼ rounded up to whole vectors): eigenvalues
/// below e⁻⁸⁰ ρ (sqrt below 4e-18 sqrt(ρ)) are the only ones not integrated to full accuracy, and their
/// whole contribution is below that. 488 nodes,
/// about 1 M divisions at n = 2048: a few milliseconds on two threads where `dsterf`'s implicit QL
/// (a chain of dependent divisions) takes 0.085 s on one. Where λmin is well above ε ρ it is at
/// least as accurate as `dsterf` (long-double bisection reference: graded matrices, where `dsterf`'s
/// absolute eigenvalue error shows in the square roots of the small eigenvalues, 1e-12 vs 1e-16).
/// On nearly singular T (λmin ≲ ε ρ, e.g. a nearly rank-deficient Σ2) both are off by about
/// sqrt(ε ρ) per such eigenvalue — the roots of rounding noise — the quadrature with its terms
/// clamped to their exact range [0, 1] no worse than `dsterf` with its negatives clamped.
enum TridiagonalTrace {
    /// Trapezoidal step and node range in u = ln sqrt(s / ρ).
    static let step = 0.25
    static let lowestNode = -80.0
    static let highestNode = 40.0

    /// Σ sqrt(λ_i) and the number of quadrature nodes, or nil when T is not positive definite (a
    /// non-positive LDLᵀ pivot; the caller then needs the eigenvalues, e.g. `dsterf`), or T or the
    /// result is not finite.
    /// `d`: the n diagonal entries, `e`: the off-diagonal (first n − 1 entries used).
    static func sqrtTrace(d: [Double], e: [Double]) -> (value: Double, nodes: Int)? {
        let n = d.count
        if n == 0 { return (0, 0) }
        var rho = 0.0
        for k in 0..<n {
            let left = k > 0 ? abs(e[k - 1]) : 0, right = k < n - 1 ? abs(e[k]) : 0
            rho = max(rho, d[k] + left + right)
        }
        guard rho.isFinite, rho > 0 else { return nil }
        let ds = d.map { $0 / rho }
        var e2 = [Double](repeating: 0, count: n)
        for k in 0..<(n - 1) { let v = e[k] / rho; e2[k] = v * v }
        guard dbk_tridiag_positive_definite(Int64(n), ds, e2) == 1 else { return nil }

        let lanes = 8
        let count = Int(((highestNode - lowestNode) / step).rounded(.down)) + 1
        let blocks = (count + lanes - 1) / lanes
        let nodes = blocks * lanes
        var g = [Double](repeating: 0, count: nodes)
        g.withUnsafeMutableBufferPointer { pg in
            let pg = pg.baseAddress!
            parallelFor(blocks) { b in
                var shifts = [Double](repeating: 0, count: lanes)
                for l in 0..<lanes {
                    let u = lowestNode + Double(b * lanes + l) * step
                    shifts[l] = exp(2 * u)
                }
                var scratch = [Double](repeating: 0, count: lanes * n)
                dbk_tridiag_shifted_traces8(Int64(n), ds, e2, shifts, &scratch, pg + b * lanes)
            }
        }
        // Σ_j e^{u_j} g_j in node order (compensated), so the value does not depend on the threads.
        var sum = 0.0, comp = 0.0
        for j in 0..<nodes {
            let y = exp(lowestNode + Double(j) * step) * g[j] - comp
            let t = sum + y
            comp = (t - sum) - y
            sum = t
        }
        let value = sum * 2 * step / Double.pi * rho.squareRoot()
        return value.isFinite ? (value, nodes) : nil
    }
}
