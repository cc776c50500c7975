import CZlib
import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

/// Textbook float64 reference of torch's linear/cubic source index (independent of the
/// float32-scale detail the implementation reproduces).
func sourceIndex(_ d: Int, input: Int, output: Int, alignCorners: Bool, cubic: Bool) -> Double {
    if alignCorners { return output > 1 ? Double(d) * Double(input - 1) / Double(output - 1) : 0 }
    let s = (Double(d) + 0.5) * Double(input) / Double(output) - 0.5
    return cubic ? s : max(s, 0)
}

func cubicWeight(_ x: Double, a: Double = -0.75) -> Double {
    let t = abs(x)
    if t <= 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
    if t < 2 { return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a }
    return 0
}

/// The 8-bit RGB pixels of a non-interlaced PNG as (1, 3, H, W) floats `u8 / 255` (torchvision
/// `ToTensor`) or raw `u8` values. A minimal decoder for test inputs only (zlib inflate +
/// the five PNG filters); the image module's decoder replaces it once it lands.
func decodeRGBPNG(_ url: URL, scale: Float) throws -> Tensor {
    let data = [UInt8](try Data(contentsOf: url))
    func be32(_ i: Int) -> Int { Int(data[i]) << 24 | Int(data[i + 1]) << 16 | Int(data[i + 2]) << 8 | Int(data[i + 3]) }
    var pos = 8, w = 0, h = 0, idat: [UInt8] = []
    while pos + 8 <= data.count {
        let len = be32(pos), type = String(decoding: data[(pos + 4)..<(pos + 8)], as: UTF8.self)
        if type == "IHDR" {
            w = be32(pos + 8); h = be32(pos + 12)
            precondition(data[pos + 16] == 8 && data[pos + 17] == 2 && data[pos + 20] == 0, "test decoder: 8-bit RGB, non-interlaced only")
        } else if type == "IDAT" {
            idat += data[(pos + 8)..<(pos + 8 + len)]
        }
        pos += 12 + len
    }
    let stride = w * 3
    var raw = [UInt8](repeating: 0, count: h * (stride + 1))
    var destLen = uLongf(raw.count)
    let rc = raw.withUnsafeMutableBufferPointer { d in idat.withUnsafeBufferPointer { s in
        uncompress(d.baseAddress!, &destLen, s.baseAddress!, uLong(s.count)) } }
    precondition(rc == Z_OK && Int(destLen) == raw.count, "inflate failed: \(rc)")
    var px = [UInt8](repeating: 0, count: h * stride)
    for y in 0..<h {
        let f = raw[y * (stride + 1)]
        for i in 0..<stride {
            let x = Int(raw[y * (stride + 1) + 1 + i])
            let a = i >= 3 ? Int(px[y * stride + i - 3]) : 0
            let b = y > 0 ? Int(px[(y - 1) * stride + i]) : 0
            let c = (i >= 3 && y > 0) ? Int(px[(y - 1) * stride + i - 3]) : 0
            let pred: Int
            switch f {
            case 0: pred = 0
            case 1: pred = a
            case 2: pred = b
            case 3: pred = (a + b) / 2
            default:
                let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                pred = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
            }
            px[y * stride + i] = UInt8((x + pred) & 0xFF)
        }
    }
    var chw = [Float](repeating: 0, count: 3 * h * w)
    for y in 0..<h { for x in 0..<w { for ch in 0..<3 {
        let v = Float(px[(y * w + x) * 3 + ch])
        chw[(ch * h + y) * w + x] = scale == 1 ? v : v / scale
    } } }
    return Tensor(shape: [1, 3, h, w], scalars: chw)
}

@Suite("interpolate")
struct InterpolateTests {
    static let sizes: [(Int, Int, Int, Int)] = [(5, 7, 11, 3), (12, 9, 5, 13), (4, 4, 4, 4), (3, 6, 1, 12), (16, 16, 32, 32)]

