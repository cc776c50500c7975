import Dispatch
import DigitTensor
import Foundation

/// A finite, indexable collection of images, decoded on demand (never all at once).
///
/// Order is deterministic: listings are sorted by the UTF-8 bytes of their relative paths, as
/// Python's `sorted()` orders them. `load` must be safe to call from several threads.
public protocol ImageDataset: Sendable {
    /// What was opened (shown in records and errors).
    var source: String { get }
    var count: Int { get }
    /// A stable identifier of item `index` (relative path, or `arr_0[i]`).
    func itemID(_ index: Int) -> String
    /// The class index of item `index`, if the dataset has labels.
    func label(_ index: Int) -> Int?
    /// Decodes item `index` to RGB (Pillow `convert('RGB')` semantics).
    func load(_ index: Int) throws -> RGBImage
}

/// File extensions listed as images (pytorch-fid's `IMAGE_EXTENSIONS`; only PNG and JPEG decode,
/// other formats are listed so that they are reported rather than silently ignored).
public let imageFileExtensions: Set<String> = ["bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp"]

func utf8Less(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

/// Relative paths of the image files under `root`, recursively, sorted.
func listImages(under root: URL) throws -> [String] {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDir), isDir.boolValue else {
        throw ImageError.dataset(path: root.path, reason: "not a directory")
    }
    guard let e = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey], options: []) else {
        throw ImageError.dataset(path: root.path, reason: "cannot list directory")
    }
    let base = root.standardizedFileURL.path
    var out: [String] = []
    for case let url as URL in e where imageFileExtensions.contains(url.pathExtension.lowercased()) {
        let p = url.standardizedFileURL.path
        out.append(p.hasPrefix(base + "/") ? String(p.dropFirst(base.count + 1)) : url.lastPathComponent)
    }
    return out.sorted(by: utf8Less)
}

/// A directory of images, recursive, sorted by relative path (pytorch-fid / clean-fid folders).
public struct ImageFolderDataset: ImageDataset {
    public let root: URL
    public let files: [String]
    public var source: String { root.path }
    public var count: Int { files.count }

    public init(root: URL) throws {
        self.root = root
        self.files = try listImages(under: root)
    }

    public func itemID(_ index: Int) -> String { files[index] }
    public func label(_ index: Int) -> Int? { nil }
    public func load(_ index: Int) throws -> RGBImage { try ImageCodec.decode(contentsOf: root.appendingPathComponent(files[index])) }
}

/// torchvision `ImageFolder`: one sub-directory per class; class index = position of the directory
/// name in sorted order (ImageNet synsets n01440764 … → 0 …); files of each class recursive, sorted.
public struct ImageFolderTreeDataset: ImageDataset {
    public let root: URL
    public let classNames: [String]
    public let files: [String]
    public let labels: [Int]
    public var source: String { root.path }
    public var count: Int { files.count }

    public init(root: URL) throws {
        self.root = root
        let entries = (try? FileManager.default.contentsOfDirectory(at: root, includingPropertiesForKeys: [.isDirectoryKey])) ?? []
        let classes = entries.filter { (try? $0.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true }
            .map(\.lastPathComponent).sorted(by: utf8Less)
        guard !classes.isEmpty else { throw ImageError.dataset(path: root.path, reason: "no class sub-directories (ImageFolder layout expected)") }
        var files: [String] = [], labels: [Int] = []
        for (i, c) in classes.enumerated() {
            for f in try listImages(under: root.appendingPathComponent(c)) {
                files.append(c + "/" + f)
                labels.append(i)
            }
        }
        self.classNames = classes
        self.files = files
        self.labels = labels
    }

    public func itemID(_ index: Int) -> String { files[index] }
    public func label(_ index: Int) -> Int? { labels[index] }
    public func load(_ index: Int) throws -> RGBImage { try ImageCodec.decode(contentsOf: root.appendingPathComponent(files[index])) }
}

/// A text file listing one image per line, `path` or `path label` (whitespace separated; relative
/// paths are relative to the list's directory; blank lines and `#` comments ignored). Order = file order.
public struct FileListDataset: ImageDataset {
    public let listFile: URL
    public let paths: [String]
    public let labels: [Int?]
    public var source: String { listFile.path }
    public var count: Int { paths.count }

    public init(listFile: URL) throws {
        self.listFile = listFile
        let text: String
        do { text = try String(contentsOf: listFile, encoding: .utf8) } catch {
            throw ImageError.unreadable(path: listFile.path, reason: (error as NSError).localizedDescription)
        }
        var paths: [String] = [], labels: [Int?] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let t = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if t.isEmpty || t.hasPrefix("#") { continue }
            let parts = t.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if parts.count > 2 || (parts.count == 2 && Int(parts[1]) == nil) {
                throw ImageError.dataset(path: listFile.path, reason: "line \(n + 1): expected 'path' or 'path label', got '\(t)'")
            }
            paths.append(String(parts[0]))
            labels.append(parts.count == 2 ? Int(parts[1]) : nil)
        }
        self.paths = paths
        self.labels = labels
    }

    public func url(_ index: Int) -> URL {
        let p = paths[index]
        return p.hasPrefix("/") ? URL(fileURLWithPath: p) : listFile.deletingLastPathComponent().appendingPathComponent(p)
    }

    public func itemID(_ index: Int) -> String { paths[index] }
    public func label(_ index: Int) -> Int? { labels[index] }
    public func load(_ index: Int) throws -> RGBImage { try ImageCodec.decode(contentsOf: url(index)) }
}

