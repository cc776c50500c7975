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

/// Writes an ADM-style batch (`arr_0` uint8 (N, H, W, 3), then `arr_1` int64 labels when given)
/// image by image through ``NPZStreamWriter``: memory stays at one image however large the batch,
/// batches past 4 GiB get ZIP64 fields, and the file appears under its name only when complete.
public final class ADMBatchWriter {
    public let url: URL
    public let count: Int, height: Int, width: Int
    private let writer: NPZStreamWriter
    private var labels: [Int64] = []
    private var written = 0
    private let withLabels: Bool

    public init(url: URL, count: Int, height: Int, width: Int, labels: Bool) throws {
        (self.url, self.count, self.height, self.width, self.withLabels) = (url, count, height, width, labels)
        writer = try NPZStreamWriter(url: url)
        try writer.beginArray(name: "arr_0", dtype: .uint8, shape: [count, height, width, 3])
    }

    /// Appends `count` images' raw bytes (N, H, W, 3) at once, e.g. a slice of another batch.
    public func append(rawImages bytes: UnsafeRawBufferPointer, labels: [Int64]?) throws {
        let n = bytes.count / (height * width * 3)
        guard n * height * width * 3 == bytes.count, written + n <= count else {
            throw ImageError.dataset(path: url.path, reason: "\(bytes.count) bytes are not whole \(width)x\(height) images within the \(count) declared")
        }
        if withLabels {
            guard let labels, labels.count == n else { throw ImageError.dataset(path: url.path, reason: "\(n) images need \(n) labels") }
            self.labels += labels
        }
        try writer.append(bytes)
        written += n
    }

    /// Appends the next image (all images share one size) and its label.
    public func append(_ image: RGBImage, label: Int? = nil, id: String) throws {
        guard image.width == width, image.height == height else {
            throw ImageError.dataset(path: url.path, reason: "\(id) is \(image.width)x\(image.height), but the batch holds \(width)x\(height) images (use a recipe that fixes the size, e.g. adm-256)")
        }
        guard written < count else { throw ImageError.dataset(path: url.path, reason: "more than the \(count) declared images") }
        if withLabels {
            guard let label else { throw ImageError.dataset(path: url.path, reason: "\(id) has no class label") }
            labels.append(Int64(label))
        }
        try image.pixels.withUnsafeBytes { try writer.append($0) }
        written += 1
    }

    /// Closes `arr_0`, writes `arr_1` and any `extra` arrays (e.g. metadata the ADM evaluator
    /// ignores), and moves the file into place.
    public func finish(extra: [(name: String, array: NPYArray)] = []) throws {
        try writer.endArray()
        if withLabels { try writer.add(name: "arr_1", array: NPYArray(int64: labels, shape: [labels.count])) }
        for (name, array) in extra { try writer.add(name: name, array: array) }
        try writer.finish()
    }
}

extension ADMBatchWriter {
    /// Streams image files (all one size; the first sets it) into a batch at `url` in the given
    /// order, decoding one at a time. `label(k)` is file k's class when `labels` is true; `progress`
    /// receives the number of files packed so far.
    public static func pack(_ files: [URL], to url: URL, labels: Bool, label: (Int) throws -> Int?,
                            extra: [(name: String, array: NPYArray)] = [], progress: ((Int) -> Void)? = nil) throws {
        guard let first = files.first else { throw ImageError.dataset(path: url.path, reason: "no images to pack") }
        let probe = try ImageCodec.decode(contentsOf: first)
        let writer = try ADMBatchWriter(url: url, count: files.count, height: probe.height, width: probe.width, labels: labels)
        for (k, file) in files.enumerated() {
            let image = k == 0 ? probe : try ImageCodec.decode(contentsOf: file)
            try writer.append(image, label: labels ? try label(k) : nil, id: file.path)
            progress?(k + 1)
        }
        try writer.finish(extra: extra)
    }
}
