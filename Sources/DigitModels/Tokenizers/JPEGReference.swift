import DigitImage
import Foundation

/// `jpeg-qN`: JPEG at quality N (Pillow's defaults: 4:2:0, standard tables, no optimize) as a
/// classical-codec reference row for reconstruction reports. It has no tokens; what it shares
/// with tokenizers is a round trip and a bit rate (the file's bytes).
public struct JPEGReference: Sendable, Equatable {
    public let quality: Int

    public init(quality: Int) throws {
        guard (1...100).contains(quality) else {
            throw TokenizerError.badInput("jpeg-q\(quality): quality must be in 1...100")
        }
        self.quality = quality
    }

    /// Parses `jpeg-q75`; nil for other ids.
    public init?(id: String) {
        guard id.hasPrefix("jpeg-q"), let q = Int(id.dropFirst(6)), let r = try? JPEGReference(quality: q) else { return nil }
        self = r
    }

    public var id: String { "jpeg-q\(quality)" }

    /// Encodes and decodes every image; returns the reconstructions and each file's size in bytes.
    public func roundTrip(_ images: ImageBatch) throws -> (reconstructed: ImageBatch, bytes: [Int]) {
        var out: [RGBImage] = []
        var bytes: [Int] = []
        for i in 0..<images.count {
            let data = try ImageCodec.encodeJPEG(images.image(i), quality: quality)
            bytes.append(data.count)
            out.append(try data.withUnsafeBytes { try ImageCodec.decodeJPEG($0, path: "<\(id)>") })
        }
        return (ImageBatch(images: out), bytes)
    }

    /// Bits per pixel of a file of `bytes` bytes for an `height × width` image.
    public static func bitsPerPixel(bytes: Int, height: Int, width: Int) -> Double {
        Double(bytes * 8) / Double(height * width)
    }
}
