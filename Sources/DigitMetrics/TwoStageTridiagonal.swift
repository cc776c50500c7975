import CKernels
import COpenBLAS
import DigitTensor
import Foundation
import Synchronization

/// Eigenvalues of a symmetric matrix by two-stage tridiagonalisation, values only, float64:
///
/// 1. full → band of half-width `kd`: ``BandReduction`` (`dsytrd_sy2sb`'s algorithm — blocked
///    Householder QR panels and rank-2kd updates of the trailing matrix, level-3 BLAS on all
///    threads — with `dgeqrt3` panels and a block-column symmetric product), instead of
///    `dsytrd`'s one-column-at-a-time reduction whose `dsymv` half streams the trailing matrix
///    from memory once per column;
/// 2. band → tridiagonal: bulge chasing, LAPACK's tasks (`dsb2st_kernels`) done by CKernels'
///    `dbk_sb2st_task` (the same Householder steps as straight AVX-512 loops over the task's block,
///    about twice as fast as the LAPACK kernel's chain of OpenBLAS level-2 calls), the band split
///    between two threads at a row (see ``chase``);
/// 3. tridiagonal → eigenvalues: `dsterf`; or, when only Σ sqrt(λ) is wanted and the tridiagonal
///    matrix is positive definite, that sum by ``TridiagonalTrace`` (no eigenvalues).
///
/// The same orthogonal similarity as `dsytrd_2stage` + `dsterf` (what `dsyevd_2stage` does without
/// vectors). The tasks touch disjoint data in any order the dependencies allow, so the two-thread
/// schedule gives the same bits as running the tasks in sequence; against LAPACK's own
/// `dsytrd_sb2st` the tridiagonal matrix agrees to rounding (the task kernel sums in vector lanes
/// with fused multiply-adds).
enum TwoStageTridiagonal {
    /// Eigenvalues (ascending) of the symmetric column-major (n, n) matrix whose lower triangle is
    /// in `a` (destroyed). `kd` is clamped to `1...n-1`.
    static func eigenvalues(_ a: UnsafeMutablePointer<Double>, n: Int, bandwidth: Int) throws -> [Double] {
        guard case .eigenvalues(let w, _) = try reduce(a, n: n, bandwidth: bandwidth, wantSqrtTrace: false) else {
            preconditionFailure("TwoStageTridiagonal: eigenvalues asked for")
        }
        return w
    }

    /// As ``eigenvalues(_:n:bandwidth:)``; with `wantSqrtTrace`, when the tridiagonal matrix is
    /// positive definite, Σ sqrt(λ) by ``TridiagonalTrace`` instead of the eigenvalues.
    static func reduce(_ a: UnsafeMutablePointer<Double>, n: Int, bandwidth: Int, wantSqrtTrace: Bool) throws -> Outcome {
        precondition(n >= 1 && bandwidth >= 1, "TwoStageTridiagonal: n \(n), kd \(bandwidth)")
        if n == 1 { return .eigenvalues([a[0]], quadratureDeclined: nil) }
        let kd = min(bandwidth, n - 1)
        let ab = try FrechetStages.time("band reduction") { try BandReduction.reduce(a, n: n, kd: kd) }
        let (d, e) = FrechetStages.time("chase") { chase(band: ab, n: n, kd: kd, twoThreads: chaseOnTwoThreads) }
        var declined: String?
        if wantSqrtTrace {
            if !useQuadrature {
                declined = "DIGIT_BENCH_TRIDIAGONAL=dsterf"
            } else if let t = FrechetStages.time("quadrature", { TridiagonalTrace.sqrtTrace(d: d, e: e) }) {
                return .sqrtTrace(t.value, nodes: t.nodes)
            } else {
                declined = "the tridiagonal matrix is not positive definite"
            }
        }
        return .eigenvalues(try FrechetStages.time("dsterf") { try tridiagonalEigenvalues(d: d, e: e) }, quadratureDeclined: declined)
    }

