import ArgumentParser
import DigitBench
import Dispatch
import Foundation

// `digit-bench bench gemm` and `bench conv` (registered in BenchCommand.swift).

/// Options shared by the bench subcommands.
struct BenchOptions: ParsableArguments {
    @Option(help: "Timed runs per entry; the best is reported.")
    var `repeat`: Int = 3

    @Option(help: "Reference sgemm size n for the n×n×n rate conv is compared with.")
    var referenceSize: Int = 2048

    @Flag(help: "Time with process CPU time divided by the thread count instead of wall time (steadier on a busy machine; counts BLAS spin-waiting as work).")
    var cpuTime = false
}

extension BenchOptions {
    var clockDescription: String { cpuTime ? "CPU time / \(Threads.count) threads" : "wall time" }
}

extension DigitBenchCommand.Bench {
    struct Gemm: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "cblas_sgemm GFLOP/s at square sizes and at the im2col shapes of Inception-v3.")

        @OptionGroup var options: BenchOptions

        func run() throws {
            benchUsesCPUTime = options.cpuTime
            print("sgemm (row-major, float32), \(Threads.blasDescription)")
            print("best of \(options.repeat) runs after one warm-up; \(options.clockDescription)\n")
            var rows: [[String]] = []
            for (label, m, n, k) in GemmBench.shapes(referenceSize: options.referenceSize) {
                let s = GemmBench.seconds(m: m, n: n, k: k, repeat: options.repeat)
                let gflop = 2 * Double(m) * Double(n) * Double(k) / 1e9
                rows.append([label, "\(m)×\(n)×\(k)", fmt(gflop, 3), fmt(s * 1e3, 2), fmt(gflop / s, 1)])
            }
            printTable(header: ["gemm", "m×n×k", "GFLOP", "ms", "GFLOP/s"], rows: rows)
        }
    }

    struct Conv: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "conv2d GFLOP/s on every conv of the FID Inception-v3 at 299×299, against the machine's sgemm rate.",
            discussion: """
                Ends with `conv total: NN% of sgemm`: total conv FLOPs over total conv time (the \
                time-weighted rate over the whole network), relative to the n×n×n sgemm rate \
                measured in the same run.
                """)

        @OptionGroup var options: BenchOptions

        @Option(help: "Images per conv2d call.")
        var batch: Int = 8

        @Option(help: "Only layers whose name contains this string.")
        var filter: String?

        @Option(help: "conv2d tile width in output columns (Conv2dTuning.targetColumns).")
        var tileColumns: Int = Conv2dTuning.targetColumns

        @Option(help: "Layer shapes: inception (FID Inception-v3 at 299 px) or vq16 (LlamaGen VQ-16 3x3 convs at 256 px).")
        var net = "inception"

        @Option(help: "3x3 stride-1 convs by winograd2 / winograd4 (F(2x2,3x3) / F(4x4,3x3)) instead of im2col.")
        var algorithm = "im2col"

        func run() throws {
            benchUsesCPUTime = options.cpuTime
            Conv2dTuning.targetColumns = tileColumns
            let winogradTile: Int? = ["winograd2": 2, "winograd4": 4][algorithm]
            guard winogradTile != nil || algorithm == "im2col" else {
                throw ValidationError("--algorithm: im2col, winograd2 or winograd4, not \(algorithm)")
            }
            guard let layers = ["inception": InceptionConvs.layers, "vq16": InceptionConvs.vq16][net] else {
                throw ValidationError("--net: inception or vq16, not \(net)")
            }
            let n = options.referenceSize
            let ref = 2 * Double(n) * Double(n) * Double(n) / 1e9 / GemmBench.seconds(m: n, n: n, k: n, repeat: options.repeat)
            print("conv2d on \(net) layer shapes, batch \(batch), \(algorithm), tiles of \(tileColumns) columns; \(Threads.blasDescription)")
            print("reference sgemm \(n)³: \(fmt(ref, 1)) GFLOP/s; best of \(options.repeat) runs after one warm-up; \(options.clockDescription)\n")
            var rows: [[String]] = []
            var totalFlop = 0.0, totalTime = 0.0
            for layer in layers where filter.map({ layer.name.contains($0) }) ?? true {
                let (x, w) = layer.inputs(batch: batch)
                // Winograd weights are transformed once per layer (as Conv2d caches them), outside the timing.
                let u = winogradTile.flatMap { t in
                    layer.kh == 3 && layer.kw == 3 && layer.stride == 1 ? WinogradWeights(w, tile: WinogradTile(t)) : nil
                }
                let s = time(repeat: options.repeat) {
                    if let u {
                        _ = conv2dWinograd(x, weights: u, padding: layer.padding)
                    } else {
                        _ = conv2d(x, weight: w, stride: (layer.stride, layer.stride), padding: layer.padding)
                    }
                }
                let gflop = layer.flops(batch: batch) / 1e9
                totalFlop += gflop
                totalTime += s
                rows.append([
                    layer.name, layer.shapeDescription, fmt(gflop, 3), fmt(s * 1e3, 2), fmt(gflop / s, 1),
                    fmt(100 * gflop / s / ref, 0) + "%",
                ])
            }
            printTable(header: ["layer", "shape (C→O k s p @ H×W)", "GFLOP", "ms", "GFLOP/s", "% sgemm"], rows: rows)
            print("\ntotal: \(fmt(totalFlop, 2)) GFLOP in \(fmt(totalTime * 1e3, 1)) ms = \(fmt(totalFlop / totalTime, 1)) GFLOP/s")
            print("conv total: \(Int((100 * totalFlop / totalTime / ref).rounded()))% of sgemm")
        }
    }
}

