import Foundation

/// Serialises the CLI tests that run networks (Inception, tokenizers) across suites.
///
/// Two network runs in one process at the same time do not reproduce their single-run numbers
/// (seen: a `stats` run concurrent with a `reconstruct` run changed sigma elements by up to 23 %
/// relative; `Threads.withSingleThreadedBLAS` switches OpenBLAS's thread count process-wide, and
/// one run's restore lands in the other's single-threaded section). The CLI runs one command per
/// process, so this only affects tests that compare runs bit for bit; they take this lock.
enum ModelTestLock {
    private static let lock = NSLock()

    static func run<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}
