import COpenBLAS
import DigitTensor

/// Eigenvalues (and optionally eigenvectors) of a real symmetric matrix in float64 by LAPACK
/// `dsyevd` (divide and conquer). The one LAPACK caller in DigitMetrics; candidates to move to
/// DigitTensor with the other BLAS/LAPACK wrappers.
enum SymmetricEigen {
    /// Decomposes the symmetric (n, n) `matrix` (row-major; only its upper triangle in row-major
    /// terms is read). Returns the eigenvalues in ascending order and, when `vectors` is true, a
    /// row-major (n, n) array whose row i is the unit eigenvector of eigenvalue i.
    static func decompose(_ matrix: [Double], n: Int, vectors: Bool) throws -> (values: [Double], vectors: [Double]?) {
        precondition(matrix.count == n * n, "SymmetricEigen: \(matrix.count) values for n = \(n)")
        Threads.configureBLAS()
        var a = matrix
        var w = [Double](repeating: 0, count: n)
        // Row-major upper = column-major lower of the same (symmetric) matrix; LAPACK writes the
        // eigenvectors as columns (column-major), i.e. rows of our row-major buffer.
        var jobz: CChar = vectors ? 86 : 78  // "V" : "N"
        var uplo: CChar = 76  // "L"
        var nn = Int32(n), lda = Int32(max(1, n)), info: Int32 = 0
        var lwork: Int32 = -1, liwork: Int32 = -1
        var workQuery = [Double](repeating: 0, count: 1)
        var iworkQuery = [Int32](repeating: 0, count: 1)
        dsyevd_(&jobz, &uplo, &nn, &a, &lda, &w, &workQuery, &lwork, &iworkQuery, &liwork, &info, 1, 1)
        guard info == 0 else { throw MetricsError.lapack(routine: "dsyevd (workspace query)", info: Int(info)) }
        lwork = Int32(workQuery[0].rounded(.up))
        liwork = max(1, iworkQuery[0])
        var work = [Double](repeating: 0, count: Int(lwork))
        var iwork = [Int32](repeating: 0, count: Int(liwork))
        dsyevd_(&jobz, &uplo, &nn, &a, &lda, &w, &work, &lwork, &iwork, &liwork, &info, 1, 1)
        guard info == 0 else { throw MetricsError.lapack(routine: "dsyevd", info: Int(info)) }
        return (w, vectors ? a : nil)
    }
}