enum GemmBench {
    /// Square sizes plus the im2col gemms of representative Inception layers at batch 8
    /// (m = O, n = N·H·W, k = C·kh·kw).
    static func shapes(referenceSize: Int) -> [(String, Int, Int, Int)] {
        var s: [(String, Int, Int, Int)] = [("square", 512, 512, 512), ("square", 1024, 1024, 1024)]
        if referenceSize != 1024 { s.append(("square", referenceSize, referenceSize, referenceSize)) }
        s += [
            ("Conv2d_2b_3x3", 64, 147 * 147, 288),  // one image
            ("Conv2d_4a_3x3", 192, 8 * 71 * 71, 720),
            ("Mixed_5b 1x1", 64, 8 * 35 * 35, 192),
            ("Mixed_6b 1x7", 128, 8 * 17 * 17, 896),
            ("Mixed_7b 3x3", 384, 8 * 8 * 8, 4032),
            ("Mixed_7c 1x1", 448, 8 * 8 * 8, 2048),
        ]
        return s
    }

    /// Best wall time of one `m×n×k` sgemm over `repeat` runs.
    static func seconds(m: Int, n: Int, k: Int, repeat: Int) -> Double {
        var a = [Float](repeating: 0, count: m * k), b = [Float](repeating: 0, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        for i in a.indices { a[i] = Float(i % 7) * 0.1 }
        for i in b.indices { b[i] = Float(i % 5) * 0.1 }
        return a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    time(repeat: `repeat`) {
                        DigitTensor.Gemm.sgemm(
                            m: m, n: n, k: k, a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n,
                            c: pc.baseAddress!, ldc: n)
                    }
                }
            }
        }
    }
}

/// Every convolution of pytorch-fid's `FIDInceptionA/C/E` Inception-v3 on a 299×299 input, in
/// network order (the shapes torchvision's `inception_v3` uses too).
enum InceptionConvs {
    struct Layer {
        var name: String
        var c: Int, o: Int, kh: Int, kw: Int, h: Int, w: Int
        var stride = 1
        var padding = Padding2d.zero