/// In-memory images (tests, generated samples).
public struct InMemoryDataset: ImageDataset {
    public let images: [RGBImage]
    public let labels: [Int]?
    public var source: String { "<memory>" }
    public var count: Int { images.count }
    public init(images: [RGBImage], labels: [Int]? = nil) { self.images = images; self.labels = labels }
    public func itemID(_ index: Int) -> String { "images[\(index)]" }
    public func label(_ index: Int) -> Int? { labels?[index] }
    public func load(_ index: Int) throws -> RGBImage { images[index] }
}

/// Opens `path` as a dataset: a directory (`imageFolderTree` selects the ImageFolder class layout),
/// a `.txt` list, or an ADM `.npz` batch (`arr_0` uint8 (N, H, W, 3), see ``NPZImageDataset``).
public func openDataset(_ path: String, imageFolderTree: Bool = false) throws -> any ImageDataset {
    let url = URL(fileURLWithPath: path)
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
        throw ImageError.dataset(path: path, reason: "no such file or directory")
    }
    if isDir.boolValue { return imageFolderTree ? try ImageFolderTreeDataset(root: url) : try ImageFolderDataset(root: url) }
    switch url.pathExtension.lowercased() {
    case "txt", "list": return try FileListDataset(listFile: url)
    case "npz": return try NPZImageDataset(url: url)
    default: throw ImageError.dataset(path: path, reason: "expected a directory, a .txt file list or an .npz batch")
    }
}

// MARK: - Streaming

/// What to do with an image that cannot be read or decoded.
public enum OnError: String, Sendable, CaseIterable {
    /// Stop with the error (the default: results must not silently cover fewer images).
    case fail
    /// Leave the item out and record it in the run's `skipped` list.
    case skip
}

/// `i/N`: the contiguous `i`-th of `N` equal parts of the index range (0-based).
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    public var count: Int
    public static let all = Shard(index: 0, count: 1)

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    public init(parsing text: String) throws {
        let p = text.split(separator: "/")
        guard p.count == 2, let i = Int(p[0]), let n = Int(p[1]), n >= 1, i >= 0, i < n else {
            throw ImageError.invalidArgument("shard '\(text)' must be i/N with 0 <= i < N")
        }
        self.init(index: i, count: n)
    }

    public func range(of total: Int) -> Range<Int> { (total * index / count)..<(total * (index + 1) / count) }
    public var description: String { "\(index)/\(count)" }
}

/// An item left out under `--on-error skip`.
public struct SkippedItem: Sendable, Codable, Equatable {
    public var index: Int
    public var id: String
    public var reason: String
}

/// Decoded (and preprocessed) items of one batch, in dataset order; skipped items are absent.
public struct LoadedBatch: Sendable {
    public var indices: [Int] = []
    public var ids: [String] = []
    public var labels: [Int?] = []
    public var images: [RGBImage] = []
}

/// Streams a dataset in batches: each batch is decoded and preprocessed in parallel
/// (`Threads.count` threads taking items from a shared counter), handed to `body`, then released. Memory is bounded by one batch
/// whatever the dataset size.
public struct DatasetLoader: Sendable {
    public var dataset: any ImageDataset
    public var recipe: Recipe
    public var batchSize: Int
    public var onError: OnError
    public var shard: Shard
    /// Items whose output already exists (resumable runs): not decoded, not passed to `body`.
    public var isDone: (@Sendable (Int) -> Bool)?

    public init(dataset: any ImageDataset, recipe: Recipe = .none, batchSize: Int = 64, onError: OnError = .fail,
                shard: Shard = .all, isDone: (@Sendable (Int) -> Bool)? = nil) {
        self.dataset = dataset
        self.recipe = recipe
        self.batchSize = max(1, batchSize)
        self.onError = onError
        self.shard = shard
        self.isDone = isDone
    }

    /// Indices this loader covers (its shard of the dataset).
    public var indices: Range<Int> { shard.range(of: dataset.count) }

    /// Runs `body` on each batch in order; returns the skipped items. Under `.fail` the first
    /// unreadable item (in index order) is thrown.
    @discardableResult
    public func forEachBatch(_ body: (LoadedBatch) throws -> Void) throws -> [SkippedItem] {
        var skipped: [SkippedItem] = []
        let todo = indices.filter { !(isDone?($0) ?? false) }
        var start = 0
        while start < todo.count {
            let chunk = Array(todo[start..<min(start + batchSize, todo.count)])
            start += chunk.count
            var results = [Result<RGBImage, Error>?](repeating: nil, count: chunk.count)
            let ds = dataset, rc = recipe
            results.withUnsafeMutableBufferPointer { r in
                // Items are taken one at a time from a shared counter, so a thread slowed by other
                // load (or a large image) does not leave the other idle at the end of the batch.
                let next = ItemCounter()
                DispatchQueue.concurrentPerform(iterations: min(Threads.count, chunk.count)) { _ in
                    while let j = next.take(below: chunk.count) {
                        r[j] = Result { rc.apply(try ds.load(chunk[j])) }
                    }
                }
            }
            var batch = LoadedBatch()
            for (j, idx) in chunk.enumerated() {
                switch results[j]! {
                case let .success(img):
                    batch.indices.append(idx)
                    batch.ids.append(dataset.itemID(idx))
                    batch.labels.append(dataset.label(idx))
                    batch.images.append(img)
                case let .failure(error):
                    if onError == .fail { throw error }
                    skipped.append(SkippedItem(index: idx, id: dataset.itemID(idx), reason: "\(error)"))
                }
            }
            try body(batch)
        }
        return skipped
    }
}

/// A shared work counter for ``DatasetLoader``'s threads.
private final class ItemCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func take(below limit: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard value < limit else { return nil }
        value += 1
        return value - 1
    }
}
