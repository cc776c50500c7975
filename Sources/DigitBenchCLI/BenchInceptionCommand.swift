import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct BenchInception: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "inception",
            abstract: "FID Inception-v3 feature extraction: images/s and fraction of the sgemm bound.",
            discussion: """
                Runs the FID Inception (seeded weights: same arithmetic as the real ones) on random \
                images through the chosen input protocol and reports images/s, the fraction of the \
                sgemm-bound limit (the network's conv+fc FLOPs over the sgemm rate measured here), and \
                pytorch-fid's time per image recorded on this machine (fixtures/inception/perf_anchor.json).
                """)

        @Option(help: "Images to time (after one warm-up image).")
        var images = 8

        @Option(help: "Side of the square input images before the protocol's resize to 299.")
        var size = 256

        @Option(help: "Input protocol: adm, torch-fidelity, pytorch-fid.")
        var `protocol` = "torch-fidelity"

        @Flag(help: "Print the result as JSON.")
        var json = false

        @Flag(help: "Per-layer profile instead: every unit and pool alone on a group of 8 images, process CPU ms per image by algorithm.")
        var profile = false

        @Option(help: "With --profile: only the units whose name contains this (e.g. 7x7, Mixed_6e).")
        var only: String?

        @Option(help: "With --profile: tiles per task of the 1-D Winograd F(m, r) (Winograd1DTuning.targetTiles).")
        var winograd1dTiles: Int?

        func run() throws {
            if profile { return try runProfile() }
            let inputProtocol = try InceptionProtocol(parsing: `protocol`)
            let net = try InceptionV3(weights: .seeded())
            let flops = net.gemmFlops()
            let sgemm = measureSgemmGFlops()

            // Deterministic pseudo-random pixels (a 64-bit LCG's top byte): the same inputs every run,
            // and no per-byte getrandom calls (which used to dominate the setup).
            var state: UInt64 = 0x9E37_79B9_7F4A_7C15
            let pixels = (0..<(images + 1) * size * size * 3).map { _ -> UInt8 in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return UInt8(truncatingIfNeeded: state >> 56)
            }
            let batch = ImageBatch(count: images + 1, height: size, width: size, pixels: pixels)
            _ = try net.extract(slice(batch, 0..<1), protocol: inputProtocol, features: [.pool3])  // warm-up
            let start = DispatchTime.now().uptimeNanoseconds, cpuStart = processCPUSeconds()
            _ = try net.extract(slice(batch, 1..<(images + 1)), protocol: inputProtocol, features: [.pool3, .logitsUnbiased])
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            let perImage = seconds / Double(images)
            let cpuPerImage = (processCPUSeconds() - cpuStart) / Double(images)
            let bound = flops / (sgemm.wall * 1e9), boundCPU = flops / (sgemm.cpu * 1e9)
            // perf_anchor.json: pytorch-fid InceptionV3([3]) + fc, batch 1, 2 threads, this machine (loaded);
            // 0.2 s/image is the README's estimate for an idle machine.
            let torchLoaded = 2.17, torchCPU = 1.16, torchIdle = 0.2
            let rows: [(String, String)] = [
                ("protocol", inputProtocol.rawValue),
                ("images", "\(images) of \(size)x\(size) -> 299x299"),
                ("threads", "\(Threads.count); group of \(min(InceptionV3.maxGroup, max(1, (images + Threads.count - 1) / Threads.count))) images per worker"),
                ("load average", loadAverage().map { String(format: "%.2f", $0) }.joined(separator: " ") + " (timings are shared-machine numbers when this is above ~1)"),
                ("conv+fc GFLOP/image", String(format: "%.2f", flops / 1e9)),
                ("sgemm GFLOP/s", String(format: "%.1f wall, %.1f per CPU-second (1024^3, measured now)", sgemm.wall, sgemm.cpu)),
                ("seconds/image", String(format: "%.3f", perImage)),
                ("images/s", String(format: "%.2f", 1 / perImage)),
                ("process CPU s/image", String(format: "%.3f (all threads; /%d = %.3f s if the cores were ours)", cpuPerImage, Threads.count, cpuPerImage / Double(Threads.count))),
                ("fraction of sgemm bound", String(format: "%.0f%% wall (bound %.3f s/image), %.0f%% in CPU time", 100 * bound / perImage, bound, 100 * boundCPU / cpuPerImage)),
                ("vs pytorch-fid", String(format: "%.1fx its 2.17 s/image wall (loaded machine), %.1fx its 1.16 CPU s/image, %.2fx its ~0.2 s idle estimate", torchLoaded / perImage, torchCPU / cpuPerImage, torchIdle / perImage)),
                ("weights", "seeded (timing only; the numbers computed are not real features)"),
            ]
            if json {
                let obj: [String: Any] = [
                    "protocol": inputProtocol.rawValue, "images": images, "size": size, "threads": Threads.count,
                    "gflop_per_image": flops / 1e9, "sgemm_gflops": sgemm.wall, "sgemm_gflops_per_cpu_second": sgemm.cpu, "seconds_per_image": perImage,
                    "images_per_second": 1 / perImage, "cpu_seconds_per_image": cpuPerImage, "fraction_of_sgemm_bound": bound / perImage, "fraction_of_sgemm_bound_cpu": boundCPU / cpuPerImage,
                    "pytorch_fid_seconds_per_image_loaded": torchLoaded, "pytorch_fid_seconds_per_image_idle_estimate": torchIdle,
                    "weights": "seeded", "load_average": loadAverage(),
                ]
                let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                for (k, v) in rows { print("\(k.padding(toLength: 26, withPad: " ", startingAt: 0)) \(v)") }
            }
        }

        private func runProfile() throws {
            let net = try InceptionV3(weights: .seeded())
            if let t = winograd1dTiles { Winograd1DTuning.targetTiles = t }
            let rows = net.profile(batch: InceptionV3.maxGroup, only: only, seconds: processCPUSeconds)
            print("FID Inception per-layer profile: group of \(InceptionV3.maxGroup) images, single-threaded BLAS section, process CPU ms per image (best of 3)")
            print("Winograd transforms: \(WinogradTuning.transforms) (\(WinogradTransforms.available) available); \"swift\" columns: the portable ones")
            print("load average " + loadAverage().map { String(format: "%.2f", $0) }.joined(separator: " "))
            func ms(_ t: Double?) -> String { t.map { String(format: "%.2f", $0 * 1e3) } ?? "" }
            var table: [[String]] = []
            var total = 0.0, totalFlops = 0.0
            for r in rows {
                let cur = r.secondsPerImage["current"]!
                total += cur
                totalFlops += r.flopsPerImage
                table.append([
                    r.name, r.shape, r.flopsPerImage > 0 ? String(format: "%.3f", r.flopsPerImage / 1e9) : "",
                    ms(cur), ms(r.secondsPerImage["im2col"] ?? r.secondsPerImage["pool"]), ms(r.secondsPerImage["winograd2"]),
                    ms(r.secondsPerImage["winograd4"]), ms(r.secondsPerImage["winograd2-swift"]), ms(r.secondsPerImage["winograd4-swift"]),
                    ms(r.secondsPerImage["winograd1d_2"]), ms(r.secondsPerImage["winograd1d_3"]),
                    ms(r.secondsPerImage["winograd1d_4"]), ms(r.secondsPerImage["winograd1d_6"]),
                    r.flopsPerImage > 0 ? String(format: "%.1f", r.flopsPerImage / cur / 1e9) : "",
                ])
            }
            let header = ["unit", "shape", "GFLOP", "ms (used)", "im2col/pool", "F(2x2)", "F(4x4)", "F(2x2) swift", "F(4x4) swift",
                          "F(2,r)", "F(3,r)", "F(4,r)", "F(6,r)", "GFLOP/s (used)"]
            let widths = header.indices.map { i in ([header[i]] + table.map { $0[i] }).map(\.count).max()! }
            for line in [header] + table { print(zip(line, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")) }
            print(String(format: "total %.1f ms per image of one core (%.2f GFLOP, %.1f GFLOP/s)", total * 1e3, totalFlops / 1e9, totalFlops / total / 1e9))
        }

        private func slice(_ b: ImageBatch, _ r: Range<Int>) -> ImageBatch {
            let n = b.height * b.width * 3
            return ImageBatch(count: r.count, height: b.height, width: b.width, pixels: Array(b.pixels[r.lowerBound * n..<r.upperBound * n]))
        }
    }
}

/// CPU seconds used by this process so far (all threads).
func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// sgemm rate of this machine now: best of 3 runs of a 1024³ product, GFLOP/s of wall time and
/// of process CPU time (the latter is what a loaded machine cannot take away).
func measureSgemmGFlops(n: Int = 1024) -> (wall: Double, cpu: Double) {
    let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
    var c = [Float](repeating: 0, count: n * n)
    var best = Double.infinity, bestCPU = Double.infinity
    for _ in 0..<3 {
        let t0 = DispatchTime.now().uptimeNanoseconds, c0 = processCPUSeconds()
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    Gemm.sgemm(m: n, n: n, k: n, a: pa.baseAddress!, lda: n, b: pb.baseAddress!, ldb: n, c: pc.baseAddress!, ldc: n)
                }
            }
        }
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        bestCPU = min(bestCPU, processCPUSeconds() - c0)
    }
    let flops = 2 * Double(n * n * n)
    return (flops / best / 1e9, flops / bestCPU / 1e9)
}
