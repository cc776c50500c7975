import DigitCheckpoint
import DigitImage
import Foundation
import Testing
import _DigitTestSupport

/// Builds PNG files byte by byte (stored deflate blocks, filter 0) so every colour type and depth
/// can be tested without a reference encoder.
enum HandmadePNG {
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(UInt32(data.count)) + body + be32(crc32(body))
    }

    /// `rows`: packed scanlines without the filter byte.
    static func make(width: Int, height: Int, colorType: UInt8, bitDepth: UInt8, rows: [[UInt8]], palette: [UInt8]? = nil) -> Data {
        var raw: [UInt8] = []
        for r in rows { raw.append(0); raw += r }
        var z: [UInt8] = [0x78, 0x01]
        var i = 0
        repeat {
            let n = min(65535, raw.count - i)
            let final: UInt8 = i + n >= raw.count ? 1 : 0
            z += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            z += raw[i..<(i + n)]
            i += n
        } while i < raw.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in raw { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        z += be32(b << 16 | a)
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        png += chunk("IHDR", be32(UInt32(width)) + be32(UInt32(height)) + [bitDepth, colorType, 0, 0, 0])
        if let p = palette { png += chunk("PLTE", p) }
        png += chunk("IDAT", z)
        png += chunk("IEND", [])
        return Data(png)
    }
}

struct PNGDecodeTests {
    func pixels(_ d: Data) throws -> [UInt8] { try ImageCodec.decode(d).pixels }

    @Test("8-bit gray, gray+alpha, RGB, RGBA: replicate L, drop alpha")
    func eightBit() throws {
        #expect(try pixels(HandmadePNG.make(width: 2, height: 1, colorType: 0, bitDepth: 8, rows: [[7, 200]])) == [7, 7, 7, 200, 200, 200])
        #expect(try pixels(HandmadePNG.make(width: 2, height: 1, colorType: 4, bitDepth: 8, rows: [[7, 0, 200, 9]])) == [7, 7, 7, 200, 200, 200])
        #expect(try pixels(HandmadePNG.make(width: 1, height: 2, colorType: 2, bitDepth: 8, rows: [[1, 2, 3], [4, 5, 6]])) == [1, 2, 3, 4, 5, 6])
        #expect(try pixels(HandmadePNG.make(width: 2, height: 1, colorType: 6, bitDepth: 8, rows: [[1, 2, 3, 0, 4, 5, 6, 128]])) == [1, 2, 3, 4, 5, 6])
    }

    @Test("16-bit: gray clips at 255 (Pillow mode I / I;16), colour and gray+alpha keep the high byte")
    func sixteenBit() throws {
        // Gray 0x1234 -> 255, 0x00F0 -> 240 (clip, not >> 8): Pillow 9.4 and 13 agree.
        #expect(try pixels(HandmadePNG.make(width: 2, height: 1, colorType: 0, bitDepth: 16, rows: [[0x12, 0x34, 0x00, 0xF0]])) == [255, 255, 255, 240, 240, 240])
        #expect(try pixels(HandmadePNG.make(width: 1, height: 1, colorType: 2, bitDepth: 16, rows: [[0xAB, 0xCD, 0x01, 0xFF, 0x80, 0x00]])) == [0xAB, 0x01, 0x80])
        #expect(try pixels(HandmadePNG.make(width: 1, height: 1, colorType: 6, bitDepth: 16, rows: [[0xAB, 0xCD, 0x01, 0xFF, 0x80, 0x00, 0, 0]])) == [0xAB, 0x01, 0x80])
        #expect(try pixels(HandmadePNG.make(width: 1, height: 1, colorType: 4, bitDepth: 16, rows: [[0x7F, 0xFF, 0x00, 0x10]])) == [0x7F, 0x7F, 0x7F])
    }

    @Test("Low bit depths scale to 0...255; palettes look up PLTE, past its end Pillow's ramp")
    func lowDepthAndPalette() throws {
        // 1-bit: 1 -> 255; 2-bit: v * 85; 4-bit: v * 17.
        #expect(try pixels(HandmadePNG.make(width: 3, height: 1, colorType: 0, bitDepth: 1, rows: [[0b1010_0000]])) == [255, 255, 255, 0, 0, 0, 255, 255, 255])
        #expect(try pixels(HandmadePNG.make(width: 4, height: 1, colorType: 0, bitDepth: 2, rows: [[0b00_01_10_11]])) == [0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255])
        #expect(try pixels(HandmadePNG.make(width: 2, height: 1, colorType: 0, bitDepth: 4, rows: [[0x3F]])) == [51, 51, 51, 255, 255, 255])
        let pal: [UInt8] = [10, 20, 30, 40, 50, 60]
        #expect(try pixels(HandmadePNG.make(width: 3, height: 1, colorType: 3, bitDepth: 8, rows: [[1, 0, 9]], palette: pal)) == [40, 50, 60, 10, 20, 30, 9, 9, 9])
        #expect(try pixels(HandmadePNG.make(width: 3, height: 1, colorType: 3, bitDepth: 2, rows: [[0b01_00_01_00]], palette: pal)) == [40, 50, 60, 10, 20, 30, 40, 50, 60])
    }

