import COpenBLAS
import DigitTensor
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Float64 LAPACK routines on symmetric matrices: eigenvalues (and optionally eigenvectors) by
/// `dsyevd` (divide and conquer), and the eigenvalues of a product of two symmetric matrices by
/// Cholesky congruence (`dpotrf` + `dsygst` + `dsyevd`). The LAPACK callers of DigitMetrics;
/// candidates to move to DigitTensor with the other BLAS/LAPACK wrappers.
///
/// Matrices are row-major (n, n) and symmetric; LAPACK sees them column-major, so its lower
/// triangle ("L") is our upper triangle — the same values for a symmetric array.
enum SymmetricEigen {
    /// Decomposes the symmetric (n, n) `matrix` (row-major; only its upper triangle in row-major
    /// terms is read). Returns the eigenvalues in ascending order and, when `vectors` is true, a
    /// row-major (n, n) array whose row i is the unit eigenvector of eigenvalue i.
    static func decompose(_ matrix: [Double], n: Int, vectors: Bool) throws -> (values: [Double], vectors: [Double]?) {
        precondition(matrix.count == n * n, "SymmetricEigen: \(matrix.count) values for n = \(n)")
        var a = matrix
        let w = try decomposeInPlace(&a, n: n, vectors: vectors)
        return (w, vectors ? a : nil)
    }

    /// `dsyevd` on `a` in place: returns the ascending eigenvalues; with `vectors`, `a` then holds
    /// the eigenvectors as rows (row-major), otherwise its contents are destroyed.
    private static func decomposeInPlace(_ a: inout [Double], n: Int, vectors: Bool) throws -> [Double] {
        Threads.configureBLAS()
        var w = [Double](repeating: 0, count: n)
        // Row-major upper = column-major lower of the same (symmetric) matrix; LAPACK writes the
        // eigenvectors as columns (column-major), i.e. rows of our row-major buffer.
        var jobz: CChar = vectors ? 86 : 78  // "V" : "N"
        var uplo: CChar = 76  // "L"
        var nn = Int32(n), lda = Int32(max(1, n)), info: Int32 = 0
        var lwork: Int32 = -1, liwork: Int32 = -1
        var workQuery = [Double](repeating: 0, count: 1)
        var iworkQuery = [Int32](repeating: 0, count: 1)
        Threads.blasCall { _ = dsyevd_(&jobz, &uplo, &nn, &a, &lda, &w, &workQuery, &lwork, &iworkQuery, &liwork, &info, 1, 1) }  // serialised against BLAS thread-count changes
        guard info == 0 else { throw MetricsError.lapack(routine: "dsyevd (workspace query)", info: Int(info)) }
        lwork = Int32(workQuery[0].rounded(.up))
        liwork = max(1, iworkQuery[0])
        var work = [Double](repeating: 0, count: Int(lwork))
        var iwork = [Int32](repeating: 0, count: Int(liwork))
        Threads.blasCall { _ = dsyevd_(&jobz, &uplo, &nn, &a, &lda, &w, &work, &lwork, &iwork, &liwork, &info, 1, 1) }  // serialised against BLAS thread-count changes
        guard info == 0 else { throw MetricsError.lapack(routine: "dsyevd", info: Int(info)) }
        return w
    }

    /// Why ``productEigenvalues(_:_:n:pivotTolerance:)`` declined.
    enum CongruenceRefusal: Equatable {
        /// `dpotrf` found a non-positive leading minor of this order (1-based).
        case notPositiveDefinite(minor: Int)
        /// The factorisation succeeded but its smallest squared pivot is at or below the tolerance
        /// (numerically rank-deficient: the null-space directions would be rounding noise).
        case smallPivot(Double)
    }

