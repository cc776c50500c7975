// Per-layer timing of the FID Inception (`digit-bench bench inception --profile`): which units cost
// what, and where Winograd pays (docs/conv-perf.md).
import DigitTensor
import Foundation

/// One row of ``InceptionV3/profile(batch:repeats:seconds:)``.
public struct InceptionProfileRow: Sendable {
    /// Unit key prefix (`Mixed_5b.branch3x3dbl_2`) or a pool (`Mixed_5b.pool`).
    public let name: String
    /// `C→O kH×kW sS @ H×W`
    public let shape: String
    /// Convolution FLOPs per image (0 for pools).
    public let flopsPerImage: Double
    /// Seconds per image by algorithm: "im2col" (or "pool"), "winograd2", "winograd4" (F(m×m, 3×3);
    /// "winograd2-swift", "winograd4-swift" with the portable transforms), "winograd1d_m" (F(m, r)
    /// along the taps of a 1×r / r×1 unit); "current" is what the network uses.
    public let secondsPerImage: [String: Double]
}

extension InceptionV3 {
    /// Every unit (and pool) at its forward-pass input size, run alone on a group of `batch` random
    /// images inside a single-threaded BLAS section (as ``extract(_:protocol:features:)``'s workers
    /// run them), timed by `seconds` (e.g. process CPU time) as the best of `repeats` after a warm-up.
    /// 3×3 stride-1 units are timed by im2col, F(2×2) and F(4×4), the latter two also with the Swift
    /// transforms when CKernels' SIMD ones are in use (`WinogradTuning.transforms`); 1×r / r×1 units
    /// by im2col and every implemented 1-D F(m, r). With `only`, just the units whose name contains
    /// it (and no pools).
    public func profile(batch: Int, repeats: Int = 3, only: String? = nil, seconds: () -> Double) -> [InceptionProfileRow] {
        var rows: [InceptionProfileRow] = []
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func input(_ c: Int, _ h: Int, _ w: Int) -> Tensor {
            // A 64-bit LCG's top 24 bits in [0, 1) (cheap; the values only need to be non-degenerate).
            Tensor(shape: [c, batch, h, w], scalars: (0..<(c * batch * h * w)).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Float(state >> 40) / Float(1 << 24)
            })
        }
        func best(_ body: () -> Void) -> Double {
            body()
            var t = Double.infinity
            for _ in 0..<repeats {
                let t0 = seconds()
                body()
                t = min(t, seconds() - t0)
            }
            return t / Double(batch)
        }
        func unit(_ u: BasicConv2d, _ h: Int, _ w: Int) {
            if let only, !u.name.contains(only) { return }
            let x = input(u.inChannels, h, w)
            let (oh, ow) = u.outputSize(h, w)
            var times: [String: Double] = [:]
            Threads.withSingleThreadedBLAS {
                times["current"] = best { _ = u(x) }
                var v = u
                v.algorithm = .im2col
                v.direct = false
                v.winograd1D = nil
                times["im2col"] = best { _ = v(x) }
                if u.winograd1DAxis != nil {
                    for t in Winograd1DTile.supported where t.r == max(u.kernelH, u.kernelW) {
                        v.winograd1D = t.m
                        times["winograd1d_\(t.m)"] = best { _ = v(x) }
                    }
                    v.winograd1D = nil
                }
                if u.kernelH == 3 && u.kernelW == 3 && u.stride == 1 {
                    for t in [2, 4] {
                        v.algorithm = .winograd(tile: t, minOutputPixels: 0)
                        times["winograd\(t)"] = best { _ = v(x) }
                        // The same with the portable Swift transforms (when the CPU has SIMD ones).
                        if WinogradTuning.transforms != .swift && WinogradTransforms.available != .swift {
                            let saved = WinogradTuning.transforms
                            WinogradTuning.transforms = .swift
                            times["winograd\(t)-swift"] = best { _ = v(x) }
                            WinogradTuning.transforms = saved
                        }
                    }
                }
            }
            rows.append(InceptionProfileRow(
                name: u.name, shape: "\(u.inChannels)→\(u.outChannels) \(u.kernelH)×\(u.kernelW) s\(u.stride) @ \(h)×\(w)",
                flopsPerImage: 2 * Double(u.outChannels * u.inChannels * u.kernelH * u.kernelW * oh * ow), secondsPerImage: times))
        }
        func pool(_ name: String, _ c: Int, _ h: Int, _ w: Int, _ kind: InceptionPool, stride: Int, padding: Int) {
            if only != nil { return }
            let x = input(c, h, w)
            let t = Threads.withSingleThreadedBLAS { best { _ = pool3x3(x, kind, stride: stride, padding: padding) } }
            rows.append(InceptionProfileRow(name: name, shape: "\(kind) 3×3 s\(stride) @ \(c)×\(h)×\(w)", flopsPerImage: 0,
                                            secondsPerImage: ["pool": t, "current": t]))
        }
        let s = configuration.image_size
        unit(Conv2d_1a_3x3, s, s)
        var (h, w) = Conv2d_1a_3x3.outputSize(s, s)
        unit(Conv2d_2a_3x3, h, w); (h, w) = Conv2d_2a_3x3.outputSize(h, w)
        unit(Conv2d_2b_3x3, h, w); (h, w) = Conv2d_2b_3x3.outputSize(h, w)
        pool("maxpool1", 64, h, w, .max, stride: 2, padding: 0); (h, w) = ((h - 3) / 2 + 1, (w - 3) / 2 + 1)
        unit(Conv2d_3b_1x1, h, w); (h, w) = Conv2d_3b_1x1.outputSize(h, w)
        unit(Conv2d_4a_3x3, h, w); (h, w) = Conv2d_4a_3x3.outputSize(h, w)
        pool("maxpool2", 192, h, w, .max, stride: 2, padding: 0); (h, w) = ((h - 3) / 2 + 1, (w - 3) / 2 + 1)
        func block(_ name: String, _ units: [BasicConv2d], inChannels c: Int, pool kind: InceptionPool?, reduce: Bool) {
            // Units see the block's input size except those fed by a same-size unit; every unit of
            // these blocks keeps the size, only stride-2 units reduce it (and they are last in a branch).
            for u in units { unit(u, h, w) }
            if let kind { pool("\(name).pool", c, h, w, kind, stride: 1, padding: 1) }
            if reduce { pool("\(name).pool", c, h, w, .max, stride: 2, padding: 0) }
        }
        block("Mixed_5b", Mixed_5b.units, inChannels: 192, pool: .average, reduce: false)
        block("Mixed_5c", Mixed_5c.units, inChannels: 256, pool: .average, reduce: false)
        block("Mixed_5d", Mixed_5d.units, inChannels: 288, pool: .average, reduce: false)
        block("Mixed_6a", Mixed_6a.units, inChannels: 288, pool: nil, reduce: true); (h, w) = ((h - 3) / 2 + 1, (w - 3) / 2 + 1)
        for (name, b) in [("Mixed_6b", Mixed_6b), ("Mixed_6c", Mixed_6c), ("Mixed_6d", Mixed_6d), ("Mixed_6e", Mixed_6e)] {
            block(name, b.units, inChannels: 768, pool: .average, reduce: false)
        }
        block("Mixed_7a", Mixed_7a.units, inChannels: 768, pool: nil, reduce: true); (h, w) = ((h - 3) / 2 + 1, (w - 3) / 2 + 1)
        block("Mixed_7b", Mixed_7b.units, inChannels: 1280, pool: .average, reduce: false)
        block("Mixed_7c", Mixed_7c.units, inChannels: 2048, pool: .max, reduce: false)
        return rows
    }
}
