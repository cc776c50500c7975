import ArgumentParser
import DigitBench
import Dispatch
import Foundation

extension DigitBenchCommand {
    /// `digit-bench bench dinov2`: DINOv2 `forward_features` images/s against the sgemm bound, with
    /// `--profile` a per-part breakdown of one forward (docs/dinov2-perf.md).
    struct BenchDINOv2: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dinov2",
            abstract: "DINOv2 forward_features images/s, fraction of the sgemm bound, and (--profile) time per part of the network.",
            discussion: """
                Seeded weights of the real architecture (the speed does not depend on the values) on \
                deterministic pseudo-random images. The timed forwards run without any timing hook \
                (best of --repeat after one warm-up); --profile then runs one more forward with \
                per-stage clocks and prints each part's milliseconds, share and GFLOP/s. The sgemm \
                bound is the network's multiply-add FLOPs over the 2048³ sgemm rate measured in the \
                same run. Meaningful only on an otherwise idle machine.
                """)

        @Option(help: "dinov2-vitb14-reg4 or dinov2-vitl14-reg4.")
        var model = DINOv2Model.vitb14reg4.rawValue

        @Option(help: "Images per forward.")
        var batch = 8

        @Option(help: "Image side (a multiple of 14).")
        var size = 224

        @Option(help: "Timed forwards; the best is reported.")
        var `repeat` = 3

        @Flag(help: "Also run one forward with per-part clocks and print the breakdown.")
        var profile = false

        func validate() throws {
            guard DINOv2Model(rawValue: model) != nil else { throw ValidationError("unknown --model \(model)") }
            guard batch > 0, size > 0, size % 14 == 0 else { throw ValidationError("--batch must be positive and --size a positive multiple of 14") }
        }

        func run() throws {
            let m = DINOv2Model(rawValue: model)!
            let net = try DINOv2(m, weights: .seeded(), interpolation: .digit)
            let sgemmSize = 2048
            let sgemm = 2 * pow(Double(sgemmSize), 3) / 1e9 / GemmBench.seconds(m: sgemmSize, n: sgemmSize, k: sgemmSize, repeat: 3)
            var state: UInt64 = 0x9E37_79B9_7F4A_7C15
            let pixels = (0..<batch * size * size * 3).map { _ -> UInt8 in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return UInt8(truncatingIfNeeded: state >> 56)
            }
            let x = DINOv2Input.normalized(ImageBatch(count: batch, height: size, width: size, pixels: pixels))  // (B, 3, S, S)
            let parts = net.flops(height: size, width: size)
            let flopsPerImage = parts.reduce(0) { $0 + $1.flops }
            let seconds = bestSeconds(self.repeat, warmup: true) { _ = net.forwardFeatures(x) }
            let perImage = seconds / Double(batch)
            let bound = flopsPerImage / (sgemm * 1e9)
            print("model           \(m.rawValue), \(size)², batch \(batch), seeded weights")
            print("threads         \(Threads.count); BLAS \(Threads.blasDescription)")
            print("load average    \(loadAverage().map { String(format: "%.2f", $0) }.joined(separator: " ")) (numbers are shared-machine numbers when this is above ~1)")
            print(String(format: "sgemm           %.1f GFLOP/s (%d³, best of 3, measured now)", sgemm, sgemmSize))
            print(String(format: "GFLOP/image     %.2f", flopsPerImage / 1e9))
            print(String(format: "forward         %.3f s per batch (best of %d), %.2f img/s, %.1f GFLOP/s", seconds, self.repeat, 1 / perImage, flopsPerImage / perImage / 1e9))
            print(String(format: "sgemm bound     %.0f%% (bound %.3f s/image)", 100 * bound / perImage, bound))
            guard profile else { return }

            let times = StageTimes()
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = net.forwardFeatures(x, times: times)
            let total = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            let flopsOf = Dictionary(parts.map { ($0.part, $0.flops * Double(batch)) }, uniquingKeysWith: +)
            // Worker-timed sub-stages (names "parent/child") split their parent's wall time by their CPU shares.
            let entries = times.entries
            var rows: [[String]] = []
            var accounted = 0.0
            for e in entries where !e.name.contains("/") {
                accounted += e.seconds
                rows.append(row(e.name, e.seconds, e.calls, total: total, flops: flopsOf[e.name], sgemm: sgemm))
                let children = entries.filter { $0.name.hasPrefix(e.name + "/") }
                let cpu = children.reduce(0) { $0 + $1.seconds }
                for c in children where cpu > 0 {
                    let name = String(c.name.dropFirst(e.name.count + 1))
                    rows.append(row("  " + name, e.seconds * c.seconds / cpu, c.calls, total: total, flops: flopsOf[name], sgemm: sgemm))
                }
            }
            rows.append(row("(untimed glue)", max(0, total - accounted), 0, total: total, flops: nil, sgemm: sgemm))
            rows.append(row("total", total, 1, total: total, flops: flopsPerImage * Double(batch), sgemm: sgemm))
            print("\nprofile (one forward with clocks; indented rows split their parent by per-worker CPU time)")
            printTable(header: ["part", "ms", "%", "calls", "GFLOP", "GFLOP/s", "% sgemm"], rows: rows)
        }

        private func row(_ name: String, _ s: Double, _ calls: Int, total: Double, flops: Double?, sgemm: Double) -> [String] {
            let f = flops.map { [fmt($0 / 1e9, 1), fmt($0 / s / 1e9, 1), fmt(100 * $0 / s / 1e9 / sgemm, 0)] } ?? ["", "", ""]
            return [name, fmt(s * 1e3, 1), fmt(100 * s / total, 1), calls > 0 ? "\(calls)" : ""] + f
        }
    }
}
