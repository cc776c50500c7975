import COpenBLAS
import DigitTensor
import Foundation

/// The first stage of the two-stage tridiagonalisation: a symmetric matrix (lower triangle,
/// column-major) to a band of half-width kd by orthogonal similarity, with the band in LAPACK's
/// lower band storage ((kd + 1) × n, column j holding A[j...j+kd, j]).
///
/// `own` is LAPACK `dsytrd_sy2sb`'s algorithm — per kd-column panel: QR of the panel below the band,
/// W = A22 (V T), W −= ½ V (Tᵀ Vᵀ W)... as Sᵀ W, then A22 −= V Wᵀ + W Vᵀ (`dsyr2k`) — with two
/// changes that measured faster on two threads at n = 2048, kd = 48 (C A/B in one run, docs/frechet-perf.md):
/// - the panel QR by `dgeqrt3` (recursive, level 3, and it returns the block reflector's T) instead
///   of `dgeqrf` + `dlarft`: 0.027–0.034 s against 0.043–0.047 s for all panels;
/// - the symmetric product A22 (V T) by 512-wide block columns — `dsymm` on the diagonal block and
///   two `dgemm`s on the contiguous panel below it — instead of one `dsymm` of the whole trailing
///   matrix, whose packing reads half of it with a stride.
/// Together 0.21–0.29 s against `dsytrd_sy2sb`'s 0.24–0.32 s in the same runs. The band agrees with
/// LAPACK's to rounding (4e-14 of 222 at n = 2048; `BandReductionTests`).
enum BandReduction {
    /// Which implementation ``TwoStageTridiagonal`` uses; `DIGIT_BENCH_BAND_REDUCTION=lapack` for
    /// `dsytrd_sy2sb` (A/B runs).
    nonisolated(unsafe) static var useOwn = ProcessInfo.processInfo.environment["DIGIT_BENCH_BAND_REDUCTION"] != "lapack"

    /// The band of the matrix whose lower triangle is in `a` (n × n, leading dimension n;
    /// destroyed), 1 ≤ kd ≤ n − 1.
    static func reduce(_ a: UnsafeMutablePointer<Double>, n: Int, kd: Int) throws -> [Double] {
        try useOwn ? own(a, n: n, kd: kd) : lapack(a, n: n, kd: kd)
    }

    /// LAPACK `dsytrd_sy2sb` ('L').
    static func lapack(_ a: UnsafeMutablePointer<Double>, n: Int, kd: Int) throws -> [Double] {
        var uplo: CChar = 76  // "L"
        var nn = Int32(n), kk = Int32(kd), lda = Int32(n), ldab = Int32(kd + 1), info: Int32 = 0
        var ab = [Double](repeating: 0, count: (kd + 1) * n)
        var tau = [Double](repeating: 0, count: n)
        var query = [Double](repeating: 0, count: 1)
        var lwork: Int32 = -1
        Threads.blasCall { dsytrd_sy2sb_(&uplo, &nn, &kk, a, &lda, &ab, &ldab, &tau, &query, &lwork, &info, 1) }
        guard info == 0 else { throw MetricsError.lapack(routine: "dsytrd_sy2sb (workspace query)", info: Int(info)) }
        lwork = max(1, Int32(query[0].rounded(.up)))
        var work = [Double](repeating: 0, count: Int(lwork))
        Threads.blasCall { dsytrd_sy2sb_(&uplo, &nn, &kk, a, &lda, &ab, &ldab, &tau, &work, &lwork, &info, 1) }
        guard info == 0 else { throw MetricsError.lapack(routine: "dsytrd_sy2sb", info: Int(info)) }
        return ab
    }

