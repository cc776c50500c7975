import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

/// Output size from the formula in the torch docs: floor or ceil of (in + 2p - d(k-1) - 1)/s + 1,
/// dropping a last window that would start in the right padding.
func docOutputSize(_ input: Int, _ k: Int, _ s: Int, _ p: Int, _ d: Int = 1, ceil: Bool) -> Int {
    let q = Double(input + 2 * p - d * (k - 1) - 1) / Double(s)
    var out = Int(ceil ? q.rounded(.up) : q.rounded(.down)) + 1
    if ceil && (out - 1) * s >= input + p { out -= 1 }
    return out
}

struct PoolCase: CustomStringConvertible, Sendable {
    var h: Int, w: Int, k: (Int, Int), s: (Int, Int), p: (Int, Int), ceil: Bool
    var description: String { "\(h)x\(w) k\(k) s\(s) p\(p) ceil=\(ceil)" }
}

@Suite("pooling")
struct PoolTests {
    static let cases: [PoolCase] = [
        PoolCase(h: 147, w: 147, k: (3, 3), s: (2, 2), p: (0, 0), ceil: false),  // Inception maxpool1
        PoolCase(h: 35, w: 35, k: (3, 3), s: (1, 1), p: (1, 1), ceil: false),  // Inception branch_pool
        PoolCase(h: 8, w: 9, k: (3, 3), s: (2, 2), p: (1, 1), ceil: true),
        PoolCase(h: 7, w: 6, k: (2, 3), s: (2, 2), p: (1, 0), ceil: true),
        PoolCase(h: 5, w: 5, k: (2, 2), s: (3, 3), p: (0, 0), ceil: true),
        PoolCase(h: 10, w: 11, k: (4, 2), s: (3, 1), p: (2, 1), ceil: false),
    ]

    @Test("maxPool2d matches a direct window scan", arguments: cases)
    func maxPool(_ t: PoolCase) {
        var rng = TestRNG(seed: UInt64(t.h * 100 + t.w))
        let x = rng.tensor([2, 3, t.h, t.w])
        let y = maxPool2d(x, kernel: t.k, stride: t.s, padding: t.p, ceilMode: t.ceil)
        let oh = docOutputSize(t.h, t.k.0, t.s.0, t.p.0, ceil: t.ceil), ow = docOutputSize(t.w, t.k.1, t.s.1, t.p.1, ceil: t.ceil)
        #expect(y.shape == [2, 3, oh, ow])
        var ref: [Float] = []
        for plane in 0..<6 {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var m = -Float.infinity
                    for ky in 0..<t.k.0 {
                        for kx in 0..<t.k.1 {
                            let iy = oy * t.s.0 - t.p.0 + ky, ix = ox * t.s.1 - t.p.1 + kx
                            if iy >= 0 && iy < t.h && ix >= 0 && ix < t.w { m = max(m, x.scalars[(plane * t.h + iy) * t.w + ix]) }
                        }
                    }
                    ref.append(m)
                }
            }
        }
        #expect(y.scalars == ref)  // a max is exact
    }

    @Test("avgPool2d with and without count_include_pad", arguments: cases)
    func avgPool(_ t: PoolCase) {
        var rng = TestRNG(seed: UInt64(t.h * 10 + t.w))
        let x = rng.tensor([2, 2, t.h, t.w])
        for include in [true, false] {
            let y = avgPool2d(x, kernel: t.k, stride: t.s, padding: t.p, ceilMode: t.ceil, countIncludePad: include)
            let oh = docOutputSize(t.h, t.k.0, t.s.0, t.p.0, ceil: t.ceil), ow = docOutputSize(t.w, t.k.1, t.s.1, t.p.1, ceil: t.ceil)
            #expect(y.shape == [2, 2, oh, ow])
            var ref: [Double] = []
            for plane in 0..<4 {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        // Window positions inside the padded input count for count_include_pad; real ones always.
                        var sum = 0.0, padded = 0, real = 0
                        for ky in 0..<t.k.0 {
                            for kx in 0..<t.k.1 {
                                let iy = oy * t.s.0 - t.p.0 + ky, ix = ox * t.s.1 - t.p.1 + kx
                                if iy < t.h + t.p.0 && ix < t.w + t.p.1 { padded += 1 }
                                if iy >= 0 && iy < t.h && ix >= 0 && ix < t.w {
                                    real += 1
                                    sum += Double(x.scalars[(plane * t.h + iy) * t.w + ix])
                                }
                            }
                        }
                        ref.append(real == 0 ? 0 : sum / Double(include ? padded : real))
                    }
                }
            }
            // float32 sum of <= 12 values in [-1, 1].
            let c = compare(y.scalars, ref)
            #expect(c.maxAbsDiff <= 1e-6, "include=\(include) \(c)")
        }
    }

    @Test("adaptiveAvgPool2d uses floor/ceil bins", arguments: [(7, 5, 3, 2), (8, 8, 1, 1), (10, 9, 4, 6), (5, 5, 5, 5), (3, 4, 6, 7)])
    func adaptive(h: Int, w: Int, oh: Int, ow: Int) {
        var rng = TestRNG(seed: UInt64(h * w + oh))
        let x = rng.tensor([1, 3, h, w])
        let y = adaptiveAvgPool2d(x, outH: oh, outW: ow)
        var ref: [Double] = []
        for plane in 0..<3 {
            for i in 0..<oh {
                let y0 = Int((Double(i * h) / Double(oh)).rounded(.down)), y1 = Int((Double((i + 1) * h) / Double(oh)).rounded(.up))
                for j in 0..<ow {
                    let x0 = Int((Double(j * w) / Double(ow)).rounded(.down)), x1 = Int((Double((j + 1) * w) / Double(ow)).rounded(.up))
                    var s = 0.0
                    for yy in y0..<y1 { for xx in x0..<x1 { s += Double(x.scalars[(plane * h + yy) * w + xx]) } }
                    ref.append(s / Double((y1 - y0) * (x1 - x0)))
                }
            }
        }
        let c = compare(y.scalars, ref)
        #expect(y.shape == [1, 3, oh, ow])
        #expect(c.maxAbsDiff <= 1e-6, "\(c)")  // float32 sums of <= 90 values in [-1, 1]
    }
}
