import DigitTensor
import Testing
import _DigitTestSupport

@Suite("DirectConv3x3Stride2")
struct DirectConvTests {
    @Test("3x3 stride-2 direct conv + BatchNorm + ReLU matches a naive float64 loop")
    func matchesNaive() throws {
        try #require(DirectConv3x3Stride2.isAvailable, "no AVX-512 on this CPU: the Inception uses im2col")
        var rng = TestRNG(seed: 23)
        // (N, C, H, W, O): odd and even sizes, ragged 16-column and 16-channel ends, the Inception's 3→32.
        for (n, c, h, w, o) in [(2, 3, 11, 13, 32), (1, 1, 3, 3, 1), (3, 4, 8, 40, 21), (1, 3, 37, 299, 32), (2, 2, 9, 34, 5)] {
            let x = rng.tensor([n, c, h, w]), wt = rng.tensor([o, c, 3, 3])
            let scale = rng.tensor([o]).scalars, shift = rng.tensor([o]).scalars
            let oh = (h - 3) / 2 + 1, ow = (w - 3) / 2 + 1
            var out = [Float](repeating: .nan, count: n * o * oh * ow)
            x.withUnsafeBufferPointer { px in
                wt.withUnsafeBufferPointer { pw in
                    out.withUnsafeMutableBufferPointer { po in
                        DirectConv3x3Stride2.run(
                            px.baseAddress!, batch: n, channels: c, height: h, width: w, layout: .nchw(channels: c, height: h, width: w),
                            weight: pw.baseAddress!, outChannels: o, scale: scale, shift: shift, into: po.baseAddress!,
                            layout: .nchw(channels: o, height: oh, width: ow), onCallingThread: false)
                    }
                }
            }
            let ref = naiveConv2d(x, wt, nil, stride: (2, 2), pad: .zero, dilation: (1, 1), groups: 1)
            var worst = 0.0
            for i in 0..<out.count {
                let oc = (i / (oh * ow)) % o
                let e = max(ref.values[i] * Double(scale[oc]) + Double(shift[oc]), 0)
                worst = max(worst, abs(Double(out[i]) - e))
            }
            // K = 9C ≤ 36 products of magnitude ≤ 1, one float32 FMA chain, then ·scale + shift
            // (|scale|, |shift| < 1): a few ulps of values ≤ 37; bound 1e-6·K + 1e-6 as the im2col op test.
            #expect(worst <= 1e-6 * Double(9 * c) + 1e-6, "N\(n) C\(c) \(h)x\(w) O\(o): max |Δ| \(worst)")
        }
    }
}
