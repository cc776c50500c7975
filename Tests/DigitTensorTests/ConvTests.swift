import DigitTensor
import Testing
import _DigitTestSupport

/// Naive float64 NCHW convolution, written independently of the im2col path.
func naiveConv2d(
    _ x: Tensor, _ w: Tensor, _ b: Tensor?, stride: (Int, Int), pad: Padding2d, dilation: (Int, Int), groups: Int
) -> (shape: [Int], values: [Double]) {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let og = o / groups
    let oh = (h + pad.top + pad.bottom - dilation.0 * (kh - 1) - 1) / stride.0 + 1
    let ow = (wd + pad.left + pad.right - dilation.1 * (kw - 1) - 1) / stride.1 + 1
    var out = [Double](repeating: 0, count: n * o * oh * ow)
    for ni in 0..<n {
        for oc in 0..<o {
            let g = oc / og
            for y in 0..<oh {
                for xx in 0..<ow {
                    var s = b.map { Double($0.scalars[oc]) } ?? 0
                    for ci in 0..<cg {
                        let cIn = g * cg + ci
                        for ky in 0..<kh {
                            let iy = y * stride.0 - pad.top + ky * dilation.0
                            if iy < 0 || iy >= h { continue }
                            for kx in 0..<kw {
                                let ix = xx * stride.1 - pad.left + kx * dilation.1
                                if ix < 0 || ix >= wd { continue }
                                s += Double(x.scalars[((ni * c + cIn) * h + iy) * wd + ix])
                                    * Double(w.scalars[((oc * cg + ci) * kh + ky) * kw + kx])
                            }
                        }
                    }
                    out[((ni * o + oc) * oh + y) * ow + xx] = s
                }
            }
        }
    }
    return ([n, o, oh, ow], out)
}

struct ConvCase: CustomStringConvertible, Sendable {
    var n: Int, c: Int, h: Int, w: Int, o: Int, kh: Int, kw: Int
    var stride: (Int, Int) = (1, 1)
    var pad = Padding2d.zero
    var dilation: (Int, Int) = (1, 1)
    var groups = 1
    var bias = true
    var description: String {
        "N\(n) C\(c) \(h)x\(w) -> O\(o) k\(kh)x\(kw) s\(stride) pad(\(pad.top),\(pad.bottom),\(pad.left),\(pad.right)) d\(dilation) g\(groups)"
    }
}

@Suite("conv2d")
struct ConvTests {
    static let cases: [ConvCase] = [
        ConvCase(n: 1, c: 5, h: 7, w: 9, o: 6, kh: 1, kw: 1),  // pointwise, direct sgemm on the input
        ConvCase(n: 3, c: 5, h: 7, w: 9, o: 6, kh: 1, kw: 1, bias: false),  // pointwise, batched columns
        ConvCase(n: 2, c: 3, h: 11, w: 13, o: 8, kh: 3, kw: 3, pad: .symmetric(1, 1)),
        ConvCase(n: 2, c: 4, h: 13, w: 10, o: 6, kh: 3, kw: 3, stride: (2, 2)),  // Inception-style 3x3/2 valid
        ConvCase(n: 2, c: 4, h: 9, w: 9, o: 4, kh: 1, kw: 7, pad: .symmetric(0, 3)),  // 1x7
        ConvCase(n: 2, c: 4, h: 9, w: 9, o: 4, kh: 7, kw: 1, pad: .symmetric(3, 0)),  // 7x1
        ConvCase(n: 2, c: 3, h: 10, w: 12, o: 5, kh: 3, kw: 3, stride: (2, 2),
                 pad: Padding2d(top: 0, bottom: 1, left: 0, right: 1)),  // VQGAN Downsample F.pad(0,1,0,1)
        ConvCase(n: 1, c: 6, h: 12, w: 11, o: 4, kh: 3, kw: 3, pad: .symmetric(2, 2), dilation: (2, 2), groups: 2),
        ConvCase(n: 2, c: 6, h: 8, w: 7, o: 6, kh: 3, kw: 3, pad: .symmetric(1, 1), groups: 6),  // depthwise
        ConvCase(n: 3, c: 2, h: 50, w: 47, o: 3, kh: 5, kw: 3, stride: (1, 2), pad: Padding2d(top: 2, bottom: 1, left: 0, right: 2)),
        ConvCase(n: 1, c: 3, h: 4, w: 4, o: 2, kh: 4, kw: 4, stride: (4, 4)),  // patch embedding
        ConvCase(n: 2, c: 2, h: 3, w: 3, o: 2, kh: 5, kw: 5, pad: .symmetric(2, 2)),  // kernel larger than input
    ]

    @Test("matches a naive float64 loop", arguments: cases)
    func matchesNaive(_ t: ConvCase) {
        var rng = TestRNG(seed: UInt64(t.n * 7919 + t.c * 104_729 + t.h * 31 + t.kh * 17 + t.groups))
        let x = rng.tensor([t.n, t.c, t.h, t.w])
        let w = rng.tensor([t.o, t.c / t.groups, t.kh, t.kw])
        let b = t.bias ? rng.tensor([t.o]) : nil
        let y = conv2d(x, weight: w, bias: b, stride: t.stride, padding: t.pad, dilation: t.dilation, groups: t.groups)
        let ref = naiveConv2d(x, w, b, stride: t.stride, pad: t.pad, dilation: t.dilation, groups: t.groups)
        #expect(y.shape == ref.shape)
        let c = compare(y.scalars, ref.values)
        // float32 sgemm accumulation over K = C/g·kh·kw products of magnitude <= 1:
        // |err| <= K · 2^-23 · K loosely; K <= 45 here, so 1e-6·K + 1e-6 is generous but tight
        // enough to catch any indexing error (those are O(0.1)).
        let k = Double(t.c / t.groups * t.kh * t.kw)
        #expect(c.maxAbsDiff <= 1e-6 * k + 1e-6, "\(t): \(c)")
    }

    @Test("convenience overloads agree with the explicit form")
    func overloads() {
        var rng = TestRNG(seed: 42)
        let x = rng.tensor([2, 4, 9, 9]), w = rng.tensor([3, 4, 1, 7]), b = rng.tensor([3])
        let a = conv2d(x, weight: w, bias: b, padding: (0, 3))
        let e = conv2d(x, weight: w, bias: b, stride: (1, 1), padding: Padding2d(top: 0, bottom: 0, left: 3, right: 3))
        #expect(a == e)
        let w3 = rng.tensor([3, 4, 3, 3])
        #expect(conv2d(x, weight: w3, stride: 2, padding: 1) == conv2d(x, weight: w3, stride: (2, 2), padding: .symmetric(1, 1)))
    }

    @Test("batch invariance: each image convolved alone gives the batched result")
    func batchInvariance() {
        var rng = TestRNG(seed: 7)
        let x = rng.tensor([5, 3, 6, 6]), w = rng.tensor([4, 3, 3, 3])
        let all = conv2d(x, weight: w, padding: 1)
        for i in 0..<5 {
            let one = conv2d(x.slice(axis: 0, i..<(i + 1)), weight: w, padding: 1)
            let c = compare(one.scalars, all.slice(axis: 0, i..<(i + 1)).scalars)
            // Same products, possibly different gemm blocking: float32 rounding only.
            #expect(c.maxAbsDiff <= 1e-5, "\(c)")
        }
    }
}
