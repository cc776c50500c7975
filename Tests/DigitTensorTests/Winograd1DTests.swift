import CKernels
@testable import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

struct Winograd1DCase: CustomStringConvertible, Sendable {
    var m: Int, r: Int
    var axis: Winograd1DAxis
    var n: Int, c: Int, h: Int, w: Int, o: Int
    var description: String { "F(\(m), \(r)) \(axis == .width ? "1x\(r)" : "\(r)x1") N\(n) C\(c) \(h)x\(w) -> O\(o)" }
}

@Suite("conv2dWinograd1D")
struct Winograd1DTests {
    /// Every tile on a 1×r and an r×1 kernel: Inception's 17×17 (several tasks per call, ragged
    /// last tile for m = 3, 4, 6), 8×8 for r = 3, and small / odd sizes (across < 8: the portable
    /// transform path; one partial tile).
    static let cases: [Winograd1DCase] = Winograd1DTile.supported.flatMap { t -> [Winograd1DCase] in
        let big = t.r == 7 ? (17, 17) : (8, 8)
        return [Winograd1DAxis.width, .height].flatMap { axis in [
            Winograd1DCase(m: t.m, r: t.r, axis: axis, n: 3, c: 48, h: big.0, w: big.1, o: 40),
            Winograd1DCase(m: t.m, r: t.r, axis: axis, n: 2, c: 5, h: 5, w: 11, o: 3),
            Winograd1DCase(m: t.m, r: t.r, axis: axis, n: 1, c: 3, h: 9, w: 2, o: 4),
        ] }
    }

    /// (max |Δ| of Winograd, of im2col) against the float64 loop for x, w in [-1, 1), padding (r − 1) / 2.
    static func error(_ t: Winograd1DCase) -> (Double, Double) {
        var rng = TestRNG(seed: UInt64(t.m * 7 + t.r * 131 + t.n * 31 + t.c * 977 + t.h * 13 + t.w + (t.axis == .width ? 1 : 0)))
        let (kh, kw) = t.axis == .width ? (1, t.r) : (t.r, 1)
        let p = (t.r - 1) / 2
        let pad = t.axis == .width ? Padding2d.symmetric(0, p) : .symmetric(p, 0)
        let x = rng.tensor([t.n, t.c, t.h, t.w]), w = rng.tensor([t.o, t.c, kh, kw]), b = rng.tensor([t.o])
        let u = Winograd1DWeights(w.scalars, outChannels: t.o, inChannels: t.c, tile: Winograd1DTile(m: t.m, r: t.r))
        let y = conv2dWinograd1D(x, weights: u, axis: t.axis, padding: p, bias: b)
        let ref = naiveConv2d(x, w, b, stride: (1, 1), pad: pad, dilation: (1, 1), groups: 1)
        #expect(y.shape == ref.shape)
        let im2col = conv2d(x, weight: w, bias: b, stride: (1, 1), padding: pad)
        return (compare(y.scalars, ref.values).maxAbsDiff, compare(im2col.scalars, ref.values).maxAbsDiff)
    }

    /// The bound per output, with K = r·C products of magnitude ≤ 1 (im2col's float32 error is
    /// about 1e-7·K). The transforms' coefficients grow with m (largest |Bᵀ| / |Aᵀ|: 5.25 / 2 for
    /// F(2, 7), 10.6 / 4 for F(3, 7), 8.2 / 8 for F(4, 7), 18.5 / 32 for F(6, 7), 5 / 8 for F(4, 3),
    /// 5.25 / 32 for F(6, 3)), and so does their rounding of the transformed values: F(2, r) keeps
    /// the im2col op test's 1e-6·K + 1e-6, F(3, 7), F(4, ·) and F(6, 3) 4e-6·K + 4e-6, F(6, 7)
    /// 1e-5·K + 1e-5. Measured (docs/conv-perf.md) 8-40x inside these bounds; the im2col error of
    /// the same case is printed alongside with DIGIT_BENCH_VERBOSE=1.
    static func bound(_ t: Winograd1DCase) -> Double {
        let k = Double(t.r * t.c)
        switch (t.m, t.r) {
        case (2, _): return 1e-6 * k + 1e-6
        case (6, 7): return 1e-5 * k + 1e-5
        default: return 4e-6 * k + 4e-6
        }
    }

    @Test("F(m, r) matches a naive float64 loop", arguments: cases)
    func matchesNaive(_ t: Winograd1DCase) {
        let (e, e0) = Self.error(t)
        if ProcessInfo.processInfo.environment["DIGIT_BENCH_VERBOSE"] != nil { print("\(t): winograd \(e), im2col \(e0)") }
        #expect(e <= Self.bound(t), "\(t): winograd \(e), im2col \(e0)")
    }

