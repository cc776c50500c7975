import COpenBLAS
import Dispatch
import Foundation

/// Thread configuration shared by BLAS and digit-bench's own loops.
///
/// One rule keeps the two cores of a small machine from being oversubscribed: BLAS calls are made
/// from one thread at a time and use `Threads.count` OpenBLAS threads; `parallelFor` bodies never
/// call BLAS (they may call ``Gemm`` only after `Threads.withSingleThreadedBLAS`).
public enum Threads {
    /// The number of worker threads: `DIGIT_BENCH_THREADS`, else the active processor count.
    public static let count: Int = {
        if let s = ProcessInfo.processInfo.environment["DIGIT_BENCH_THREADS"], let n = Int(s), n > 0 {
            return n
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    private static let configureOnce: Void = {
        openblas_set_num_threads(Int32(Threads.count))
    }()

    /// Sets OpenBLAS to `count` threads (idempotent; called by ``Gemm`` before the first BLAS call).
    public static func configureBLAS() { _ = configureOnce }

    /// Runs `body` with OpenBLAS limited to one thread, so that `body` may call ``Gemm`` from
    /// inside ``parallelFor`` tasks (each task then runs its own single-threaded gemm; OpenBLAS
    /// 0.3.x is safe to call concurrently). Restores ``count`` threads afterwards.
    public static func withSingleThreadedBLAS<R>(_ body: () throws -> R) rethrows -> R {
        configureBLAS()
        if count == 1 { return try body() }
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(Int32(count)) }
        return try body()
    }

    /// The OpenBLAS kernel in use (e.g. `Haswell`), its build configuration and thread count.
    public static var blasDescription: String {
        configureBLAS()
        let core = String(cString: openblas_get_corename())
        let config = String(cString: openblas_get_config())
        return "\(config); core \(core); \(openblas_get_num_threads()) threads"
    }
}

/// Runs `body(i)` for `i` in `0..<n`, split into contiguous chunks over ``Threads/count`` threads.
///
/// Chunks are at least `grain` iterations long, so tiny loops run inline. `body` must be safe to
/// call concurrently for distinct indices and must not call BLAS.
@inlinable
public func parallelFor(_ n: Int, grain: Int = 1, _ body: (Int) -> Void) {
    let threads = Threads.count
    if n <= 0 { return }
    let chunks = min(threads, max(1, n / max(1, grain)))
    if chunks <= 1 {
        for i in 0..<n { body(i) }
        return
    }
    withoutActuallyEscaping(body) { body in
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = n * c / chunks
            let hi = n * (c + 1) / chunks
            for i in lo..<hi { body(i) }
        }
    }
}
