import CImageCodecs
import Foundation

/// Image file formats DigitImage reads, recognised by their signature (never by the extension:
/// ImageNet has PNG files named `.JPEG`).
public enum ImageFormat: String, Sendable {
    case png, jpeg

    public static func sniff(_ bytes: UnsafeRawBufferPointer) -> ImageFormat? {
        if bytes.count >= 8, bytes[0] == 0x89, bytes[1] == 0x50, bytes[2] == 0x4E, bytes[3] == 0x47 { return .png }
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF { return .jpeg }
        return nil
    }
}

/// Decoding and encoding with Pillow's semantics. See docs/images.md for the exact conversions.
public enum ImageCodec {
    /// Images above this many pixels are refused (Pillow raises DecompressionBombError at 2 x 89,478,485).
    public static let maxPixels: UInt64 = 2 * 89_478_485

    /// Reads and decodes a PNG or JPEG file to RGB exactly as `Image.open(path).convert('RGB')`.
    public static func decode(contentsOf url: URL) throws -> RGBImage {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw ImageError.unreadable(path: url.path, reason: (error as NSError).localizedDescription)
        }
        return try decode(data, path: url.path)
    }

    /// Decodes PNG or JPEG bytes; `path` only names the source in errors.
    public static func decode(_ data: Data, path: String = "<memory>") throws -> RGBImage {
        try data.withUnsafeBytes { raw -> RGBImage in
            switch ImageFormat.sniff(raw) {
            case .png: return try decodePNG(raw, path: path)
            case .jpeg: return try decodeJPEG(raw, path: path)
            case nil:
                let head = raw.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
                throw ImageError.unsupportedFormat(path: path, reason: "not PNG or JPEG (first bytes \(head.isEmpty ? "none: empty file" : head))")
            }
        }
    }

    // MARK: PNG

    /// PNG → RGB as Pillow 9.4 `convert('RGB')`:
    /// gray 1/2/4-bit scaled to 0...255 (Pillow's "1", "L;2", "L;4" unpackers); gray 16-bit opens as
    /// mode "I" and converts by **clipping** the 16-bit value to 255; RGB/RGBA/gray+alpha 16-bit keep the
    /// high byte of each sample (Pillow's ";16B" unpackers); alpha is dropped without compositing;
    /// palette indices look up PLTE, indices past its end read Pillow's initial ramp (i, i, i);
    /// tRNS and gAMA are ignored.
    public static func decodePNG(_ raw: UnsafeRawBufferPointer, path: String = "<memory>") throws -> RGBImage {
        var img = dbi_png_image()
        var message = [CChar](repeating: 0, count: Int(DBI_MESSAGE_LENGTH))
        let rc = dbi_png_decode(raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count, maxPixels, &img, &message)
        if rc != 0 { throw ImageError.corrupt(path: path, format: "PNG", reason: String(cString: message)) }
        defer { dbi_free(img.data) }
        let w = Int(img.width), h = Int(img.height), ch = Int(img.channels), depth = Int(img.bit_depth)
        let rowBytes = Int(img.row_bytes)
        var out = [UInt8](repeating: 0, count: w * h * 3)
        var palette = [UInt8](repeating: 0, count: 256 * 3)
        for i in 0..<256 { palette[3 * i] = UInt8(i); palette[3 * i + 1] = UInt8(i); palette[3 * i + 2] = UInt8(i) }
        withUnsafeBytes(of: &img.palette) { p in
            for i in 0..<(Int(img.palette_count) * 3) { palette[i] = p[i] }
        }
        let colorType = Int(img.color_type)
        guard let src = img.data else { throw ImageError.corrupt(path: path, format: "PNG", reason: "no pixel data") }
        out.withUnsafeMutableBufferPointer { dst in
            for y in 0..<h {
                let row = src + y * rowBytes
                let o = dst.baseAddress! + y * w * 3
                switch (colorType, depth) {
                case (0, 16):  // mode "I": i2rgb clips at 255
                    for x in 0..<w {
                        let v = Int(row[2 * x]) << 8 | Int(row[2 * x + 1])
                        let c = UInt8(min(v, 255))
                        o[3 * x] = c; o[3 * x + 1] = c; o[3 * x + 2] = c
                    }
                case (0, _), (4, _):  // gray (1/2/4/8 bit) and gray+alpha (8/16 bit): replicate L
                    let scale = depth < 8 ? 255 / ((1 << depth) - 1) : 1
                    let stride = ch * (depth == 16 ? 2 : 1)
                    for x in 0..<w {
                        let c = UInt8(truncatingIfNeeded: Int(row[stride * x]) * scale)
                        o[3 * x] = c; o[3 * x + 1] = c; o[3 * x + 2] = c
                    }
                case (3, _):
                    for x in 0..<w {
                        let i = Int(row[x]) * 3
                        o[3 * x] = palette[i]; o[3 * x + 1] = palette[i + 1]; o[3 * x + 2] = palette[i + 2]
                    }
                default:  // RGB / RGBA, 8 or 16 bit: high byte, alpha dropped
                    let bytes = depth == 16 ? 2 : 1
                    let stride = ch * bytes
                    for x in 0..<w {
                        let p = row + stride * x
                        o[3 * x] = p[0]; o[3 * x + 1] = p[bytes]; o[3 * x + 2] = p[2 * bytes]
                    }
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }

    /// Encodes RGB as an 8-bit PNG (zlib level 6, Pillow's default `compress_level`).
    public static func encodePNG(_ image: RGBImage, compressionLevel: Int = 6) throws -> Data {
        try image.pixels.withUnsafeBufferPointer { px in
            var out: UnsafeMutablePointer<UInt8>? = nil
            var length = 0
            var message = [CChar](repeating: 0, count: Int(DBI_MESSAGE_LENGTH))
            let rc = dbi_png_encode_rgb(px.baseAddress, Int32(image.width), Int32(image.height), Int32(compressionLevel), &out, &length, &message)
            if rc != 0 { throw ImageError.encodeFailed(format: "PNG", reason: String(cString: message)) }
            defer { dbi_free(out) }
            return Data(bytes: out!, count: length)
        }
    }

    // MARK: JPEG

    /// JPEG → RGB as Pillow: libjpeg-turbo islow IDCT, fancy upsampling, libjpeg's colour conversion;
    /// grayscale replicated; CMYK/YCCK decoded as libjpeg CMYK, inverted (Pillow's "CMYK;I" rawmode,
    /// Adobe convention) and converted with Pillow's `cmyk2rgb`. Truncated data is an error
    /// (Pillow: "image file is truncated").
    public static func decodeJPEG(_ raw: UnsafeRawBufferPointer, path: String = "<memory>") throws -> RGBImage {
        var img = dbi_jpeg_image()
        var reader: OpaquePointer? = nil
        var message = [CChar](repeating: 0, count: Int(DBI_MESSAGE_LENGTH))
        let rc = dbi_jpeg_open(raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count, maxPixels, &reader, &img, &message)
        if rc != 0 { throw ImageError.corrupt(path: path, format: "JPEG", reason: String(cString: message)) }
        defer { dbi_jpeg_close(reader) }
        let w = Int(img.width), h = Int(img.height), n = w * h
        // Decodes straight into the array that holds the pixels (RGB files: the image's own buffer).
        func read(_ count: Int) throws -> [UInt8] {
            try [UInt8](unsafeUninitializedCapacity: count) { buf, initialized in
                if dbi_jpeg_read(reader, buf.baseAddress, count, &message) != 0 {
                    throw ImageError.corrupt(path: path, format: "JPEG", reason: String(cString: message))
                }
                initialized = count
            }
        }
        switch img.components {
        case 3:
            return RGBImage(width: w, height: h, pixels: try read(n * 3))
        case 1:
            let src = try read(n)
            var out = [UInt8](repeating: 0, count: n * 3)
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<n { let c = src[i]; o[3 * i] = c; o[3 * i + 1] = c; o[3 * i + 2] = c }
            }
            return RGBImage(width: w, height: h, pixels: out)
        default:
            let src = try read(n * 4)
            var out = [UInt8](repeating: 0, count: n * 3)
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<n {
                    // "CMYK;I": Pillow stores 255 - x; then cmyk2rgb: nk - MULDIV255(c, nk), nk = 255 - k.
                    let nk = 255 - (255 - Int(src[4 * i + 3]))
                    for c in 0..<3 {
                        let t = (255 - Int(src[4 * i + c])) * nk + 128
                        let m = ((t >> 8) + t) >> 8
                        o[3 * i + c] = UInt8(clamping: nk - m)
                    }
                }
            }
            return RGBImage(width: w, height: h, pixels: out)
        }
    }

    /// Encodes RGB as baseline JPEG like Pillow's `save(format='JPEG', quality=q, subsampling=s)`
    /// (s: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0; standard tables, islow DCT, no optimize).
    public static func encodeJPEG(_ image: RGBImage, quality: Int = 75, subsampling: Int = 2) throws -> Data {
        guard (1...100).contains(quality) else { throw ImageError.invalidArgument("JPEG quality \(quality) not in 1...100") }
        guard (0...2).contains(subsampling) else { throw ImageError.invalidArgument("JPEG subsampling \(subsampling) not in 0...2") }
        return try image.pixels.withUnsafeBufferPointer { px in
            var out: UnsafeMutablePointer<UInt8>? = nil
            var length = 0
            var message = [CChar](repeating: 0, count: Int(DBI_MESSAGE_LENGTH))
            let rc = dbi_jpeg_encode_rgb(px.baseAddress, Int32(image.width), Int32(image.height), Int32(quality), Int32(subsampling), &out, &length, &message)
            if rc != 0 { throw ImageError.encodeFailed(format: "JPEG", reason: String(cString: message)) }
            defer { dbi_free(out) }
            return Data(bytes: out!, count: length)
        }
    }

    /// Writes `data` to `url` atomically (temporary file in the same directory, then rename).
    public static func writeAtomically(_ data: Data, to url: URL) throws {
        do { try data.write(to: url, options: .atomic) } catch {
            throw ImageError.unreadable(path: url.path, reason: "cannot write: \((error as NSError).localizedDescription)")
        }
    }
}