    @Test("nearest uses floor(dst * in/out)", arguments: sizes)
    func nearest(h: Int, w: Int, oh: Int, ow: Int) {
        var rng = TestRNG(seed: UInt64(h * w))
        let x = rng.tensor([2, 2, h, w])
        let y = interpolate(x, size: (oh, ow), mode: .nearest)
        var ref: [Float] = []
        for p in 0..<4 { for i in 0..<oh { for j in 0..<ow {
            let sy = min(Int((Double(i) * Double(h) / Double(oh)).rounded(.down)), h - 1)
            let sx = min(Int((Double(j) * Double(w) / Double(ow)).rounded(.down)), w - 1)
            ref.append(x.scalars[(p * h + sy) * w + sx])
        } } }
        #expect(y.scalars == ref)
    }

    @Test("bilinear and bicubic match float64 references", arguments: sizes)
    func linearCubic(h: Int, w: Int, oh: Int, ow: Int) {
        var rng = TestRNG(seed: UInt64(h * 13 + w))
        let x = rng.tensor([1, 3, h, w])
        for align in [false, true] {
            let yl = interpolate(x, size: (oh, ow), mode: .bilinear, alignCorners: align)
            let yc = interpolate(x, size: (oh, ow), mode: .bicubic, alignCorners: align)
            var refL: [Double] = [], refC: [Double] = []
            for p in 0..<3 { for i in 0..<oh { for j in 0..<ow {
                let at = { (yy: Int, xx: Int) -> Double in
                    Double(x.scalars[(p * h + min(max(yy, 0), h - 1)) * w + min(max(xx, 0), w - 1)])
                }
                let sy = sourceIndex(i, input: h, output: oh, alignCorners: align, cubic: false)
                let sx = sourceIndex(j, input: w, output: ow, alignCorners: align, cubic: false)
                let y0 = Int(sy), x0 = Int(sx), fy = sy - Double(y0), fx = sx - Double(x0)
                refL.append((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)))
                let cy = sourceIndex(i, input: h, output: oh, alignCorners: align, cubic: true)
                let cx = sourceIndex(j, input: w, output: ow, alignCorners: align, cubic: true)
                let iy = Int(cy.rounded(.down)), ix = Int(cx.rounded(.down))
                var s = 0.0
                for a in -1...2 { for b in -1...2 {
                    s += cubicWeight(cy - Double(iy + a)) * cubicWeight(cx - Double(ix + b)) * at(iy + a, ix + b)
                } }
                refC.append(s)
            } } }
            // float32 weights and a float32 scale (in/out) vs exact float64: ~1e-6 on values in [-1, 1]
            // (bicubic overshoots to ~1.3, 16 taps).
            let cl = compare(yl.scalars, refL), cc = compare(yc.scalars, refC)
            #expect(yl.shape == [1, 3, oh, ow] && yc.shape == yl.shape)
            #expect(cl.maxAbsDiff <= 5e-6, "bilinear align=\(align): \(cl)")
            #expect(cc.maxAbsDiff <= 1e-5, "bicubic align=\(align): \(cc)")
        }
    }

    @Test("torch bilinear 299 matches the resize fixtures (pytorch-fid resize_input)", arguments: ["astronaut_512x512", "motorcycle_box32"])
    func torchFixture(source: String) throws {
        let img = try decodeRGBPNG(Fixtures.url("inception", "images/\(source).png"), scale: 255)
        let expected = try Fixtures.npy("resize", "\(source)__torch_bilinear299_float.npy")
        let y = interpolateBilinear(img, size: (299, 299), alignCorners: false)
        #expect(y.shape == [1] + expected.shape)
        let c = compare(y.scalars, expected.floats())
        // Fixture README: |Δ| <= 1e-6 on the [0, 1] scale (float32 index math would give 1.2e-5).
        #expect(c.maxAbsDiff <= 1e-6, "\(c)")
    }

    @Test("TF1-compatible bilinear 299 matches the resize fixtures (torch-fidelity)", arguments: ["astronaut_512x512", "motorcycle_box32"])
    func tf1Fixture(source: String) throws {
        let img = try decodeRGBPNG(Fixtures.url("inception", "images/\(source).png"), scale: 1)
        let expected = try Fixtures.npy("resize", "\(source)__tf1_bilinear299_float.npy")
        let y = interpolateBilinearTF1(img, size: (299, 299))
        #expect(y.shape == [1] + expected.shape)
        let c = compare(y.scalars, expected.floats())
        // Fixture README: |Δ| <= 1e-4 on the [0, 255] scale (the formula reproduces it exactly).
        #expect(c.maxAbsDiff <= 1e-4, "\(c)")
    }
}