    /// The same reduction with `dgeqrt3` panels and a block-column symmetric product (see above).
    static func own(_ a: UnsafeMutablePointer<Double>, n: Int, kd: Int) throws -> [Double] {
        precondition(kd >= 1 && kd < n, "BandReduction: n \(n), kd \(kd)")
        let ldab = kd + 1
        var ab = [Double](repeating: 0, count: ldab * n)
        var t = [Double](repeating: 0, count: kd * kd), s1 = [Double](repeating: 0, count: kd * kd)
        var s2 = [Double](repeating: 0, count: n * kd), w = [Double](repeating: 0, count: n * kd)
        var tau = [Double](repeating: 0, count: kd)
        var work = [Double](repeating: 0, count: kd * 64)
        let ld = Int32(n), block = 512
        /// Band columns j..<end: A[j...min(j + kd, n − 1), j].
        func copyBand(_ j0: Int, _ end: Int) {
            for j in j0..<end {
                let count = min(kd, n - 1 - j) + 1
                for r in 0..<count { ab[j * ldab + r] = a[j * n + j + r] }
            }
        }
        var failure: (String, Int32)?
        Threads.blasCall {
            var i = 0
            while i + kd < n {
                let top = i + kd, pn = n - top, pk = min(pn, kd)
                let panel = a + i * n + top  // pn × kd, rows top..<n of columns i..<i+kd
                var m = Int32(pn), cols = Int32(kd), k = Int32(pk), ldt = Int32(kd), lda = ld, info: Int32 = 0
                for x in 0..<(kd * kd) { t[x] = 0 }
                if pn >= kd {
                    dgeqrt3_(&m, &cols, panel, &lda, &t, &ldt, &info)
                    if info != 0 { failure = ("dgeqrt3", info); return }
                } else {
                    var lwork = Int32(work.count)
                    dgeqrf_(&m, &cols, panel, &lda, &tau, &work, &lwork, &info)
                    if info != 0 { failure = ("dgeqrf", info); return }
                }
                copyBand(i, i + pk)
                // V explicit: unit diagonal, zeros above (the band copy above took R from there).
                for c in 0..<pk {
                    for r in 0..<c { panel[c * n + r] = 0 }
                    panel[c * n + c] = 1
                }
                if pn < kd {
                    var direct: CChar = 70, storev: CChar = 67  // "F", "C"
                    dlarft_(&direct, &storev, &m, &k, panel, &lda, &tau, &t, &ldt, 1, 1)
                }
                let a22 = a + top * n + top
                s2.withUnsafeMutableBufferPointer { ps2 in
                    w.withUnsafeMutableBufferPointer { pw in
                        let ps2 = ps2.baseAddress!, pw = pw.baseAddress!
                        // S2 = V T (T upper triangular, its lower part zero).
                        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, k, k, 1, panel, ld, t, ldt, 0, ps2, m)
                        // W = A22 S2 by block columns of A22's lower triangle.
                        for j in stride(from: 0, to: pn, by: block) {
                            let b = min(block, pn - j), rest = pn - j - b
                            let beta: Double = j == 0 ? 0 : 1
                            cblas_dsymm(CblasColMajor, CblasLeft, CblasLower, Int32(b), k, 1, a22 + j * n + j, ld, ps2 + j, m, beta, pw + j, m)
                            if rest > 0 {
                                let below = a22 + j * n + j + b
                                cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, Int32(rest), k, Int32(b), 1, below, ld, ps2 + j, m, beta, pw + j + b, m)
                                cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, Int32(b), k, Int32(rest), 1, below, ld, ps2 + j + b, m, 1, pw + j, m)
                            }
                        }
                        // W −= ½ V (S2ᵀ W), then A22 −= V Wᵀ + W Vᵀ.
                        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, k, k, m, 1, ps2, m, pw, m, 0, &s1, ldt)
                        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, k, k, -0.5, panel, ld, s1, ldt, 1, pw, m)
                        cblas_dsyr2k(CblasColMajor, CblasLower, CblasNoTrans, m, k, -1, panel, ld, pw, m, 1, a22, ld)
                    }
                }
                i += kd
            }
            copyBand(max(0, n - kd), n)
        }
        if let (routine, info) = failure { throw MetricsError.lapack(routine: routine, info: Int(info)) }
        return ab
    }
}
