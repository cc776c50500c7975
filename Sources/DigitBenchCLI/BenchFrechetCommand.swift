import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand.Bench {
    /// Times the Fréchet distance (symmetric-eigen form, dsyevd) and the streaming statistics on
    /// seeded features, next to scipy's figure (tools/bench_frechet_scipy.py times the same inputs).
    struct Frechet: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time the Fréchet distance at d = 2048 against pytorch-fid's scipy sqrtm path.",
            discussion: """
                Features: SeededWeights of keys bench/frechet/A and bench/frechet/B, shape (n, d), \
                squared (so the covariances are not diagonal-dominant noise only). \
                `python3 tools/bench_frechet_scipy.py --n N --dim D` times scipy on the same inputs. \
                Reference (shared/fixtures/metrics/perf_anchor.json, same machine, under load): \
                pytorch-fid 18.1 s, torch-fidelity 11.1 s, np.cov 1.26 s (min of 3).
                """)

        @Option(help: "Samples per set.") var n: Int = 5000
        @Option(help: "Feature dimension.") var dim: Int = 2048
        @Option(help: "Timed repetitions (the minimum is reported).") var repeats: Int = 3
        @Option(help: "Seconds scipy's sqrtm path took on these inputs (tools/bench_frechet_scipy.py), for the ratio.")
        var scipySeconds: Double = 18.1

        func run() throws {
            func features(_ key: String) -> Tensor {
                Tensor(shape: [n, dim], scalars: SeededWeights.values(key: key, shape: [n, dim]).map { $0 * $0 * 10 })
            }
            let fa = features("bench/frechet/A"), fb = features("bench/frechet/B")
            // Wall and process CPU seconds (all threads): on a shared machine the CPU figure is the
            // comparable one (perf_anchor.json records both for the references).
            func timed<T>(_ body: () throws -> T) rethrows -> (T, wall: Double, cpu: Double) {
                let c0 = clock(), t0 = Date()
                let r = try body()
                return (r, Date().timeIntervalSince(t0), Double(clock() - c0) / Double(CLOCKS_PER_SEC))
            }
            var stats = (wall: Double.infinity, cpu: Double.infinity)
            var a: GaussianStatistics?
            for _ in 0..<repeats {
                let (s, wall, cpu) = try timed { try GaussianStatistics(features: fa) }
                a = s
                stats = (min(stats.wall, wall), min(stats.cpu, cpu))
            }
            let b = try GaussianStatistics(features: fb)
            var frechet = (wall: Double.infinity, cpu: Double.infinity)
            var fd: FrechetDistance?
            for _ in 0..<repeats {
                let (v, wall, cpu) = try timed { try FrechetDistance.compute(a!, b) }
                fd = v
                frechet = (min(frechet.wall, wall), min(frechet.cpu, cpu))
            }
            let anchor = n == 5000 && dim == 2048
            print("machine: \(Threads.blasDescription)")
            print("n = \(n), d = \(dim), min of \(repeats); references: perf_anchor.json (n = 5000, d = 2048)\(anchor ? "" : " — not comparable at this size")")
            print("call                                   wall s    CPU s   ref wall  ref CPU   speed-up (wall, CPU)")
            print(String(format: "statistics (one set, dsyrk)          %8.3f %8.3f %9.3f %8.3f   %6.1fx %6.1fx  (np.cov)",
                         stats.wall, stats.cpu, 1.26, 0.70, 1.26 / stats.wall, 0.70 / stats.cpu))
            print(String(format: "Fréchet distance (dsyevd eigen form) %8.3f %8.3f %9.3f %8.3f   %6.1fx %6.1fx  (scipy sqrtm)",
                         frechet.wall, frechet.cpu, scipySeconds, 9.77, scipySeconds / frechet.wall, 9.77 / frechet.cpu))
            print(String(format: "FID = %.12g", fd!.value) + (fd!.notes.isEmpty ? "" : "  (" + fd!.notes.joined(separator: "; ") + ")"))
        }
    }
}
