import DigitCheckpoint
import DigitImage
import Foundation
import Testing
import _DigitTestSupport

/// Parity with ../shared/fixtures/resize (Pillow 9.4.0). Every uint8 output must match exactly:
/// sha256 of the RGB bytes from expected.json (tolerance 0; on failure the differing byte count and
/// max |Δ| against the fixture PNG are printed).
struct ResizeFixtureTests {
    static func entries() throws -> [[String: Any]] {
        let root = try Fixtures.json("resize", "expected.json") as! [String: Any]
        return root["pil"] as! [[String: Any]]
    }

    static func source(_ name: String) throws -> RGBImage {
        try ImageCodec.decode(contentsOf: Fixtures.url("inception", "images/\(name).png"))
    }

    static func ints(_ s: Substring) -> [Int] {
        s.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
    }

    /// Applies the Pillow call recorded in expected.json (`.crop`, `.resize`, `.reduce`, `center_crop_arr`).
    static func apply(call: String, to image: RGBImage) throws -> RGBImage {
        if call.hasPrefix("center_crop_arr(") {
            let size = ints(call[call.range(of: "),")!.upperBound...].prefix(while: { $0 != ")" }))[0]
            return Preprocess.centerCropArr(image, size: size)
        }
        var img = image
        var rest = Substring(call)
        while let dot = rest.range(of: ").") {
            rest = rest[dot.upperBound...]
            if rest.hasPrefix("crop(") {
                let v = ints(rest.dropFirst(5).prefix(while: { $0 != ")" }))
                img = img.cropped(left: v[0], top: v[1], width: v[2] - v[0], height: v[3] - v[1])
            } else if rest.hasPrefix("resize(") {
                let args = rest.dropFirst(7)
                let v = ints(args.prefix(while: { $0 != ")" }))
                let fname = args[args.range(of: "Image.")!.upperBound...].prefix(while: { $0.isLetter })
                let filter = try #require(ResampleFilter(name: String(fname)))
                img = Resample.resize(img, width: v[0], height: v[1], filter: filter)
            } else if rest.hasPrefix("reduce(") {
                let v = ints(rest.dropFirst(7).prefix(while: { $0 != ")" }))
                img = Resample.reduce(img, xFactor: v[0], yFactor: v.count > 1 ? v[1] : v[0])
            }
        }
        return img
    }

    @Test("Pillow resize / reduce / center_crop_arr outputs match exactly", arguments: try! entries().map { $0["file"] as! String })
    func pillowExact(file: String) throws {
        let entry = try #require(try Self.entries().first { $0["file"] as? String == file })
        let call = entry["call"] as! String
        let out = try Self.apply(call: call, to: try Self.source(entry["source"] as! String))
        #expect(out.width == entry["width"] as! Int && out.height == entry["height"] as! Int, "\(file): size \(out.width)x\(out.height)")
        let digest = SHA256.hex(out.pixels)
        if digest != entry["sha256_rgb_bytes"] as! String {
            let ref = try ImageCodec.decode(contentsOf: Fixtures.url("resize", file))
            var diff = 0, maxd = 0
            if ref.pixels.count == out.pixels.count {
                for (a, b) in zip(out.pixels, ref.pixels) where a != b { diff += 1; maxd = max(maxd, abs(Int(a) - Int(b))) }
            }
            Issue.record("\(file): sha256 mismatch; \(diff) of \(ref.pixels.count) bytes differ, max |Δ| \(maxd)")
        }
        #expect(out.pixels.reduce(0) { $0 + Int($1) } == entry["sum"] as! Int)
    }

    @Test("Fixture PNGs decode to the recorded RGB bytes")
    func pngDecodeMatchesDigest() throws {
        for entry in try Self.entries().prefix(6) {
            let img = try ImageCodec.decode(contentsOf: Fixtures.url("resize", entry["file"] as! String))
            #expect(SHA256.hex(img.pixels) == entry["sha256_rgb_bytes"] as! String)
        }
    }

    @Test("clean-fid float bicubic (Pillow 'F' path) within 1e-3 on the [0,255] scale")
    func cleanFIDFloat() throws {
        let ref = try Fixtures.npy("resize", "motorcycle_box32__cleanfid_clean299_float.npy")
        #expect(ref.shape == [299, 299, 3])
        let out = Resample.cleanFIDResize(try Self.source("motorcycle_box32"), width: 299, height: 299)
        let c = compare(out, ref.floats())
        // Tolerance 1e-3 ([0,255] scale): double accumulation, float32 storage per pass, as Pillow.
        #expect(c.maxAbsDiff <= 1e-3, "\(c)")
    }
}
