import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct Doctor: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Describe this machine: toolchain, linked libraries, BLAS threads, CPU features, weight locations.")

        func run() throws {
            for (name, value) in DoctorReport.collect() {
                print("\(name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(value)")
            }
        }
    }
}

/// What `digit-bench doctor` prints, as (name, value) lines.
enum DoctorReport {
    static func collect() -> [(String, String)] {
        var lines: [(String, String)] = []
        lines.append(("digit-bench", DigitBenchVersion.string))
        #if compiler(>=6.3)
            lines.append(("swift compiler", "6.3 or later"))
        #else
            lines.append(("swift compiler", "older than 6.3"))
        #endif
        lines.append(("os", ProcessInfo.processInfo.operatingSystemVersionString))
        lines.append(("cores", "\(ProcessInfo.processInfo.activeProcessorCount) active, \(Threads.count) used (DIGIT_BENCH_THREADS)"))
        lines.append(("memory", String(format: "%.1f GiB", Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824)))
        lines.append(("blas", Threads.blasDescription))
        lines.append(("cpu features", cpuFeatures()))
        let env = ProcessInfo.processInfo.environment
        lines.append(("OPENBLAS_CORETYPE", env["OPENBLAS_CORETYPE"] ?? "(unset)"))
        let home = env["DIGIT_BENCH_HOME"] ?? (NSHomeDirectory() + "/.cache/digit-bench")
        lines.append(("weights home", "\(home) (DIGIT_BENCH_HOME)"))
        return lines
    }

    static func cpuFeatures() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return "unknown" }
        let flags = Set(line.split(separator: " ").map(String.init))
        let interesting = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "amx_tile"]
        return interesting.filter(flags.contains).joined(separator: " ")
    }
}
