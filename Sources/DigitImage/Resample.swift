// Port of python-pillow/Pillow src/libImaging/Resample.c and Reduce.c (Pillow 9.4.0, the version
// that made ../shared/fixtures/resize; unchanged in substance since 7.0). The 8-bit passes run in
// Sources/CImageCodecs/resample8.c (AVX2 kernels, same integer arithmetic).
import CImageCodecs
import Foundation

/// Pillow's resampling filters (`Image.Resampling`), with their support radius at scale 1.
public enum ResampleFilter: String, Sendable, CaseIterable {
    case box, bilinear, hamming, bicubic, lanczos

    /// Pillow's `filter.support`.
    public var support: Double {
        switch self {
        case .box: return 0.5
        case .bilinear, .hamming: return 1.0
        case .bicubic: return 2.0
        case .lanczos: return 3.0
        }
    }

    /// Pillow's filter functions, term for term.
    @inline(__always)
    public func weight(_ x0: Double) -> Double {
        var x = x0
        switch self {
        case .box:
            return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0
        case .bilinear:
            if x < 0.0 { x = -x }
            return x < 1.0 ? 1.0 - x : 0.0
        case .hamming:
            if x < 0.0 { x = -x }
            if x == 0.0 { return 1.0 }
            if x >= 1.0 { return 0.0 }
            x = x * Double.pi
            return sin(x) / x * (0.54 + 0.46 * cos(x))
        case .bicubic:
            let a = -0.5
            if x < 0.0 { x = -x }
            if x < 1.0 { return ((a + 2.0) * x - (a + 3.0)) * x * x + 1 }
            if x < 2.0 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0.0
        case .lanczos:
            if -3.0 <= x && x < 3.0 { return Self.sinc(x) * Self.sinc(x / 3) }
            return 0.0
        }
    }

    @inline(__always)
    static func sinc(_ x0: Double) -> Double {
        if x0 == 0.0 { return 1.0 }
        let x = x0 * Double.pi
        return sin(x) / x
    }

    /// Parses `box`, `bilinear`, `hamming`, `bicubic`, `lanczos` (also Pillow's upper-case names, `antialias`).
    public init?(name: String) {
        let n = name.lowercased()
        if n == "antialias" { self = .lanczos; return }
        self.init(rawValue: n)
    }
}

/// Per-output-pixel filter windows of one axis: `precompute_coeffs` of Resample.c.
public struct ResampleCoefficients: Sendable {
    /// Taps per output pixel (`ksize`).
    public let kernelSize: Int
    /// For output `i`: first input index `bounds[2i]`, tap count `bounds[2i+1]`.
    public let bounds: [Int]
    /// `outSize * kernelSize` normalised weights (double, as Pillow's float path uses them).
    public let weights: [Double]

    public init(inSize: Int, outSize: Int, filter: ResampleFilter, in0: Float = 0, in1: Float? = nil) {
        let in1 = in1 ?? Float(inSize)
        var filterscale = Double(in1 - in0) / Double(outSize)
        let scale = filterscale
        if filterscale < 1.0 { filterscale = 1.0 }
        let support = filter.support * filterscale
        let ksize = Int(ceil(support)) * 2 + 1
        var bounds = [Int](repeating: 0, count: outSize * 2)
        var kk = [Double](repeating: 0, count: outSize * ksize)
        let ss = 1.0 / filterscale
        for xx in 0..<outSize {
            let center = Double(in0) + (Double(xx) + 0.5) * scale
            var ww = 0.0
            // C's (int) cast truncates toward zero.
            var xmin = Int((center - support + 0.5).rounded(.towardZero))
            if xmin < 0 { xmin = 0 }
            var xmax = Int((center + support + 0.5).rounded(.towardZero))
            if xmax > inSize { xmax = inSize }
            xmax -= xmin
            let base = xx * ksize
            for x in 0..<max(xmax, 0) {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * ss)
                kk[base + x] = w
                ww += w
            }
            if ww != 0.0 {
                for x in 0..<max(xmax, 0) { kk[base + x] /= ww }
            }
            bounds[2 * xx] = xmin
            bounds[2 * xx + 1] = max(xmax, 0)
        }
        self.kernelSize = ksize
        self.bounds = bounds
        self.weights = kk
    }

    /// `normalize_coeffs_8bpc`: weights in fixed point with `PRECISION_BITS` = 22, rounded away from zero.
    public var fixedPoint: [Int32] {
        weights.map { w in
            let s = w * Double(1 << Resample.precisionBits)
            return Int32((w < 0 ? -0.5 + s : 0.5 + s).rounded(.towardZero))
        }
    }
}