        var outH: Int { (h + padding.top + padding.bottom - kh) / stride + 1 }
        var outW: Int { (w + padding.left + padding.right - kw) / stride + 1 }
        func flops(batch: Int) -> Double { 2 * Double(batch * o * outH * outW * c * kh * kw) }
        var shapeDescription: String {
            let p = padding == .zero ? "" : " p\(padding.top),\(padding.left)"
            return "\(c)→\(o) \(kh)x\(kw)\(stride > 1 ? " s\(stride)" : "")\(p) @ \(h)×\(w)"
        }
        func inputs(batch: Int) -> (Tensor, Tensor) {
            let x = Tensor(shape: [batch, c, h, w], scalars: (0..<(batch * c * h * w)).map { Float($0 % 13) * 0.05 - 0.3 })
            let wt = Tensor(shape: [o, c, kh, kw], scalars: (0..<(o * c * kh * kw)).map { Float($0 % 11) * 0.01 - 0.05 })
            return (x, wt)
        }
    }

    static func conv(_ name: String, _ c: Int, _ o: Int, _ k: (Int, Int), _ hw: Int, stride: Int = 1, pad: (Int, Int) = (0, 0))
        -> Layer
    {
        Layer(name: name, c: c, o: o, kh: k.0, kw: k.1, h: hw, w: hw, stride: stride, padding: .symmetric(pad.0, pad.1))
    }

    static func inceptionA(_ name: String, _ c: Int, pool: Int) -> [Layer] {
        [
            conv("\(name).branch1x1", c, 64, (1, 1), 35),
            conv("\(name).branch5x5_1", c, 48, (1, 1), 35),
            conv("\(name).branch5x5_2", 48, 64, (5, 5), 35, pad: (2, 2)),
            conv("\(name).branch3x3dbl_1", c, 64, (1, 1), 35),
            conv("\(name).branch3x3dbl_2", 64, 96, (3, 3), 35, pad: (1, 1)),
            conv("\(name).branch3x3dbl_3", 96, 96, (3, 3), 35, pad: (1, 1)),
            conv("\(name).branch_pool", c, pool, (1, 1), 35),
        ]
    }

    static func inceptionC(_ name: String, c7: Int) -> [Layer] {
        [
            conv("\(name).branch1x1", 768, 192, (1, 1), 17),
            conv("\(name).branch7x7_1", 768, c7, (1, 1), 17),
            conv("\(name).branch7x7_2", c7, c7, (1, 7), 17, pad: (0, 3)),
            conv("\(name).branch7x7_3", c7, 192, (7, 1), 17, pad: (3, 0)),
            conv("\(name).branch7x7dbl_1", 768, c7, (1, 1), 17),
            conv("\(name).branch7x7dbl_2", c7, c7, (7, 1), 17, pad: (3, 0)),
            conv("\(name).branch7x7dbl_3", c7, c7, (1, 7), 17, pad: (0, 3)),
            conv("\(name).branch7x7dbl_4", c7, c7, (7, 1), 17, pad: (3, 0)),
            conv("\(name).branch7x7dbl_5", c7, 192, (1, 7), 17, pad: (0, 3)),
            conv("\(name).branch_pool", 768, 192, (1, 1), 17),
        ]
    }

    static func inceptionE(_ name: String, _ c: Int) -> [Layer] {
        [
            conv("\(name).branch1x1", c, 320, (1, 1), 8),
            conv("\(name).branch3x3_1", c, 384, (1, 1), 8),
            conv("\(name).branch3x3_2a", 384, 384, (1, 3), 8, pad: (0, 1)),
            conv("\(name).branch3x3_2b", 384, 384, (3, 1), 8, pad: (1, 0)),
            conv("\(name).branch3x3dbl_1", c, 448, (1, 1), 8),
            conv("\(name).branch3x3dbl_2", 448, 384, (3, 3), 8, pad: (1, 1)),
            conv("\(name).branch3x3dbl_3a", 384, 384, (1, 3), 8, pad: (0, 1)),
            conv("\(name).branch3x3dbl_3b", 384, 384, (3, 1), 8, pad: (1, 0)),
            conv("\(name).branch_pool", c, 192, (1, 1), 8),
        ]
    }

