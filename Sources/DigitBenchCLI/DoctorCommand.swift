import ArgumentParser
import CJPEG
import CPNG
import CZlib
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
        lines.append(("swift compiler", compilerVersion))
        lines.append(("os", ProcessInfo.processInfo.operatingSystemVersionString))
        lines.append(("cpu", cpuModel()))
        lines.append(("cores", "\(ProcessInfo.processInfo.activeProcessorCount) active, \(Threads.count) used (DIGIT_BENCH_THREADS)"))
        lines.append(("memory", String(format: "%.1f GiB", Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824)))
        lines.append(("blas", Threads.blasDescription))
        lines.append(("threading", "OpenBLAS threads for large gemms; Dispatch (parallelFor) for other ops; conv2d runs single-threaded sgemms on its own workers"))
        lines.append(("libpng", String(cString: png_get_libpng_ver(nil))))
        lines.append(("libjpeg", "libjpeg-turbo \(LIBJPEG_TURBO_VERSION_NUMBER / 1_000_000).\(LIBJPEG_TURBO_VERSION_NUMBER / 1000 % 1000).\(LIBJPEG_TURBO_VERSION_NUMBER % 1000) (headers), API \(JPEG_LIB_VERSION)"))
        lines.append(("fftw", symbolString("fftwf_version") ?? "not loaded"))
        lines.append(("zlib", String(cString: zlibVersion())))
        lines.append(("cpu features", cpuFeatures()))
        let env = ProcessInfo.processInfo.environment
        lines.append(("OPENBLAS_CORETYPE", env["OPENBLAS_CORETYPE"] ?? "(unset)"))
        let home = env["DIGIT_BENCH_HOME"] ?? (NSHomeDirectory() + "/.cache/digit-bench")
        lines.append(("weights home", "\(home) (DIGIT_BENCH_HOME)"))
        lines.append(("test checkpoints", env["DIGIT_BENCH_CHECKPOINTS"].map { "\($0) (DIGIT_BENCH_CHECKPOINTS)" } ?? "(unset: tests needing real weights are skipped)"))
        return lines
    }

    /// The compiler that built this binary (resolved at compile time).
    static var compilerVersion: String {
        #if compiler(>=7.0)
            return "7.0 or later"
        #elseif compiler(>=6.3)
            return "6.3"
        #elseif compiler(>=6.2)
            return "6.2"
        #else
            return "older than 6.2"
        #endif
    }

    /// A NUL-terminated string exported by a loaded library (e.g. `fftwf_version`), or nil.
    static func symbolString(_ name: String) -> String? {
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, name) else { return nil }
        return String(cString: sym.assumingMemoryBound(to: CChar.self))
    }

    static func cpuModel() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
            let colon = line.firstIndex(of: ":")
        else { return "unknown" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
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
