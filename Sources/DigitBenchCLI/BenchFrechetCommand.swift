import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand.Bench {
    /// Times the Fréchet distance (Cholesky congruence, eigen fallback) and the streaming statistics
    /// on seeded features, and pytorch-fid's scipy sqrtm path on the same statistics in the same run.
    struct Frechet: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time the Fréchet distance at d = 2048 against pytorch-fid's scipy sqrtm path, in one run.",
            discussion: """
                Features: SeededWeights of keys bench/frechet/A and bench/frechet/B, shape (n, d), \
                squared ×10 (so the covariances are not diagonal-dominant noise only). After timing \
                ours, the two (mu, sigma) pairs are written as .npy to a temporary directory and \
                `python3 -c` times a replica of pytorch-fid 0.3's calculate_frechet_distance \
                (scipy.linalg.sqrtm of sigma1·sigma2, eps retry, real part) on them with \
                OPENBLAS_NUM_THREADS / OMP_NUM_THREADS set to our thread count, and prints the ratio \
                and the value difference. Without python3 + numpy + scipy, only ours is printed (and \
                says so).
                """)

        @Option(help: "Samples per set.") var n: Int = 5000
        @Option(help: "Feature dimension.") var dim: Int = 2048
        @Option(help: "Timed repetitions of ours (the minimum is reported).") var repeats: Int = 3
        @Option(help: "Timed repetitions of scipy's path (the minimum is reported; one takes ~10–80 s at d = 2048).")
        var scipyRepeats: Int = 1
        @Option(help: "Python interpreter with numpy and scipy.") var python: String = "python3"
        @Flag(help: "Do not run scipy.") var noScipy = false
        @Flag(help: "Also time the eigen path (forced) for comparison.") var eigen = false
        @Flag(help: "Also time the one-stage Cholesky path (dsygst + dsyevd) for comparison.") var oneStage = false
        @Option(help: "Band half-width of the two-stage path (default \(FrechetPath.defaultBandwidth)).") var bandwidth: Int?
        @Flag(help: "Also print the wall time of each stage of the two-stage path (checks, copy, dpotrf, congruence, band reduction, chase, quadrature or dsterf): minimum and maximum over the repeats.")
        var stages = false
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            func features(_ key: String) -> Tensor {
                Tensor(shape: [n, dim], scalars: SeededWeights.values(key: key, shape: [n, dim]).map { $0 * $0 * 10 })
            }
            let fa = features("bench/frechet/A"), fb = features("bench/frechet/B")
            func timed<T>(_ body: () throws -> T) rethrows -> (T, wall: Double, cpu: Double) {
                let c0 = processCPUSeconds(), t0 = DispatchTime.now().uptimeNanoseconds
                let r = try body()
                return (r, Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9, processCPUSeconds() - c0)
            }
            func best<T>(_ count: Int, _ body: () throws -> T) rethrows -> (T, wall: Double, cpu: Double) {
                var out: (T, wall: Double, cpu: Double)?
                for _ in 0..<max(1, count) {
                    let r = try timed(body)
                    if out == nil || r.wall < out!.wall { out = r }
                }
                return out!
            }
            let (a, statsWall, statsCPU) = try best(repeats) { try GaussianStatistics(features: fa) }
            let b = try GaussianStatistics(features: fb)
            let path: FrechetPath = bandwidth.map { .choleskyTwoStage(bandwidth: $0) } ?? .automatic
            var stageTimes: [(String, [Double])] = []
            if stages {
                FrechetStages.observer = { name, seconds in
                    if let i = stageTimes.firstIndex(where: { $0.0 == name }) { stageTimes[i].1.append(seconds) } else { stageTimes.append((name, [seconds])) }
                }
            }
            let (fd, wall, cpu) = try best(repeats) { try FrechetDistance.compute(a, b, path: path) }
            FrechetStages.observer = nil
            let eigenTiming = eigen ? try best(repeats) { try FrechetDistance.compute(a, b, path: .eigen) } : nil
            let oneStageTiming = oneStage ? try best(repeats) { try FrechetDistance.compute(a, b, path: .cholesky) } : nil
            let scipy: ScipyTiming? = noScipy ? nil : timeScipy(a, b)

            var obj: [String: Any] = [
                "n": n, "dim": dim, "threads": Threads.count, "blas": Threads.blasDescription,
                "statistics_wall_s": statsWall, "statistics_cpu_s": statsCPU,
                "frechet_wall_s": wall, "frechet_cpu_s": cpu, "frechet_method": fd.method.id, "fid": fd.value,
                "load_average": loadAverage(),
            ]
            if let e = eigenTiming { obj["eigen_wall_s"] = e.wall; obj["eigen_cpu_s"] = e.cpu; obj["eigen_fid"] = e.0.value }
            if stages { obj["stages_min_wall_s"] = Dictionary(uniqueKeysWithValues: stageTimes.map { ($0.0, $0.1.min()!) }) }
            if let o = oneStageTiming { obj["one_stage_wall_s"] = o.wall; obj["one_stage_cpu_s"] = o.cpu; obj["one_stage_fid"] = o.0.value }
            obj["frechet_method_description"] = fd.method.description
            switch scipy {
            case .some(.ok(let s)):
                obj["scipy"] = ["wall_s": s.wall, "cpu_s": s.cpu, "fid": s.fid, "versions": s.versions,
                                "speedup_wall": s.wall / wall, "speedup_cpu": s.cpu / cpu, "relative_difference": abs(fd.value - s.fid) / abs(s.fid)]
            case .some(.unavailable(let why)): obj["scipy"] = ["unavailable": why]
            case .none: obj["scipy"] = ["unavailable": "--no-scipy"]
            }
            if json {
                let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print("machine: \(Threads.blasDescription); load average \(loadAverage().map { String(format: "%.2f", $0) }.joined(separator: " "))")
            print("n = \(n), d = \(dim), ours: min of \(repeats) (wall), scipy: min of \(scipyRepeats)")
            print("call                                      wall s     CPU s")
            print(String(format: "statistics (one set, dsyrk)           %9.3f %9.3f", statsWall, statsCPU))
            print(String(format: "Fréchet distance (%@) %9.3f %9.3f", fd.method.id.padding(toLength: 19, withPad: " ", startingAt: 0), wall, cpu))
            if let e = eigenTiming {
                print(String(format: "Fréchet distance (eigen, forced)      %9.3f %9.3f", e.wall, e.cpu))
            }
            if let o = oneStageTiming {
                print(String(format: "Fréchet distance (cholesky, 1-stage)  %9.3f %9.3f   (FID rel. Δ to ours %.1e)", o.wall, o.cpu,
                             abs(o.0.value - fd.value) / abs(o.0.value)))
            }
            if stages {
                if stageTimes.isEmpty { print("stages: none recorded (the path that ran is not cholesky-2stage)") }
                for (name, t) in stageTimes {
                    print(String(format: "  stage %-14@ min %.3f s  max %.3f s", name, t.min()!, t.max()!))
                }
            }
            print("method: \(fd.method)")
            switch scipy {
            case .some(.ok(let s)):
                print(String(format: "scipy sqrtm (pytorch-fid replica)     %9.3f %9.3f   (%@)", s.wall, s.cpu, s.versions))
                print(String(format: "speed-up vs scipy: %.1fx wall, %.1fx CPU", s.wall / wall, s.cpu / cpu))
                print(String(format: "FID ours = %.12g, scipy = %.12g (relative difference %.2g)", fd.value, s.fid, abs(fd.value - s.fid) / abs(s.fid)))
            case .some(.unavailable(let why)):
                print("scipy not timed: \(why)")
                print(String(format: "FID = %.12g", fd.value))
            case .none:
                print("scipy not timed (--no-scipy)")
                print(String(format: "FID = %.12g", fd.value))
            }
            if !fd.notes.isEmpty { print("notes: " + fd.notes.joined(separator: "; ")) }
        }

        struct ScipyResult {
            var wall: Double, cpu: Double, fid: Double, versions: String
        }

        enum ScipyTiming {
            case ok(ScipyResult)
            case unavailable(String)
        }

        /// pytorch-fid 0.3 `calculate_frechet_distance`, restated: sqrtm of the product (`disp=False`
        /// where scipy still accepts it), retried with `eps` on the diagonals if not finite, real
        /// part, then the trace formula. Prints one JSON line with its best wall / CPU seconds.
        static let scipyScript = """
            import json, sys, time, warnings
            import numpy as np, scipy
            from scipy import linalg
            warnings.simplefilter("ignore")
            folder, repeats = sys.argv[1], int(sys.argv[2])
            mu1, s1, mu2, s2 = (np.load(folder + "/" + k + ".npy") for k in ("mu1", "sigma1", "mu2", "sigma2"))
            def root(m):
                try:
                    return linalg.sqrtm(m, disp=False)[0]
                except TypeError:
                    return linalg.sqrtm(m)
            def distance():
                covmean = root(s1.dot(s2))
                if not np.isfinite(covmean).all():
                    shift = np.eye(s1.shape[0]) * 1e-6
                    covmean = root((s1 + shift).dot(s2 + shift))
                if np.iscomplexobj(covmean):
                    covmean = covmean.real
                diff = mu1 - mu2
                return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
            best = None
            for _ in range(repeats):
                w0, c0 = time.perf_counter(), time.process_time()
                value = distance()
                w, c = time.perf_counter() - w0, time.process_time() - c0
                if best is None or w < best[0]:
                    best = (w, c)
            print(json.dumps({"wall": best[0], "cpu": best[1], "fid": value,
                              "versions": "numpy " + np.__version__ + ", scipy " + scipy.__version__}))
            """

        private func timeScipy(_ a: GaussianStatistics, _ b: GaussianStatistics) -> ScipyTiming {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("digit-bench-frechet-\(ProcessInfo.processInfo.processIdentifier)")
            defer { try? FileManager.default.removeItem(at: dir) }
            do {
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                for (name, stats) in [("1", a), ("2", b)] {
                    try NPY.write(NPYArray(float64: stats.mu, shape: [dim]), to: dir.appendingPathComponent("mu\(name).npy"))
                    try NPY.write(NPYArray(float64: stats.sigma, shape: [dim, dim]), to: dir.appendingPathComponent("sigma\(name).npy"))
                }
            } catch {
                return .unavailable("could not write the statistics for python: \(error)")
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [python, "-c", Self.scipyScript, dir.path, "\(scipyRepeats)"]
            var env = ProcessInfo.processInfo.environment
            for key in ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"] { env[key] = "\(Threads.count)" }
            process.environment = env
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            do { try process.run() } catch { return .unavailable("\(python) not runnable: \(error)") }
            let outData = out.fileHandleForReading.readDataToEndOfFile()
            let errData = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let lastError = String(decoding: errData, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
            guard process.terminationStatus == 0 else {
                return .unavailable("\(python) with numpy + scipy not available (exit \(process.terminationStatus): \(lastError))")
            }
            guard let line = String(decoding: outData, as: UTF8.self).split(separator: "\n").last,
                  let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let w = obj["wall"] as? Double, let c = obj["cpu"] as? Double, let f = obj["fid"] as? Double
            else { return .unavailable("unexpected output from \(python): \(String(decoding: outData, as: UTF8.self))") }
            return .ok(ScipyResult(wall: w, cpu: c, fid: f, versions: obj["versions"] as? String ?? ""))
        }
    }
}

/// 1, 5 and 15 minute load averages (empty where unavailable): timings on a shared machine are
/// only meaningful next to it.
func loadAverage() -> [Double] {
    var l = [Double](repeating: 0, count: 3)
    return getloadavg(&l, 3) == 3 ? l : []
}