    static let layers: [Layer] =
        [
            conv("Conv2d_1a_3x3", 3, 32, (3, 3), 299, stride: 2),
            conv("Conv2d_2a_3x3", 32, 32, (3, 3), 149),
            conv("Conv2d_2b_3x3", 32, 64, (3, 3), 147, pad: (1, 1)),
            conv("Conv2d_3b_1x1", 64, 80, (1, 1), 73),
            conv("Conv2d_4a_3x3", 80, 192, (3, 3), 73),
        ]
        + inceptionA("Mixed_5b", 192, pool: 32) + inceptionA("Mixed_5c", 256, pool: 64)
        + inceptionA("Mixed_5d", 288, pool: 64)
        + [
            conv("Mixed_6a.branch3x3", 288, 384, (3, 3), 35, stride: 2),
            conv("Mixed_6a.branch3x3dbl_1", 288, 64, (1, 1), 35),
            conv("Mixed_6a.branch3x3dbl_2", 64, 96, (3, 3), 35, pad: (1, 1)),
            conv("Mixed_6a.branch3x3dbl_3", 96, 96, (3, 3), 35, stride: 2),
        ]
        + inceptionC("Mixed_6b", c7: 128) + inceptionC("Mixed_6c", c7: 160) + inceptionC("Mixed_6d", c7: 160)
        + inceptionC("Mixed_6e", c7: 192)
        + [
            conv("Mixed_7a.branch3x3_1", 768, 192, (1, 1), 17),
            conv("Mixed_7a.branch3x3_2", 192, 320, (3, 3), 17, stride: 2),
            conv("Mixed_7a.branch7x7x3_1", 768, 192, (1, 1), 17),
            conv("Mixed_7a.branch7x7x3_2", 192, 192, (1, 7), 17, pad: (0, 3)),
            conv("Mixed_7a.branch7x7x3_3", 192, 192, (7, 1), 17, pad: (3, 0)),
            conv("Mixed_7a.branch7x7x3_4", 192, 192, (3, 3), 17, stride: 2),
        ]
        + inceptionE("Mixed_7b", 1280) + inceptionE("Mixed_7c", 2048)

    /// The distinct 3x3 conv shapes of LlamaGen VQ-16 (ch 128, ch_mult [1,1,2,2,4]) at 256 px, one
    /// of each (the encoder's conv_in and the decoder's conv_out are the few-channel ends).
    static let vq16: [Layer] = [
        conv("enc.conv_in", 3, 128, (3, 3), 256, pad: (1, 1)),
        conv("res 128@256", 128, 128, (3, 3), 256, pad: (1, 1)),
        conv("res 128@128", 128, 128, (3, 3), 128, pad: (1, 1)),
        conv("res 128>256@64", 128, 256, (3, 3), 64, pad: (1, 1)),
        conv("res 256@64", 256, 256, (3, 3), 64, pad: (1, 1)),
        conv("res 256@32", 256, 256, (3, 3), 32, pad: (1, 1)),
        conv("res 256>512@16", 256, 512, (3, 3), 16, pad: (1, 1)),
        conv("res 512@16", 512, 512, (3, 3), 16, pad: (1, 1)),
        conv("dec.conv_out", 128, 3, (3, 3), 256, pad: (1, 1)),
    ]
}

/// Whether ``time(repeat:_:)`` measures process CPU time / threads instead of wall time.
nonisolated(unsafe) var benchUsesCPUTime = false

/// Best time of `body` over `repeat` runs after one warm-up run, in seconds: wall time, or with
/// ``benchUsesCPUTime`` the process CPU time divided by ``Threads/count``.
func time(repeat: Int, _ body: () -> Void) -> Double {
    func now() -> Double {
        if benchUsesCPUTime {
            var ts = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
            return (Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9) / Double(Threads.count)
        }
        return Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }
    body()
    var best = Double.infinity
    for _ in 0..<max(1, `repeat`) {
        let t0 = now()
        body()
        best = min(best, now() - t0)
    }
    return best
}

func fmt(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }

/// Prints a left-aligned first column and right-aligned numeric columns.
func printTable(header: [String], rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
    func line(_ r: [String]) -> String {
        r.enumerated().map { i, s in
            let pad = String(repeating: " ", count: widths[i] - s.count)
            return i <= 1 ? s + pad : pad + s
        }.joined(separator: "  ")
    }
    print(line(header))
    print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
    for r in rows { print(line(r)) }
}
