import DigitImage
import Testing
import _DigitTestSupport

/// The C kernels behind `Resample.resize` (AVX2 where available, scalar rows at the image's end and
/// at row tails) against a plain Swift statement of Pillow's 8-bit passes, and the fused crop against
/// resize-then-crop. Tolerance 0: integer arithmetic, every byte must match.
struct ResampleKernelTests {
    /// Resample.c's ImagingResampleHorizontal_8bpc then ImagingResampleVertical_8bpc, one pixel at a time.
    static func naiveResize(_ image: RGBImage, width: Int, height: Int, filter: ResampleFilter) -> RGBImage {
        func clip8(_ v: Int32) -> UInt8 { v >= 1 << 30 ? 255 : v <= 0 ? 0 : UInt8(v >> 22) }
        var cur = image
        if width != cur.width {
            let c = ResampleCoefficients(inSize: cur.width, outSize: width, filter: filter)
            let k = c.fixedPoint
            var out = [UInt8](repeating: 0, count: width * cur.height * 3)
            for y in 0..<cur.height {
                for xx in 0..<width {
                    let xmin = c.bounds[2 * xx], n = c.bounds[2 * xx + 1]
                    for ch in 0..<3 {
                        var s: Int32 = 1 << 21
                        for x in 0..<n { s += Int32(cur.pixels[(y * cur.width + xmin + x) * 3 + ch]) * k[xx * c.kernelSize + x] }
                        out[(y * width + xx) * 3 + ch] = clip8(s)
                    }
                }
            }
            cur = RGBImage(width: width, height: cur.height, pixels: out)
        }
        if height != cur.height {
            let c = ResampleCoefficients(inSize: cur.height, outSize: height, filter: filter)
            let k = c.fixedPoint
            let rowLen = cur.width * 3
            var out = [UInt8](repeating: 0, count: rowLen * height)
            for yy in 0..<height {
                let ymin = c.bounds[2 * yy], n = c.bounds[2 * yy + 1]
                for i in 0..<rowLen {
                    var s: Int32 = 1 << 21
                    for y in 0..<n { s += Int32(cur.pixels[(ymin + y) * rowLen + i]) * k[yy * c.kernelSize + y] }
                    out[yy * rowLen + i] = clip8(s)
                }
            }
            cur = RGBImage(width: cur.width, height: height, pixels: out)
        }
        return cur
    }

    static func random(_ w: Int, _ h: Int, seed: UInt64) -> RGBImage {
        var rng = TestRNG(seed: seed)
        // Mostly extremes, so that the bicubic/lanczos overshoot reaches both clip bounds.
        return RGBImage(width: w, height: h, pixels: (0..<(w * h * 3)).map { _ in
            let r = rng.int(4)
            return r == 0 ? 0 : r == 1 ? 255 : UInt8(rng.int(256))
        })
    }

    @Test("8-bit resize kernels equal the plain statement of Pillow's passes (every filter, odd sizes)")
    func kernelsMatchNaive() {
        let cases: [(Int, Int, Int, Int)] = [(37, 23, 11, 13), (37, 23, 80, 41), (500, 375, 341, 256), (17, 9, 17, 4),
                                             (16, 31, 5, 31), (1, 7, 3, 2), (64, 2, 33, 1), (41, 40, 17, 59)]
        var seed: UInt64 = 1
        for (w, h, ow, oh) in cases {
            let img = Self.random(w, h, seed: seed)
            seed += 1
            for f in ResampleFilter.allCases {
                let ours = Resample.resize(img, width: ow, height: oh, filter: f)
                let ref = Self.naiveResize(img, width: ow, height: oh, filter: f)
                let differ = zip(ours.pixels, ref.pixels).filter { $0 != $1 }.count
                #expect(ours.width == ow && ours.height == oh && differ == 0, "\(w)x\(h) → \(ow)x\(oh) \(f): \(differ) bytes differ")
            }
        }
    }

    @Test("resizeCropped equals resize then crop (windows at every edge, identity axes)")
    func fusedCropMatchesResizeThenCrop() {
        let img = Self.random(53, 38, seed: 99)
        let sizes = [(30, 21), (53, 21), (30, 38), (90, 64), (53, 38)]
        for (ow, oh) in sizes {
            for f in [ResampleFilter.bicubic, .box, .lanczos] {
                let full = ow == img.width && oh == img.height ? img : Self.naiveResize(img, width: ow, height: oh, filter: f)
                for (l, t, cw, ch) in [(0, 0, ow, oh), (0, 0, 7, 5), (ow - 9, oh - 4, 9, 4), (ow / 3, oh / 4, ow / 2, oh / 2), (ow - 1, 0, 1, oh)] {
                    let fused = Resample.resizeCropped(img, width: ow, height: oh, filter: f, left: l, top: t, cropWidth: cw, cropHeight: ch)
                    #expect(fused == full.cropped(left: l, top: t, width: cw, height: ch), "\(ow)x\(oh) \(f) crop (\(l), \(t), \(cw)x\(ch))")
                }
            }
        }
        // center_crop_arr of an ImageNet-sized image: BICUBIC 500x375 → 341x256, crop x = 42.
        let photo = Self.random(500, 375, seed: 7)
        let ref = Self.naiveResize(photo, width: 341, height: 256, filter: .bicubic).cropped(left: 42, top: 0, width: 256, height: 256)
        #expect(Preprocess.centerCropArr(photo, size: 256) == ref)
    }
}