/// One axis's ``ResampleCoefficients`` in Pillow's 8-bit form (`normalize_coeffs_8bpc`), laid out for
/// the C kernels (`bounds`: pairs of first input index and tap count; `weights`: `kernelSize` per output).
/// Cached by (input size, output size, filter): a dataset of same-sized images computes them once.
final class FixedCoefficients: @unchecked Sendable {
    let kernelSize: Int
    let bounds: UnsafeMutablePointer<Int32>
    let weights: UnsafeMutablePointer<Int32>

    init(_ c: ResampleCoefficients) {
        kernelSize = c.kernelSize
        bounds = .allocate(capacity: c.bounds.count)
        for (i, b) in c.bounds.enumerated() { bounds[i] = Int32(b) }
        let fixed = c.fixedPoint
        weights = .allocate(capacity: fixed.count)
        for (i, w) in fixed.enumerated() { weights[i] = w }
    }

    deinit {
        bounds.deallocate()
        weights.deallocate()
    }

    private struct Key: Hashable { let inSize: Int, outSize: Int, filter: ResampleFilter }
    private static let lock = NSLock()
    nonisolated(unsafe) private static var cache: [Key: FixedCoefficients] = [:]

    static func cached(inSize: Int, outSize: Int, filter: ResampleFilter) -> FixedCoefficients {
        let key = Key(inSize: inSize, outSize: outSize, filter: filter)
        lock.lock()
        if let c = cache[key] { lock.unlock(); return c }
        lock.unlock()
        let c = FixedCoefficients(ResampleCoefficients(inSize: inSize, outSize: outSize, filter: filter))
        lock.lock()
        defer { lock.unlock() }
        if cache.count >= 256 { cache.removeAll() }  // bounded: datasets of mixed sizes
        cache[key] = c
        return c
    }
}

/// Pillow-exact resampling of 8-bit RGB images and float planes.
public enum Resample {
    public static let precisionBits = 22

    /// `img.resize((width, height), resample=filter)` on an RGB image (Pillow's 8-bit path:
    /// horizontal pass then vertical pass, each rounding to uint8).
    public static func resize(_ image: RGBImage, width: Int, height: Int, filter: ResampleFilter) -> RGBImage {
        precondition(width > 0 && height > 0, "resize to \(width)x\(height)")
        if width == image.width && height == image.height { return image }
        return resizeCropped(image, width: width, height: height, filter: filter, left: 0, top: 0, cropWidth: width, cropHeight: height)
    }