    /// What ``reduce(_:n:bandwidth:wantSqrtTrace:)`` computed from the tridiagonal matrix (and, as
    /// `.eigenvalues`, what the one-stage path of `SymmetricEigen.productEigenvalues` returns).
    enum Outcome {
        /// Its eigenvalues (ascending), by `dsterf`; when Σ sqrt(λ) was wanted, why the quadrature
        /// did not give it.
        case eigenvalues([Double], quadratureDeclined: String?)
        /// Σ sqrt(λ) by ``TridiagonalTrace`` (the matrix was positive definite), and its node count.
        case sqrtTrace(Double, nodes: Int)
    }

    /// Whether ``reduce(_:n:bandwidth:wantSqrtTrace:)`` may answer Σ sqrt(λ) by quadrature;
    /// `DIGIT_BENCH_TRIDIAGONAL=dsterf` always computes the eigenvalues (for A/B runs).
    nonisolated(unsafe) static var useQuadrature = ProcessInfo.processInfo.environment["DIGIT_BENCH_TRIDIAGONAL"] != "dsterf"

    /// Whether ``eigenvalues(_:n:bandwidth:)`` chases on two threads (``chase``);
    /// `DIGIT_BENCH_CHASE_THREADS=1|2` for A/B runs.
    nonisolated(unsafe) static var chaseOnTwoThreads = ProcessInfo.processInfo.environment["DIGIT_BENCH_CHASE_THREADS"] != "1"

    /// Whether the two-thread chase first stops OpenBLAS's worker threads (`dbk_blas_park_threads`):
    /// after the band reduction they poll for work for ~0.1 s and would share the cores with the
    /// chase. (OpenBLAS starts them again when the section restores the thread count; the new
    /// ones poll too, during the 3 ms quadrature that follows.) `DIGIT_BENCH_BLAS_PARK=0` keeps
    /// them (for A/B runs).
    nonisolated(unsafe) static var parkBLASThreads = ProcessInfo.processInfo.environment["DIGIT_BENCH_BLAS_PARK"] != "0"

    /// Eigenvalues (ascending) of the symmetric tridiagonal matrix with diagonal `d` and
    /// subdiagonal `e` (n − 1 entries used): LAPACK `dsterf`.
    static func tridiagonalEigenvalues(d: [Double], e: [Double]) throws -> [Double] {
        var d = d, e = e
        var nn = Int32(d.count), info: Int32 = 0
        Threads.blasCall { dsterf_(&nn, &d, &e, &info) }
        guard info == 0 else { throw MetricsError.lapack(routine: "dsterf", info: Int(info)) }
        return d
    }

    /// Which code runs a bulge-chasing task: CKernels' `dbk_sb2st_task` (the default; AVX-512 when
    /// the CPU has it), its portable path, or LAPACK's `dsb2st_kernels` (the reference the tests
    /// compare against).
    enum TaskKernel: Sendable { case native, portable, lapack }

