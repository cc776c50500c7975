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

    /// Serialises OpenBLAS's thread-count changes against multi-threaded calls from other threads
    /// (several models running in one process, as in the test suite): a single-threaded section
    /// holds it throughout, a multi-threaded call (``blasCall(_:)``) for its duration. Without it,
    /// one run's `openblas_set_num_threads` lands inside another's calls and the numbers change.
    @usableFromInline static let blasLock = NSRecursiveLock()

    /// Marks the threads working inside a single-threaded section (the caller and, through
    /// ``parallelFor``, its workers): their BLAS calls need no lock, OpenBLAS runs one thread.
    @usableFromInline static let sectionKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Whether the current thread runs inside ``withSingleThreadedBLAS(_:)``.
    @inlinable public static var inSingleThreadedSection: Bool { pthread_getspecific(sectionKey) != nil }

    @inlinable static func setSection(_ on: Bool) {
        pthread_setspecific(sectionKey, on ? UnsafeRawPointer(bitPattern: 1) : nil)
    }

    /// Runs one BLAS/LAPACK call: inside a single-threaded section directly, otherwise holding
    /// ``blasLock`` so that no section changes the thread count under it.
    @inlinable public static func blasCall<R>(_ body: () throws -> R) rethrows -> R {
        configureBLAS()
        if count == 1 || inSingleThreadedSection { return try body() }
        blasLock.lock()
        defer { blasLock.unlock() }
        return try body()
    }

    /// Runs `body` with OpenBLAS limited to one thread, so that `body` may call ``Gemm`` from
    /// inside ``parallelFor`` tasks (each task then runs its own single-threaded gemm; OpenBLAS
    /// 0.3.x is safe to call concurrently). Restores ``count`` threads afterwards. Sections nest,
    /// and sections or BLAS calls from other threads wait for this one.
    public static func withSingleThreadedBLAS<R>(_ body: () throws -> R) rethrows -> R {
        configureBLAS()
        if count == 1 || inSingleThreadedSection { return try body() }
        blasLock.lock()
        defer { blasLock.unlock() }
        openblas_set_num_threads(1)
        setSection(true)
        defer {
            setSection(false)
            openblas_set_num_threads(Int32(count))
        }
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
    // Workers inherit the caller's single-threaded BLAS section (see `Threads.blasCall`).
    let section = Threads.inSingleThreadedSection
    withoutActuallyEscaping(body) { body in
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = n * c / chunks
            let hi = n * (c + 1) / chunks
            if section {
                let was = Threads.inSingleThreadedSection
                Threads.setSection(true)
                for i in lo..<hi { body(i) }
                Threads.setSection(was)
            } else {
                for i in lo..<hi { body(i) }
            }
        }
    }
}
