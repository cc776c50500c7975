@testable import DigitTensor
import Testing
import _DigitTestSupport

struct WinogradCase: CustomStringConvertible, Sendable {
    var n: Int, c: Int, h: Int, w: Int, o: Int
    var pad = Padding2d.symmetric(1, 1)
    var bias = true
    var description: String { "N\(n) C\(c) \(h)x\(w) -> O\(o) pad(\(pad.top),\(pad.bottom),\(pad.left),\(pad.right))" }
}

@Suite("conv2dWinograd")
struct WinogradTests {
    static let cases: [WinogradCase] = [
        WinogradCase(n: 2, c: 3, h: 11, w: 13, o: 8),  // ragged tiles on both sides
        WinogradCase(n: 1, c: 5, h: 8, w: 8, o: 4, pad: .zero, bias: false),  // valid conv (Inception 2a)
        WinogradCase(n: 3, c: 4, h: 7, w: 9, o: 5, pad: Padding2d(top: 0, bottom: 1, left: 2, right: 0)),
        WinogradCase(n: 1, c: 2, h: 3, w: 3, o: 3),  // one tile
        // Several tasks per image (parallel path) and few tasks (sequential, split stages).
        WinogradCase(n: 2, c: 16, h: 70, w: 66, o: 24),
        WinogradCase(n: 1, c: 64, h: 20, w: 20, o: 32),
    ]

    /// Max |Δ| of Winograd F(m×m, 3×3) against the float64 loop, over random x, w in [-1, 1).
    static func error(_ t: WinogradCase, tile: Int) -> (Double, Double) {
        var rng = TestRNG(seed: UInt64(t.n * 31 + t.c * 977 + t.h * 13 + t.w + tile))
        let x = rng.tensor([t.n, t.c, t.h, t.w]), w = rng.tensor([t.o, t.c, 3, 3])
        let b = t.bias ? rng.tensor([t.o]) : nil
        let y = conv2dWinograd(x, weights: WinogradWeights(w, tile: WinogradTile(tile)), bias: b, padding: t.pad)
        let ref = naiveConv2d(x, w, b, stride: (1, 1), pad: t.pad, dilation: (1, 1), groups: 1)
        #expect(y.shape == ref.shape)
        let im2col = conv2d(x, weight: w, bias: b, stride: (1, 1), padding: t.pad)
        return (compare(y.scalars, ref.values).maxAbsDiff, compare(im2col.scalars, ref.values).maxAbsDiff)
    }

    @Test("F(2x2, 3x3) matches a naive float64 loop", arguments: cases)
    func tile2(_ t: WinogradCase) {
        let (e, e0) = Self.error(t, tile: 2)
        // Products of magnitude <= 1 summed over K = 9C: im2col's float32 error is about
        // 1e-7·K; the F(2x2) transforms (sums of <= 4 terms, coefficients 1/2 and 1) add a few ulps
        // of the partial sums: bound 1e-6·K + 1e-6, as the im2col op test.
        #expect(e <= 1e-6 * Double(9 * t.c) + 1e-6, "\(t): winograd \(e), im2col \(e0)")
    }

    @Test("F(4x4, 3x3) matches a naive float64 loop", arguments: cases)
    func tile4(_ t: WinogradCase) {
        let (e, e0) = Self.error(t, tile: 4)
        // F(4x4) transforms have coefficients up to 8 (Aᵀ) and 5 (Bᵀ) and a 1/24 in G: the
        // rounding of the transformed values is amplified ~10-30x over im2col's; bound 1e-5·K + 1e-5.
        #expect(e <= 1e-5 * Double(9 * t.c) + 1e-5, "\(t): winograd \(e), im2col \(e0)")
    }

    @Test("batch invariance: each image convolved alone gives the batched result bit for bit")
    func batchInvariance() {
        var rng = TestRNG(seed: 11)
        let x = rng.tensor([3, 8, 40, 36]), w = rng.tensor([12, 8, 3, 3]), b = rng.tensor([12])
        for tile in [2, 4] {
            let u = WinogradWeights(w, tile: WinogradTile(tile))
            let all = conv2dWinograd(x, weights: u, bias: b, padding: .symmetric(1, 1))
            for i in 0..<3 {
                let one = conv2dWinograd(x.slice(axis: 0, i..<(i + 1)), weights: u, bias: b, padding: .symmetric(1, 1))
                // Tasks are cut per image, so the same sgemms run on the same tiles: exact.
                #expect(one == all.slice(axis: 0, i..<(i + 1)), "tile \(tile), image \(i)")
            }
        }
    }

