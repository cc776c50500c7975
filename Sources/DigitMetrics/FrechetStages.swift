import Foundation

/// Wall time of each stage of the two-stage Fréchet path (`cholesky-2stage`), for
/// `digit-bench bench frechet --stages`: `checks` (finiteness), `copy` (Σ1), `dpotrf`, `congruence`
/// (with the copy of Σ2), `band reduction` (``BandReduction``), `chase`, then `quadrature` (Σ√λ, ``TridiagonalTrace``) or `dsterf`,
/// reported in that order as each one finishes. Nothing is measured while no observer is set.
public enum FrechetStages {
    /// Receives (stage, wall seconds). Set it only around single-threaded benchmark code.
    nonisolated(unsafe) public static var observer: ((String, Double) -> Void)?

    @inline(__always) static func time<R>(_ stage: String, _ body: () throws -> R) rethrows -> R {
        guard let observer else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        let r = try body()
        observer(stage, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        return r
    }
}
