import ArgumentParser
import DigitBench
import Foundation

// `digit-bench bench decode-projections` (registered in BenchCommand.swift).

extension DigitBenchCommand.Bench {
    struct DecodeProjections: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "decode-projections",
            abstract: "One decoding step's projections of LlamaGen GPT-B (Gemm.linearRowInvariant) at several batch sizes, against stream bandwidth and sgemm.",
            discussion: """
                Runs qkv, wo, w1, w3, w2 of 12 layers and the 16384-way head with distinct weights \
                (390 MB, so nothing stays in cache) on m rows, as one GPT-B decoding step does, and \
                prints ms per step, GB/s of weights streamed and GFLOP/s; the same for sgemm.
                """)

        @OptionGroup var options: BenchOptions

        @Option(help: "Comma-separated row counts m (batch, ×2 with CFG).")
        var rows: String = "1,2,16,32"

        func run() throws {
            benchUsesCPUTime = options.cpuTime
            let ms = rows.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            let (c, f, v, layers) = (768, 2048, 16384, 12)
            let shapes = (0..<layers).flatMap { _ in [(3 * c, c), (c, c), (f, c), (f, c), (c, f)] } + [(v, c)]
            let weights = shapes.enumerated().map { i, s in
                [Float](unsafeUninitializedCapacity: s.0 * s.1) { b, n in
                    for j in 0..<b.count { b[j] = Float((j &* 2_654_435_761 &+ i) % 2001 - 1000) * 1e-4 }
                    n = b.count
                }
            }
            let params = Double(shapes.reduce(0) { $0 + $1.0 * $1.1 })
            let maxM = ms.max() ?? 1
            let x = [Float](repeating: 0.01, count: maxM * f)
            var y = [Float](repeating: 0, count: maxM * v)
            let stream = MachineProbe.streamCopyGBs()
            print("GPT-B decoding-step projections: \(shapes.count) matrices, \(fmt(4 * params / 1e6, 0)) MB; load \(MachineProbe.loadAverage())")
            print("stream copy \(fmt(stream, 1)) GB/s; best of \(options.repeat) runs after one warm-up; \(options.clockDescription)\n")
            var table: [[String]] = []
            for m in ms {
                for (name, inv) in [("row-invariant", true), ("sgemm", false)] {
                    let s = x.withUnsafeBufferPointer { px in
                        y.withUnsafeMutableBufferPointer { py in
                            time(repeat: options.repeat) {
                                for (w, (n, k)) in zip(weights, shapes) {
                                    w.withUnsafeBufferPointer { pw in
                                        if inv {
                                            DigitTensor.Gemm.linearRowInvariant(
                                                m: m, n: n, k: k, x: px.baseAddress!, ldx: k, w: pw.baseAddress!, ldw: k,
                                                y: py.baseAddress!, ldy: n)
                                        } else {
                                            DigitTensor.Gemm.sgemm(
                                                transB: true, m: m, n: n, k: k, a: px.baseAddress!, lda: k, b: pw.baseAddress!,
                                                ldb: k, c: py.baseAddress!, ldc: n)
                                        }
                                    }
                                }
                            }
                        }
                    }
                    let gbs = 4 * params / s / 1e9
                    table.append([name, "\(m)", fmt(s * 1e3, 2), fmt(gbs, 1), fmt(100 * gbs / stream, 0) + "%",
                                  fmt(2 * params * Double(m) / s / 1e9, 1)])
                }
            }
            printTable(header: ["kernel", "m", "ms/step", "weights GB/s", "of stream", "GFLOP/s"], rows: table)
        }
    }
}
