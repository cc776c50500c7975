import Dispatch
import Foundation

/// Wall-clock totals per named stage of a forward pass, for profiling commands
/// (`digit-bench bench dinov2 --profile`). Models take an optional `StageTimes`; with nil they run
/// the same code without reading the clock.
///
/// Stages timed from one thread go through ``time(_:_:)`` (wall time). Sub-stages that run inside
/// parallel workers report their per-thread durations through ``addWorkerTime(_:nanoseconds:)``
/// (thread-safe); a report can split a parent stage's wall time in proportion to them.
public final class StageTimes: @unchecked Sendable {
    public struct Entry: Sendable {
        public let name: String
        public var seconds: Double
        public var calls: Int
    }

    private let lock = NSLock()
    private var order: [String] = []
    private var table: [String: Entry] = [:]

    public init() {}

    /// The stages in first-seen order.
    public var entries: [Entry] {
        lock.lock()
        defer { lock.unlock() }
        return order.map { table[$0]! }
    }

    /// Runs `body`, adding its wall time to `name`.
    public func time<R>(_ name: String, _ body: () throws -> R) rethrows -> R {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { add(name, nanoseconds: DispatchTime.now().uptimeNanoseconds - t0) }
        return try body()
    }

    /// Adds a duration measured inside a worker (summed over workers: CPU-time-like).
    public func addWorkerTime(_ name: String, nanoseconds: UInt64) { add(name, nanoseconds: nanoseconds) }

    private func add(_ name: String, nanoseconds: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        if table[name] == nil {
            order.append(name)
            table[name] = Entry(name: name, seconds: 0, calls: 0)
        }
        table[name]!.seconds += Double(nanoseconds) * 1e-9
        table[name]!.calls += 1
    }
}

/// `body()`, timed as `name` when `times` is non-nil.
@inlinable
public func timed<R>(_ times: StageTimes?, _ name: String, _ body: () throws -> R) rethrows -> R {
    guard let times else { return try body() }
    return try times.time(name, body)
}
