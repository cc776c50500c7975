import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct BenchLoad: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "load",
            abstract: "Time loading every tensor of a checkpoint as Float32: GB/s and peak memory.")

        @Argument(help: "The checkpoint to load.")
        var file: String

        @Option(help: "Load only the sub-tree at this key path.")
        var select: String?

        @Option(help: "Number of timed passes (the first also warms the page cache).")
        var repeats = 3

        @Flag(help: "Keep every loaded tensor alive, as a model load does (peak memory = all tensors).")
        var keep = false

        func run() throws {
            let url = URL(fileURLWithPath: file)
            let t0 = Date()
            let (sd, ckpt) = try Checkpoint.load(url, select: select)
            let openSeconds = Date().timeIntervalSince(t0)
            let bytes = sd.items.reduce(0) { $0 + $1.tensor.count * $1.tensor.dtype.size }
            print("file            \(file) (\(ckpt.format.rawValue), \(ckpt.fileSize) bytes)")
            print("tensors         \(sd.count), \(sd.parameterCount) parameters, \(bytes) bytes stored")
            print(String(format: "open + unpickle %.3f s", openSeconds))
            for pass in 1...max(repeats, 1) {
                let start = Date()
                var checksum: Float = 0
                var kept: [Tensor] = []
                for (_, t) in sd.items {
                    let x = try t.load()
                    if let f = x.scalars.first { checksum += f }
                    if keep { kept.append(x) }
                }
                let s = Date().timeIntervalSince(start)
                print(String(format: "pass %d          %.3f s  %.2f GB/s (stored bytes / time)  [checksum %g]", pass, s, Double(bytes) / max(s, 1e-9) / 1e9, checksum))
            }
            let floatBytes = sd.parameterCount * 4
            print("peak RSS        \(Self.peakRSS()) (Float32 tensors: \(floatBytes / 1024) kB; \(keep ? "all kept, as a model load" : "each released after loading"))")
        }

        static func peakRSS() -> String {
            guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
                let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM") })
            else { return "unknown" }
            return line.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        }
    }
}