    @Test("Encode then decode is the identity")
    func roundTrip() throws {
        var rng = TestRNG(seed: 4)
        let img = RGBImage(width: 37, height: 11, pixels: (0..<(37 * 11 * 3)).map { _ in UInt8(rng.int(256)) })
        #expect(try ImageCodec.decode(ImageCodec.encodePNG(img)) == img)
    }

    @Test("Truncated, corrupt and non-image data throw errors with the path, never crash")
    func badInput() throws {
        let good = HandmadePNG.make(width: 64, height: 64, colorType: 2, bitDepth: 8, rows: Array(repeating: Array(repeating: 77, count: 192), count: 64))
        for cut in [4, 8, 20, 40, 60, good.count / 2, good.count - 13] {
            #expect(throws: ImageError.self) { try ImageCodec.decode(good.prefix(cut), path: "x.png") }
        }
        var corrupt = [UInt8](good)
        corrupt[50] ^= 0xFF  // inside IDAT: CRC mismatch
        #expect(throws: ImageError.self) { try ImageCodec.decode(Data(corrupt), path: "x.png") }
        do {
            _ = try ImageCodec.decode(Data("hello".utf8), path: "notes.txt")
            Issue.record("text decoded")
        } catch let e as ImageError {
            #expect(e.path == "notes.txt")
            #expect(e.description.contains("unsupported"))
        }
        #expect(throws: ImageError.self) { try ImageCodec.decode(Data(), path: "empty.png") }
    }
}

struct JPEGTests {
    static func jpegEntries() throws -> [[String: Any]] {
        (try Fixtures.json("resize", "expected.json") as! [String: Any])["jpeg"] as! [[String: Any]]
    }

    @Test("Decoding the fixture JPEGs reproduces Pillow's decode exactly (islow IDCT, fancy upsampling)")
    func decodeExact() throws {
        for e in try Self.jpegEntries() {
            let img = try ImageCodec.decode(contentsOf: Fixtures.url("resize", e["jpeg"] as! String))
            let wh = e["decoded_size_wh"] as! [Int]
            #expect(img.width == wh[0] && img.height == wh[1])
            let ref = try ImageCodec.decode(contentsOf: Fixtures.url("resize", e["decoded"] as! String))
            let differing = zip(img.pixels, ref.pixels).filter { $0 != $1 }.count
            // Tolerance: exact (0 differing bytes) and the recorded sha256.
            #expect(differing == 0, "\(e["jpeg"]!): \(differing) bytes differ")
            #expect(SHA256.hex(img.pixels) == e["sha256_decoded_rgb"] as! String)
        }
    }

    @Test("Encoding quality 90 4:2:0 reproduces Pillow's JPEG file byte for byte")
    func encodeMatchesPillow() throws {
        for e in try Self.jpegEntries() {
            let src = try ImageCodec.decode(contentsOf: Fixtures.url("inception", "images/\(e["source"] as! String).png"))
            let data = try ImageCodec.encodeJPEG(src, quality: 90, subsampling: 2)
            #expect(SHA256.hex([UInt8](data)) == e["sha256_jpeg"] as! String, "\(e["jpeg"]!): \(data.count) bytes")
        }
    }

    @Test("Truncated and corrupt JPEGs throw errors, never crash")
    func badInput() throws {
        let good = try Data(contentsOf: Fixtures.url("resize", "rocket_crop256__q90_420.jpg"))
        for cut in [2, 3, 10, 100, 400, good.count / 2, good.count - 2] {
            #expect(throws: ImageError.self) { try ImageCodec.decode(good.prefix(cut), path: "x.jpg") }
        }
        var header = [UInt8](good)
        for i in 20..<40 { header[i] = 0xFF }  // smash the quantisation tables' marker area
        _ = try? ImageCodec.decode(Data(header), path: "x.jpg")  // may decode or throw, must not crash
        var garbage = [UInt8](good.prefix(3))
        garbage += [UInt8](repeating: 0x00, count: 500)
        #expect(throws: ImageError.self) { try ImageCodec.decode(Data(garbage), path: "x.jpg") }
    }
}