    @Test("the fused 1-D transforms equal the Bᵀ and Aᵀ matrices", arguments: [2, 4])
    func fusedTransformsMatchMatrices(_ m: Int) {
        let tile = WinogradTile(m), a = tile.alpha, count = 7  // 7: one full and one partial SIMD step
        var rng = TestRNG(seed: UInt64(m))
        let src = rng.tensor([a, count]).scalars
        var outB = [Float](repeating: 0, count: a * count), outA = [Float](repeating: 0, count: m * count)
        src.withUnsafeBufferPointer { ps in
            let p = ps.baseAddress!
            inputTransform(m: m, { p + $0 * count }, &outB, stride: count, count: count)
            outputTransform(m: m, { p + $0 * count }, &outA, stride: count, count: count, bias: 0.5)
        }
        for i in 0..<count {
            for r in 0..<a {
                let e = (0..<a).reduce(0.0) { $0 + Double(tile.bT[r * a + $1]) * Double(src[$1 * count + i]) }
                // Sums of <= 6 terms with coefficients <= 5 of values in [-1, 1): float32 rounding <= 1e-5.
                #expect(abs(Double(outB[r * count + i]) - e) <= 1e-5, "Bᵀ row \(r) column \(i)")
            }
            for j in 0..<m {
                let e = (0..<a).reduce(0.5) { $0 + Double(tile.aT[j * a + $1]) * Double(src[$1 * count + i]) }
                // Coefficients <= 8: float32 rounding <= 1e-5.
                #expect(abs(Double(outA[j * count + i]) - e) <= 1e-5, "Aᵀ row \(j) column \(i)")
            }
        }
    }

    /// A raw-plane Winograd convolution (optionally in the FID Inception's (C, N, H, W) layout) with
    /// the given transforms.
    static func rawConv(_ x: Tensor, _ u: WinogradWeights, pad: Padding2d, cnhw: Bool, epilogue: WinogradEpilogue,
                        transforms: WinogradTransforms) -> [Float] {
        // x is (N, C, H, W) or (C, N, H, W).
        let (n, h, w) = (cnhw ? x.dim(1) : x.dim(0), x.dim(2), x.dim(3))
        let c = u.inChannels, o = u.outChannels
        let oh = h + pad.top + pad.bottom - 2, ow = w + pad.left + pad.right - 2
        var out = [Float](repeating: .nan, count: n * o * oh * ow)
        x.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                conv2dWinograd(
                    px.baseAddress!, batch: n, height: h, width: w,
                    layout: cnhw ? .cnhw(batch: n, height: h, width: w) : .nchw(channels: c, height: h, width: w),
                    weights: u, padding: pad, epilogue: epilogue, into: po.baseAddress!,
                    layout: cnhw ? .cnhw(batch: n, height: oh, width: ow) : .nchw(channels: o, height: oh, width: ow),
                    tasksSpanImages: cnhw, transforms: transforms)
            }
        }
        return out
    }

    @Test("CKernels' AVX2 and AVX-512 transforms give the Swift transforms' bits", arguments: [2, 4])
    func simdTransformsMatchSwift(_ m: Int) {
        var rng = TestRNG(seed: 40 + UInt64(m))
        // (N, C, H, W, O, padding, Inception layout, epilogue kind: 0 none, 1 bias, 2 BatchNorm + ReLU).
        // Widths give 1–10 tiles per row and several 8/16-tile steps with ragged ends.
        let cases: [(Int, Int, Int, Int, Int, Padding2d, Bool, Int)] = [
            (2, 3, 11, 13, 8, .symmetric(1, 1), false, 1),
            (1, 4, 12, 149, 5, .zero, false, 0),
            (2, 3, 9, 70, 4, Padding2d(top: 0, bottom: 1, left: 2, right: 0), false, 1),
            (3, 5, 35, 35, 6, .symmetric(1, 1), true, 2),
            (8, 4, 8, 8, 5, .symmetric(1, 1), true, 2),
            (2, 3, 17, 147, 7, .symmetric(1, 1), true, 2),
            (1, 2, 3, 3, 3, .symmetric(1, 1), false, 1),
        ]
        for (n, c, h, w, o, pad, cnhw, kind) in cases {
            let x = rng.tensor(cnhw ? [c, n, h, w] : [n, c, h, w]), wt = rng.tensor([o, c, 3, 3])
            let b = rng.tensor([o]).scalars, scale = rng.tensor([o]).scalars
            let epilogue: WinogradEpilogue = kind == 0 ? .bias(nil) : kind == 1 ? .bias(b) : .scaleShiftReLU(scale: scale, shift: b)
            let u = WinogradWeights(wt, tile: WinogradTile(m))
            let swift = Self.rawConv(x, u, pad: pad, cnhw: cnhw, epilogue: epilogue, transforms: .swift)
            #expect(!swift.contains { $0.isNaN })
            for t in [WinogradTransforms.avx2, .avx512] {
                let simd = Self.rawConv(x, u, pad: pad, cnhw: cnhw, epilogue: epilogue, transforms: t)
                // Same formulas in the same order, no fused multiply-adds: exact.
                #expect(simd == swift, "F(\(m)) \(t) N\(n) C\(c) \(h)x\(w) O\(o) cnhw \(cnhw) kind \(kind): \(compare(simd, swift))")
            }
        }
    }
}