    /// The eigenvalues (ascending) of `s1 · s2` for symmetric positive definite `s1` and symmetric
    /// `s2`: with `s1 = L Lᵀ` (`dpotrf`), `s1 s2` is similar to `Lᵀ s2 L` (`dsygst`, itype 3), whose
    /// eigenvalues come from `dsyevd` without vectors. About 2.7 n³ flops, all in blocked LAPACK —
    /// a fraction of the eigenvector decomposition. Returns the refusal instead when `s1` is not
    /// (numerically) positive definite: `dpotrf` fails, or a squared pivot `L_ii²` is
    /// `≤ pivotTolerance`. Also returns the smallest squared pivot (an upper bound on λmin(s1)).
    /// With `twoStageBandwidth` and `sqrtTraceSuffices`, the two-stage path may return Σ sqrt(λ)
    /// (``TridiagonalTrace``, when the tridiagonal matrix is positive definite) and no values.
    static func productEigenvalues(
        _ s1: [Double], _ s2: [Double], n: Int, pivotTolerance: Double, twoStageBandwidth: Int? = nil,
        sqrtTraceSuffices: Bool = false
    ) throws -> Result<ProductSpectrum, CongruenceRefusalError> {
        precondition(s1.count == n * n && s2.count == n * n, "SymmetricEigen: sizes for n = \(n)")
        Threads.configureBLAS()
        let l = FrechetStages.time("copy") { HugePageMatrix(copying: s1) }
        var uplo: CChar = 76  // "L"
        var nn = Int32(n), lda = Int32(max(1, n)), info: Int32 = 0
        FrechetStages.time("dpotrf") { info = choleskyLower(l.base, n: n) }
        if info > 0 { return .failure(CongruenceRefusalError(reason: .notPositiveDefinite(minor: Int(info)))) }
        guard info == 0 else { throw MetricsError.lapack(routine: "dpotrf", info: Int(info)) }
        var minPivot = Double.infinity
        for i in 0..<n { minPivot = min(minPivot, l.base[i * n + i] * l.base[i * n + i]) }
        if minPivot <= pivotTolerance { return .failure(CongruenceRefusalError(reason: .smallPivot(minPivot))) }
        if let kd = twoStageBandwidth {
            let m = FrechetStages.time("congruence") { congruence(factor: l, s2, n: n) }
            let outcome = try TwoStageTridiagonal.reduce(m.base, n: n, bandwidth: kd, wantSqrtTrace: sqrtTraceSuffices)
            return .success(ProductSpectrum(outcome: outcome, minPivotSquared: minPivot))
        }
        var a = s2
        var itype: Int32 = 3
        Threads.blasCall { _ = dsygst_(&itype, &uplo, &nn, &a, &lda, l.base, &lda, &info, 1) }  // serialised against BLAS thread-count changes
        guard info == 0 else { throw MetricsError.lapack(routine: "dsygst", info: Int(info)) }
        let w = try decomposeInPlace(&a, n: n, vectors: false)
        return .success(ProductSpectrum(outcome: .eigenvalues(w, quadratureDeclined: nil), minPivotSquared: minPivot))
    }

    /// The eigenvalues of Lᵀ s2 L (ascending), or — when the caller only needs Σ sqrt(λ) and the
    /// two-stage path could take the quadrature — that sum; and the smallest squared pivot of L.
    struct ProductSpectrum {
        var outcome: TwoStageTridiagonal.Outcome
        var minPivotSquared: Double
    }

    struct CongruenceRefusalError: Error { var reason: CongruenceRefusal }

