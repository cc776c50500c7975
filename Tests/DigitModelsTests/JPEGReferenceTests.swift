import DigitImage
@testable import DigitModels
import Foundation
import Testing
import _DigitTestSupport

@Suite struct JPEGReferenceTests {
    @Test func parsesIDs() throws {
        #expect(JPEGReference(id: "jpeg-q75")?.quality == 75)
        #expect(JPEGReference(id: "jpeg-q0") == nil && JPEGReference(id: "jpeg-q101") == nil && JPEGReference(id: "lfq-256") == nil)
        #expect(try JPEGReference(quality: 30).id == "jpeg-q30")
    }

    @Test func roundTripIsJPEGOfTheImage() throws {
        let image = try ImageCodec.decode(contentsOf: Fixtures.url("lfq", "images/omv2_128_coffee.png"))
        let batch = ImageBatch(images: [image, image])
        let (rec, bytes) = try JPEGReference(quality: 75).roundTrip(batch)
        // Same bytes as encoding directly (the codec itself is tested against Pillow in DigitImageTests).
        let direct = try ImageCodec.encodeJPEG(image, quality: 75)
        #expect(bytes == [direct.count, direct.count])
        #expect(rec.image(0) == (try direct.withUnsafeBytes { try ImageCodec.decodeJPEG($0) }))
        #expect(rec.count == 2 && rec.height == 128 && rec.width == 128)
        // Higher quality costs more bits.
        let (_, q95) = try JPEGReference(quality: 95).roundTrip(ImageBatch(images: [image]))
        #expect(q95[0] > bytes[0])
        #expect(JPEGReference.bitsPerPixel(bytes: bytes[0], height: 128, width: 128) == Double(bytes[0] * 8) / 16384)
    }
}
