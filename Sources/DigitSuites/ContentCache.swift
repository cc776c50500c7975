import DigitCheckpoint
import DigitImage
import DigitReports
import DigitTensor
import Foundation

/// SHA-256 content digests of weight files and image inputs, the keys of ``FeatureCache``.
///
/// Hashing a multi-GB checkpoint or 50,000 JPEGs on every run would cost minutes, so a digest is
/// memoised under `memoDirectory` by the file's identity (device, inode, size, modification time in
/// nanoseconds): a file that is replaced or edited gets a new identity and is hashed again. Without
/// a memo directory every digest is computed from the bytes.
public struct ContentDigests: Sendable {
    public let memoDirectory: URL?

    public init(memoDirectory: URL?) { self.memoDirectory = memoDirectory }

    /// (device, inode, size, mtime ns) of a file: what the memo trusts to be unchanged.
    static func identity(of path: String) throws -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { throw WeightsError.unreadable(path: path) }
        let ns = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        return "\(st.st_dev):\(st.st_ino):\(st.st_size):\(ns)"
    }

    /// SHA-256 (hex) of the bytes of `url`.
    public func file(_ url: URL) throws -> String {
        let path = url.standardizedFileURL.path
        let id = try Self.identity(of: path)
        let memo = memoDirectory?.appendingPathComponent("file-\(SHA256.hex(Data(path.utf8)).prefix(24)).txt")
        if let memo, let text = try? String(contentsOf: memo, encoding: .utf8) {
            let parts = text.split(separator: "\t").map(String.init)
            if parts.count == 3, parts[0] == path, parts[1] == id, parts[2].count == 64 { return parts[2] }
        }
        let hex = try SHA256.hex(ofFile: url)
        if let memo { try? AtomicFile.write(Data("\(path)\t\(id)\t\(hex)".utf8), to: memo) }
        return hex
    }

    /// SHA-256 (hex) over the items `range` of `dataset`, in order: each item's id and the digest of
    /// its content — the file's bytes for folders, ImageFolder trees and file lists, the item's
    /// pixel bytes for ADM `.npz` batches, the decoded pixels otherwise. Renaming, adding, removing
    /// or editing any image changes it; touching a file without changing it does not.
    public func dataset(_ dataset: any ImageDataset, range: Range<Int>, progress: (Int, Int) -> Void = { _, _ in }) throws -> String {
        let n = range.count
        var digests = [String](repeating: "", count: n)
        switch dataset {
        case let d as NPZImageDataset:
            let (h, w) = (d.view.shape[1], d.view.shape[2])
            let bytes = h * w * 3
            d.view.withContiguousBytes { raw in
                for (j, i) in range.enumerated() {
                    digests[j] = SHA256.hex(UnsafeRawBufferPointer(rebasing: raw[(i * bytes)..<((i + 1) * bytes)]))
                }
            }
        default:
            if let urls = Self.fileURLs(dataset, range: range) {
                digests = try fileDigests(urls, source: dataset.source, progress: progress)
            } else {
                for (j, i) in range.enumerated() {
                    let im = try dataset.load(i)
                    digests[j] = SHA256.hex(Data("\(im.width)x\(im.height)\n".utf8) + Data(im.pixels))
                }
            }
        }
        var h = SHA256()
        h.update(Array("\(dataset.count) items; \(range.lowerBound)..<\(range.upperBound)\n".utf8))
        for (j, i) in range.enumerated() { h.update(Array("\(dataset.itemID(i))\t\(digests[j])\n".utf8)) }
        return h.finalizeHex()
    }

    static func fileURLs(_ dataset: any ImageDataset, range: Range<Int>) -> [URL]? {
        switch dataset {
        case let d as ImageFolderDataset: range.map { d.root.appendingPathComponent(d.files[$0]) }
        case let d as ImageFolderTreeDataset: range.map { d.root.appendingPathComponent(d.files[$0]) }
        case let d as FileListDataset: range.map { d.url($0) }
        default: nil
        }
    }

    /// Digests of many files, hashed in parallel; with a memo directory, one memo file per input
    /// source holds every file's identity and digest, so a rerun only `stat`s the files.
    func fileDigests(_ urls: [URL], source: String, progress: (Int, Int) -> Void) throws -> [String] {
        let paths = urls.map { $0.standardizedFileURL.path }
        let memo = memoDirectory?.appendingPathComponent("items-\(SHA256.hex(Data(source.utf8)).prefix(24)).tsv")
        var known: [String: (id: String, hex: String)] = [:]
        if let memo, let text = try? String(contentsOf: memo, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let p = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                if p.count == 3, p[2].count == 64 { known[p[0]] = (p[1], p[2]) }
            }
        }
        let n = paths.count
        let ids = UnsafeMutableBufferPointer<String>.allocate(capacity: n)
        let out = UnsafeMutableBufferPointer<String>.allocate(capacity: n)
        let failures = UnsafeMutableBufferPointer<String>.allocate(capacity: n)
        _ = ids.initialize(from: repeatElement("", count: n))
        _ = out.initialize(from: repeatElement("", count: n))
        _ = failures.initialize(from: repeatElement("", count: n))
        defer { ids.deallocate(); out.deallocate(); failures.deallocate() }
        let chunk = 256
        var hashed = 0
        for lo in stride(from: 0, to: n, by: chunk) {
            let hi = min(n, lo + chunk)
            parallelFor(hi - lo) { k in
                let i = lo + k
                do {
                    let id = try Self.identity(of: paths[i])
                    ids[i] = id
                    if let m = known[paths[i]], m.id == id { out[i] = m.hex; return }
                    out[i] = try SHA256.hex(ofFile: URL(fileURLWithPath: paths[i]))
                } catch {
                    failures[i] = "\(error)"
                }
            }
            if let bad = (lo..<hi).first(where: { !failures[$0].isEmpty }) {
                throw ImageError.unreadable(path: paths[bad], reason: "cannot hash it for the feature cache: \(failures[bad])")
            }
            hashed = hi
            progress(hashed, n)
        }
        if let memo, (0..<n).contains(where: { known[paths[$0]]?.id != ids[$0] }) {
            for i in 0..<n { known[paths[i]] = (ids[i], out[i]) }
            let text = known.keys.sorted().map { "\($0)\t\(known[$0]!.id)\t\(known[$0]!.hex)" }.joined(separator: "\n")
            try? AtomicFile.write(Data(text.utf8), to: memo)
        }
        return Array(out)
    }
}