    @Test("(C, N, H, W) planes with BatchNorm + ReLU epilogue; batch invariance bit for bit")
    func planesEpilogueAndBatchInvariance() {
        var rng = TestRNG(seed: 5)
        let (n, c, h, wd, o) = (4, 24, 17, 17, 20)
        let x = rng.tensor([c, n, h, wd])  // (C, N, H, W)
        let w = rng.tensor([o, c, 7, 1]), scale = rng.tensor([o]).scalars, shift = rng.tensor([o]).scalars
        let u = Winograd1DWeights(w.scalars, outChannels: o, inChannels: c, tile: Winograd1DTile(m: 4, r: 7))
        /// Plane (channel ci, image b) of x.
        func plane(_ ci: Int, _ b: Int) -> ArraySlice<Float> {
            let start: Int = (ci * n + b) * h * wd
            return x.scalars[start..<(start + h * wd)]
        }
        func run(_ images: Range<Int>) -> [Float] {
            let k = images.count
            var out = [Float](repeating: .nan, count: o * k * h * wd)
            // Images `images` of the group: a copy of their planes, (C, k, H, W).
            var sub = [Float]()
            for ci in 0..<c { for b in images { sub += plane(ci, b) } }
            sub.withUnsafeBufferPointer { px in
                out.withUnsafeMutableBufferPointer { po in
                    conv2dWinograd1D(px.baseAddress!, batch: k, height: h, width: wd, layout: .cnhw(batch: k, height: h, width: wd),
                                     axis: .height, weights: u, padding: 3, epilogue: .scaleShiftReLU(scale: scale, shift: shift),
                                     into: po.baseAddress!, layout: .cnhw(batch: k, height: h, width: wd), onCallingThread: true)
                }
            }
            return out
        }
        let all = run(0..<n)
        // Against the float64 loop on the NCHW copy, then x·scale + shift and ReLU.
        var nchw = [Float]()
        for b in 0..<n { for ci in 0..<c { nchw += plane(ci, b) } }
        let ref = naiveConv2d(Tensor(shape: [n, c, h, wd], scalars: nchw), w, nil, stride: (1, 1), pad: .symmetric(3, 0), dilation: (1, 1), groups: 1)
        var worst = 0.0
        for b in 0..<n { for oc in 0..<o { for i in 0..<(h * wd) {
            let r = max(ref.values[(b * o + oc) * h * wd + i] * Double(scale[oc]) + Double(shift[oc]), 0)
            worst = max(worst, abs(Double(all[(oc * n + b) * h * wd + i]) - r) / max(Double(abs(scale[oc])), 1e-3))
        } } }
        // The F(4, 7) bound of `bound` (scaled by |scale| ≤ 1; the epilogue adds one rounding).
        #expect(worst <= 4e-6 * Double(7 * c) + 4e-6, "max |Δ| / |scale| \(worst)")
        // Every image alone, and a pair at another position, gives the same bits as the group of 4.
        for b in 0..<n {
            let one = run(b..<(b + 1))
            for oc in 0..<o { #expect(Array(one[(oc * h * wd)..<((oc + 1) * h * wd)]) == Array(all[((oc * n + b) * h * wd)..<((oc * n + b + 1) * h * wd)]), "image \(b)") }
        }
        let pair = run(1..<3)
        for oc in 0..<o { #expect(Array(pair[(oc * 2 * h * wd)..<((oc * 2 + 2) * h * wd)]) == Array(all[((oc * n + 1) * h * wd)..<((oc * n + 3) * h * wd)])) }
    }

    @Test("AVX2 and portable transforms give the same bits")
    func portableMatchesVector() {
        var rng = TestRNG(seed: 9)
        let tile = Winograd1DTile(m: 4, r: 7), a = tile.alpha, across = 17, tiles = 3
        let src = rng.tensor([(tiles * 4 + 6) * across]).scalars
        var v = [Float](repeating: 0, count: a * tiles * across), p = v
        let bT = tile.matrices.bT
        dbk_w1d_apply(bT, Int64(a), Int64(a), src, Int64(across), Int64(4 * across), &v, Int64(tiles * across), Int64(across), Int64(tiles), Int64(across))
        dbk_w1d_apply_portable(bT, Int64(a), Int64(a), src, Int64(across), Int64(4 * across), &p, Int64(tiles * across), Int64(across), Int64(tiles), Int64(across))
        #expect(v == p)
    }
}