    /// Band (LAPACK lower band storage, (kd+1) × n, column-major) → tridiagonal (diagonal `d`,
    /// subdiagonal `e`) by bulge chasing.
    ///
    /// Sweep `s` (1…n−1) annihilates column s below the subdiagonal and chases the bulge it creates
    /// down the band in a sequence of tasks 1, 2, 3, … (task 1: the first reflector; even tasks:
    /// apply the previous reflector from the right and generate the next one; odd tasks ≥ 3: the
    /// two-sided update of a diagonal block); it ends with the task whose block reaches row n−1.
    /// Task k of sweep s may run once task k−1 of sweep s and task k+2 of sweep s−1 are done — the
    /// dependencies `dsytrd_sb2st` gives its OpenMP tasks (Debian's OpenBLAS is built without
    /// OpenMP, so there they run one after another). With `twoThreads` the band is split at a row:
    /// the caller runs every sweep's tasks above it, a second thread every sweep's tasks below it,
    /// one sweep after another, each publishing its progress (sweep, last finished task) for the
    /// other — so a block stays in one core's cache except at the split. (Alternating whole sweeps
    /// between the threads, as before, moved every block between the cores once per sweep: with
    /// CKernels' kernel that was slower than one thread, d = 2048, kd = 32, idle: 0.134–0.161 s vs
    /// 0.113–0.118 s.)
    ///
    /// The task kernel calls LAPACK only in the rare rescaling case of a reflector (tiny or huge
    /// column norms); that runs with OpenBLAS limited to one thread.
    ///
    /// `kernel` and `twoThreads` are for tests and A/B timing.
    static func chase(band ab: [Double], n: Int, kd: Int, kernel: TaskKernel = .native, twoThreads: Bool = false) -> (d: [Double], e: [Double]) {
        if kd <= 1 {  // already tridiagonal
            let d = (0..<n).map { ab[$0 * (kd + 1)] }
            let e = (0..<n).map { kd == 1 && $0 < n - 1 ? ab[$0 * 2 + 1] : 0 }
            return (d, e)
        }
        let lda = 2 * kd + 1  // kd extra rows below the band hold the bulge
        var aw = [Double](repeating: 0, count: lda * n)
        for j in 0..<n {
            for i in 0...kd { aw[j * lda + i] = ab[j * (kd + 1) + i] }
        }
        // Reflectors and their scalars: four n-slots, sweep s in slot (s − 1) mod 4 (the task kernels
        // pick one of two n-slots by the sweep's parity; the base passed selects the pair), so the
        // sweeps in flight on the two threads (at most two apart) never share one. Per-thread scratch.
        var v = [Double](repeating: 0, count: 4 * n)
        var tau = [Double](repeating: 0, count: 4 * n)
        let scratch = kd + 64  // the task kernel's work vector: at most kd + 1 entries
        var work = [Double](repeating: 0, count: 2 * scratch)
        let progress = ChaseProgress()
        // Thread 0 takes the tasks whose block starts above row `boundary`, thread 1 the rest: n/√2
        // splits the work in half (thread 0's share of sweep s is ∝ boundary − s), and ≤ n − 2kd
        // keeps every sweep's last task on thread 1.
        let boundary = min(Int(Double(n) / 2.0.squareRoot()), n - 2 * kd)
        let twoThreads = twoThreads && Threads.count >= 2 && boundary > 2 * kd

        Threads.withSingleThreadedBLAS {
            aw.withUnsafeMutableBufferPointer { pa in
                v.withUnsafeMutableBufferPointer { pv in
                    tau.withUnsafeMutableBufferPointer { pt in
                        work.withUnsafeMutableBufferPointer { pw in
                            let ctx = ChaseContext(
                                a: pa.baseAddress!, v: pv.baseAddress!, tau: pt.baseAddress!, work: pw.baseAddress!,
                                scratch: scratch, n: n, kd: kd, lda: lda, kernel: kernel, boundary: boundary, progress: progress)
                            if !twoThreads {
                                for sweep in 1..<n { ctx.runTail(sweep, from: 1, thread: 0) }
                                return
                            }
                            // Inside the section holding `Threads.blasLock`: no multi-threaded
                            // OpenBLAS call can be running on another thread.
                            if parkBLASThreads { _ = dbk_blas_park_threads() }
                            let done = DispatchSemaphore(value: 0)
                            let second = Thread {
                                for sweep in 1..<n { ctx.runBelowBoundary(sweep) }
                                done.signal()
                            }
                            second.start()
                            for sweep in 1..<(boundary - 1) { ctx.runAboveBoundary(sweep) }
                            done.wait()
                        }
                    }
                }
            }
        }
        var d = [Double](repeating: 0, count: n), e = [Double](repeating: 0, count: n)
        for i in 0..<n { d[i] = aw[i * lda] }
        for i in 0..<(n - 1) { e[i] = aw[i * lda + 1] }
        return (d, e)
    }
}

/// Progress of the two chasing threads: `sweep << 32 | last finished task` (task `Int32.max` when
/// the sweep is complete); monotonic per thread.
private final class ChaseProgress: Sendable {
    let thread0 = Atomic<Int>(0)
    let thread1 = Atomic<Int>(0)
}

/// Pointers and sizes shared by the two chasing threads (each writes disjoint parts).
private struct ChaseContext: @unchecked Sendable {
    let a: UnsafeMutablePointer<Double>
    let v: UnsafeMutablePointer<Double>
    let tau: UnsafeMutablePointer<Double>
    let work: UnsafeMutablePointer<Double>
    let scratch: Int
    let n: Int
    let kd: Int
    let lda: Int
    let kernel: TwoStageTridiagonal.TaskKernel
    let boundary: Int
    let progress: ChaseProgress

    static func encode(_ sweep: Int, _ task: Int) -> Int { sweep << 32 | task }