/// A directory of cached arrays (per-image features, labels), each entry keyed by the SHA-256 of
/// everything its content depends on (see ``key(_:)``).
///
/// Layout: `DIR/<key>/<name>.npy` per array plus `DIR/<key>/meta.json`, written last: an entry
/// is complete only when its `meta.json` exists. Every file is written to a unique temporary name
/// and renamed into place, so two shards (or two runs) sharing a cache directory never see a
/// partial file; when both compute the same entry they write identical bytes. A damaged entry (a
/// truncated `.npy`) is a miss: it is recomputed and replaced, with a note.
public struct FeatureCache: Sendable {
    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    /// Memoised content digests in `DIR/digests`.
    public var digests: ContentDigests { ContentDigests(memoDirectory: directory.appendingPathComponent("digests")) }

    /// The entry key: SHA-256 over the sorted `name=value` lines of `parts` (version, model and
    /// weights digest, protocol, input digest, …).
    public static func key(_ parts: [String: String]) -> String {
        var h = SHA256()
        for (k, v) in parts.sorted(by: { $0.key < $1.key }) { h.update(Array("\(k)=\(v)\n".utf8)) }
        return h.finalizeHex()
    }

    func entry(_ key: String) -> URL { directory.appendingPathComponent(key) }

    /// The arrays `names` and the metadata of entry `key`, or nil on a miss. `note` hears why a
    /// present but unusable entry was ignored.
    public func load(key: String, names: [String], note: (String) -> Void = { _ in }) -> (arrays: [String: NPYArray], meta: Data)? {
        let dir = entry(key)
        guard let meta = try? Data(contentsOf: dir.appendingPathComponent("meta.json")) else { return nil }
        var arrays: [String: NPYArray] = [:]
        for name in names {
            let url = dir.appendingPathComponent("\(name).npy")
            guard FileManager.default.fileExists(atPath: url.path) else { return nil }
            do { arrays[name] = try NPY.read(contentsOf: url) } catch {
                note("cache entry \(url.path) is unreadable (\(error)); recomputing it")
                return nil
            }
        }
        return (arrays, meta)
    }

    /// Stores `arrays` and then `meta` (the commit marker) under `key`.
    public func store(key: String, arrays: [String: NPYArray], meta: Data) throws {
        let dir = entry(key)
        for (name, a) in arrays.sorted(by: { $0.key < $1.key }) {
            try AtomicFile.write(NPY.encode(a), to: dir.appendingPathComponent("\(name).npy"))
        }
        try AtomicFile.write(meta, to: dir.appendingPathComponent("meta.json"))
    }
}
