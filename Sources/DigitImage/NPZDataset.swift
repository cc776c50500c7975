import DigitCheckpoint
import Foundation

/// The images of an ADM-style `.npz` batch: `arr_0`, uint8 (N, H, W, 3), as openai/guided-diffusion's
/// `evaluations/evaluator.py` reads sample and reference batches. A stored (`np.savez`) record is
/// memory-mapped and each image copied out on demand; a deflated one is inflated once.
public struct NPZImageDataset: ImageDataset {
    public let url: URL
    public let key: String
    public let view: RawView
    public var source: String { url.path }
    public var count: Int { view.shape[0] }

    public init(url: URL, key: String = "arr_0") throws {
        self.url = url
        self.key = key
        let records: [(name: String, view: RawView)]
        do { records = try NPZ.views(ZipArchive(ByteBuffer.map(url))) } catch {
            throw ImageError.dataset(path: url.path, reason: "not a readable .npz: \(error)")
        }
        guard let v = records.first(where: { $0.name == key })?.view else {
            let keys = records.map(\.name).joined(separator: ", ")
            throw ImageError.dataset(path: url.path, reason: "no '\(key)' array of images (keys: \(keys.isEmpty ? "none" : keys))")
        }
        guard v.dtype == .uint8, v.shape.count == 4, v.shape[3] == 3, v.shape[1] > 0, v.shape[2] > 0 else {
            throw ImageError.dataset(path: url.path, reason: "'\(key)' is \(v.dtype) \(v.shape), expected uint8 (N, H, W, 3) images")
        }
        self.view = v
    }

    public func itemID(_ index: Int) -> String { "\(key)[\(index)]" }
    public func label(_ index: Int) -> Int? { nil }

    public func load(_ index: Int) throws -> RGBImage {
        let (h, w) = (view.shape[1], view.shape[2])
        let n = h * w * 3
        let pixels = view.withContiguousBytes { raw in [UInt8](raw[(index * n)..<((index + 1) * n)]) }
        return RGBImage(width: w, height: h, pixels: pixels)
    }
}