    /// `resize(image, width:height:filter:).cropped(left:top:width:height:)` computing only the pixels
    /// the crop keeps: the horizontal pass runs on the kept columns and the input rows the kept output
    /// rows read, the vertical pass on the kept rows. Each output pixel of Pillow's passes depends only
    /// on its own window, so the bytes are those of the full resize (tested against it).
    public static func resizeCropped(_ image: RGBImage, width: Int, height: Int, filter: ResampleFilter,
                                     left: Int, top: Int, cropWidth: Int, cropHeight: Int) -> RGBImage {
        precondition(width > 0 && height > 0, "resize to \(width)x\(height)")
        precondition(left >= 0 && top >= 0 && cropWidth >= 0 && cropHeight >= 0 && left + cropWidth <= width && top + cropHeight <= height,
                     "crop (\(left), \(top), \(cropWidth)x\(cropHeight)) outside \(width)x\(height)")
        if image.pixels.isEmpty || cropWidth == 0 || cropHeight == 0 { return RGBImage(width: cropWidth, height: cropHeight) }
        let h = width != image.width ? FixedCoefficients.cached(inSize: image.width, outSize: width, filter: filter) : nil
        let v = height != image.height ? FixedCoefficients.cached(inSize: image.height, outSize: height, filter: filter) : nil
        let count = cropWidth * cropHeight * 3
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            image.pixels.withUnsafeBufferPointer { src in
                withExtendedLifetime((h, v)) {
                    let rc = dbi_resample8_rgb(
                        src.baseAddress, src.count, Int32(image.width), Int32(image.height),
                        h.map { $0.bounds + 2 * left }, h.map { $0.weights + left * $0.kernelSize }, Int32(h?.kernelSize ?? 0),
                        Int32(left), Int32(cropWidth),
                        v.map { $0.bounds + 2 * top }, v.map { $0.weights + top * $0.kernelSize }, Int32(v?.kernelSize ?? 0),
                        Int32(top), Int32(cropHeight), out.baseAddress)
                    precondition(rc == 0, "resize: out of memory")
                }
            }
            initialized = count
        }
        return RGBImage(width: cropWidth, height: cropHeight, pixels: pixels)
    }

    /// Pillow's 'F' (float32) resize of one plane (row-major `height x width`): double weights and
    /// accumulation, float32 storage after each pass, no clipping. clean-fid's `mode='clean'`.
    public static func resizeFloat(_ plane: [Float], width inW: Int, height inH: Int, toWidth outW: Int, toHeight outH: Int,
                                   filter: ResampleFilter) -> [Float] {
        precondition(plane.count == inW * inH, "resizeFloat: \(plane.count) values for \(inW)x\(inH)")
        var cur = plane
        if outW != inW {
            let c = ResampleCoefficients(inSize: inW, outSize: outW, filter: filter)
            cur = floatPass(cur, c, lines: inH, outCount: outW, lineStride: inW, tapStride: 1, outLineStride: outW, outStride: 1)
        }
        if outH != inH {
            let c = ResampleCoefficients(inSize: inH, outSize: outH, filter: filter)
            cur = floatPass(cur, c, lines: outW, outCount: outH, lineStride: 1, tapStride: outW, outLineStride: 1, outStride: outW)
        }
        return cur
    }

    /// One pass of Resample.c's 32bpc float path along an axis described by strides.
    static func floatPass(_ src: [Float], _ c: ResampleCoefficients, lines: Int, outCount: Int, lineStride: Int, tapStride: Int,
                          outLineStride: Int, outStride: Int) -> [Float] {
        var out = [Float](repeating: 0, count: lines * outCount)
        src.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in
                for line in 0..<lines {
                    for o in 0..<outCount {
                        let lo = c.bounds[2 * o], n = c.bounds[2 * o + 1]
                        var ss = 0.0
                        for k in 0..<n { ss += Double(s[line * lineStride + (lo + k) * tapStride]) * c.weights[o * c.kernelSize + k] }
                        d[line * outLineStride + o * outStride] = Float(ss)
                    }
                }
            }
        }
        return out
    }

    /// clean-fid `make_resizer('PIL', False, filter, (width, height))` on an RGB image: each channel as
    /// a Pillow 'F' image, resized, clipped to [0, 255]. Returns HWC float32.
    public static func cleanFIDResize(_ image: RGBImage, width: Int, height: Int, filter: ResampleFilter = .bicubic) -> [Float] {
        var out = [Float](repeating: 0, count: width * height * 3)
        let n = image.width * image.height
        for ch in 0..<3 {
            var plane = [Float](repeating: 0, count: n)
            for i in 0..<n { plane[i] = Float(image.pixels[3 * i + ch]) }
            let r = resizeFloat(plane, width: image.width, height: image.height, toWidth: width, toHeight: height, filter: filter)
            for i in 0..<(width * height) { out[3 * i + ch] = min(max(r[i], 0), 255) }
        }
        return out
    }

    /// `img.reduce((xFactor, yFactor))`: block means with Pillow's fixed-point rounding
    /// (`(sum + n/2) * multiplier >> 24`, multiplier = `UINT32(2^32 / float(256 n))`); partial blocks at
    /// the right and bottom edges average the pixels that exist.
    public static func reduce(_ image: RGBImage, xFactor: Int, yFactor: Int) -> RGBImage {
        precondition(xFactor >= 1 && yFactor >= 1, "reduce factors must be >= 1")
        if xFactor == 1 && yFactor == 1 { return image }
        let inW = image.width, inH = image.height
        let outW = (inW + xFactor - 1) / xFactor, outH = (inH + yFactor - 1) / yFactor
        var out = [UInt8](repeating: 0, count: outW * outH * 3)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for oy in 0..<outH {
                    let y0 = oy * yFactor, y1 = min(y0 + yFactor, inH)
                    for ox in 0..<outW {
                        let x0 = ox * xFactor, x1 = min(x0 + xFactor, inW)
                        let count = (y1 - y0) * (x1 - x0)
                        let multiplier = divisionUInt32(count)
                        let amend = UInt32(count / 2)
                        var s0 = amend, s1 = amend, s2 = amend
                        for y in y0..<y1 {
                            var p = (y * inW + x0) * 3
                            for _ in x0..<x1 {
                                s0 &+= UInt32(src[p]); s1 &+= UInt32(src[p + 1]); s2 &+= UInt32(src[p + 2])
                                p += 3
                            }
                        }
                        let o = (oy * outW + ox) * 3
                        dst[o] = UInt8(truncatingIfNeeded: (s0 &* multiplier) >> 24)
                        dst[o + 1] = UInt8(truncatingIfNeeded: (s1 &* multiplier) >> 24)
                        dst[o + 2] = UInt8(truncatingIfNeeded: (s2 &* multiplier) >> 24)
                    }
                }
            }
        }
        return RGBImage(width: outW, height: outH, pixels: out)
    }

    /// Reduce.c's `division_UINT32(divider, 8)`, computed in float32 as there.
    @inline(__always)
    static func divisionUInt32(_ divider: Int) -> UInt32 {
        let maxDividend = UInt32(256 * divider)
        let maxInt: Float = Float(1 << 30) * 4.0
        return UInt32(maxInt / Float(maxDividend))
    }
}
