import COpenBLAS

extension Threads {
    /// Runs `body` with OpenBLAS limited to one thread, so that `body` may run several workers that
    /// each call ``Gemm`` (e.g. one image per core through a network whose sgemm calls are too small
    /// to split well across threads). Restores ``Threads/count`` BLAS threads afterwards.
    ///
    /// Not reentrant across unrelated callers: use it around a whole parallel section.
    public static func withSingleThreadedBLAS<R>(_ body: () throws -> R) rethrows -> R {
        configureBLAS()
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(Int32(Threads.count)) }
        return try body()
    }
}