    /// `dpotrf` ('L') of the column-major n × n matrix at `a`, right-looking by 128-column blocks:
    /// `dpotrf` of the diagonal block, `dtrsm` of the panel below, `dsyrk` of the trailing matrix.
    /// The same factor to rounding (1.9e-15 apart at n = 2048); 0.052–0.054 s against OpenBLAS's
    /// own `dpotrf` 0.060–0.065 s at n = 2048 on two threads (C A/B, four pairs per block size;
    /// 96 and 160 are no better). Returns `dpotrf`'s info, leading-minor orders counted from the
    /// whole matrix.
    static func choleskyLower(_ a: UnsafeMutablePointer<Double>, n: Int) -> Int32 {
        var uplo: CChar = 76  // "L"
        let block = 128
        var lda = Int32(max(1, n))
        for j in stride(from: 0, to: n, by: block) {
            var b = Int32(min(block, n - j)), info: Int32 = 0
            let diagonal = a + j * n + j
            Threads.blasCall { _ = dpotrf_(&uplo, &b, diagonal, &lda, &info, 1) }
            if info != 0 { return info > 0 ? info + Int32(j) : info }
            let m = Int32(n - j - Int(b))
            if m > 0 {
                let panel = diagonal + Int(b)
                Threads.blasCall {
                    cblas_dtrsm(CblasColMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, m, b, 1, diagonal, lda, panel, lda)
                    cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, m, b, -1, panel, lda, 1, panel + Int(b) * n, lda)
                }
            }
        }
        return 0
    }

    /// Lᵀ S L (column-major; its lower triangle and the diagonal blocks are filled, the rest is
    /// unspecified) for the `dpotrf` factor in the lower triangle of `l` (only that triangle is
    /// read) and symmetric `s`: W = S L by one `dtrmm`, then each block column J of the lower
    /// triangle, (Lᵀ W)[J..<n, J] = L[J..<n, J..<n]ᵀ W[J..<n, J], by one triangular `dtrmm` per block
    /// column of 256, in place — 4/3 n³ flops, all in `dtrmm` (which runs at or above the `dgemm`
    /// rate here). `dsygst` does n³ in many smaller calls at about half that rate; the second half
    /// as one `dgemm` per block row (session 4) took 0.061–0.068 s against 0.046–0.049 s at n = 2048
    /// (`tools/frechet_profile.c`-style A/B, idle). The result overwrites W, so the only n × n
    /// buffer besides `l` is the returned one.
    static func congruence(factor l: HugePageMatrix, _ s: [Double], n: Int) -> HugePageMatrix {
        let pl = l.base
        let w = HugePageMatrix(copying: s)
        let pw = w.base
        let block = 256
        let nn = Int32(n)
        Threads.blasCall {
            cblas_dtrmm(CblasColMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, nn, nn, 1, pl, nn, pw, nn)
        }
        for j in stride(from: 0, to: n, by: block) {
            let b = min(block, n - j)
            // (Lᵀ W)[j..<n, j..<j+b] = L[j..<n, j..<n]ᵀ W[j..<n, j..<j+b] (rows above j of Lᵀ's
            // columns j... are zero), in place: no other block column reads these entries.
            Threads.blasCall {
                cblas_dtrmm(
                    CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, Int32(n - j), Int32(b), 1,
                    pl + j * n + j, nn, pw + j * n + j, nn)
            }
        }
        return w
    }
}

/// A float64 work matrix of the Fréchet path (n × n, 33.5 MB at d = 2048), 2 MiB-aligned and marked
/// `MADV_HUGEPAGE`: filling it costs one page fault per 2 MiB instead of one per 4 KiB page (8192
/// faults, each clearing a page, for a fresh `[Double]` of that size: glibc maps such sizes anew on
/// every allocation), and BLAS walks it with fewer TLB misses. Where the kernel has transparent huge
/// pages off, it is an ordinary aligned buffer.
final class HugePageMatrix {
    let count: Int
    let base: UnsafeMutablePointer<Double>

    init(copying source: [Double]) {
        count = source.count
        let alignment = 1 << 21
        let bytes = max(1, (count * MemoryLayout<Double>.stride + alignment - 1) / alignment * alignment)
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, alignment, bytes) == 0, let raw else {
            fatalError("HugePageMatrix: cannot allocate \(bytes) bytes")
        }
        _ = madvise(raw, bytes, MADV_HUGEPAGE)
        base = raw.bindMemory(to: Double.self, capacity: count)
        // Both threads fault in and fill their half (about 11 ms for 33.5 MB on one thread).
        source.withUnsafeBufferPointer { src in
            let chunk = 1 << 18
            parallelFor((count + chunk - 1) / chunk, grain: 4) { [base, count] c in
                let lo = c * chunk
                (base + lo).update(from: src.baseAddress! + lo, count: min(chunk, count - lo))
            }
        }
    }

    deinit { free(base) }
}