    func publish(thread: Int, _ value: Int) {
        if thread == 0 { progress.thread0.store(value, ordering: .releasing) } else { progress.thread1.store(value, ordering: .releasing) }
    }

    func load(thread: Int) -> Int {
        thread == 0 ? progress.thread0.load(ordering: .acquiring) : progress.thread1.load(ordering: .acquiring)
    }

    /// Task `task` of `sweep` (both 1-based): kernel type, first and last row/column of its block
    /// (1-based, as the kernel takes them), and whether it ends the sweep.
    func geometry(_ sweep: Int, _ task: Int) -> (ttype: Int32, st: Int, ed: Int, last: Bool) {
        if task % 2 == 1 {
            let col = ((task + 1) / 2) * kd + sweep
            let st = col - kd + 1, ed = min(col, n)
            return (task == 1 ? 1 : 3, st, ed, st >= ed - 1 && ed == n)
        }
        let col = (task / 2) * kd + sweep
        return (2, col - kd + 1, min(col, n), col >= n - 1)
    }

    func run(_ sweep: Int, _ task: Int, thread: Int) -> Bool {
        let g = geometry(sweep, task)
        let w = work + thread * scratch
        // Slot pair of sweep s: ((s − 1) / 2) mod 2; the kernel adds ((s − 1) mod 2) · n.
        let pair = ((sweep - 1) / 2) % 2 * 2 * n
        let v = self.v + pair, tau = self.tau + pair
        switch kernel {
        case .native: dbk_sb2st_task(g.ttype, Int64(g.st), Int64(g.ed), Int64(sweep), Int64(n), Int64(kd), a, Int64(lda), v, tau, w)
        case .portable: dbk_sb2st_task_portable(g.ttype, Int64(g.st), Int64(g.ed), Int64(sweep), Int64(n), Int64(kd), a, Int64(lda), v, tau, w)
        case .lapack:
            var uplo: CChar = 76  // "L"
            var wantz: Int32 = 0, ty = g.ttype, st32 = Int32(g.st), ed32 = Int32(g.ed), sw = Int32(sweep)
            var nn = Int32(n), nb = Int32(kd), ldaa = Int32(lda), ib: Int32 = 16, ldvt = Int32(kd) + 16
            dsb2st_kernels_(&uplo, &wantz, &ty, &st32, &ed32, &sw, &nn, &nb, &ib, a, &ldaa, v, tau, &ldvt, w, 1)
        }
        return g.last
    }

    func wait(thread: Int, until needed: Int) {
        var spins = 0
        while load(thread: thread) < needed {
            spins += 1
            if spins > 200 { sched_yield(); spins = 0 }
        }
    }

    /// Tasks `from`, `from` + 1, … of `sweep` to its end on `thread`, publishing each.
    func runTail(_ sweep: Int, from first: Int, thread: Int) {
        var task = first
        while !run(sweep, task, thread: thread) {
            publish(thread: thread, Self.encode(sweep, task))
            task += 1
        }
        publish(thread: thread, Self.encode(sweep, Int(Int32.max)))
    }

    /// Thread 0's part of `sweep`: the tasks whose block starts above ``boundary``. Task k needs
    /// task k + 2 of the previous sweep; where that one is below the boundary, thread 1's.
    func runAboveBoundary(_ sweep: Int) {
        var task = 1
        while geometry(sweep, task).st < boundary {
            if sweep > 1 && geometry(sweep - 1, task + 2).st >= boundary {
                wait(thread: 1, until: Self.encode(sweep - 1, task + 2))
            }
            _ = run(sweep, task, thread: 0)  // never the last task: boundary ≤ n − 2kd
            publish(thread: 0, Self.encode(sweep, task))
            task += 1
        }
    }

    /// Thread 1's part of `sweep`: its tasks from the first whose block starts at or below
    /// ``boundary`` (which needs thread 0's part of the sweep done) to the end. Task k + 2 of the
    /// previous sweep, which task k also needs, starts kd − 1 rows further down: thread 1's, done.
    func runBelowBoundary(_ sweep: Int) {
        var first = 1
        while geometry(sweep, first).st < boundary { first += 1 }
        if first > 1 { wait(thread: 0, until: Self.encode(sweep, first - 1)) }
        runTail(sweep, from: first, thread: 1)
    }
}
