import Foundation

/// NumPy `.npz` archives: a zip of `<name>.npy` records, stored (`np.savez`) or deflated
/// (`np.savez_compressed`).
public enum NPZ {
    /// Reads every array, in archive order, keyed by record name without `.npy`.
    public static func read(contentsOf url: URL) throws -> [(name: String, array: NPYArray)] {
        try views(ZipArchive(ByteBuffer.map(url))).map { ($0.name, $0.view.array()) }
    }

    /// Views of every array (stored records are not copied; deflated ones are inflated once).
    public static func views(_ archive: ZipArchive, verify: Bool = true) throws -> [(name: String, view: RawView)] {
        var out: [(String, RawView)] = []
        for e in archive.entries where !e.name.hasSuffix("/") {
            guard e.name.hasSuffix(".npy") else {
                throw CheckpointError.malformed(path: archive.path, offset: e.headerOffset, reason: "npz record '\(e.name)' is not a .npy file")
            }
            let (b, o, n) = try archive.contents(e, verify: verify)
            do {
                out.append((String(e.name.dropLast(4)), try NPY.view(b, start: o, count: n)))
            } catch let CheckpointError.malformed(_, offset, reason) {
                throw CheckpointError.malformed(path: archive.path, offset: offset.map { $0 + (b === archive.buffer ? 0 : e.dataOffset) }, reason: "record '\(e.name)': \(reason)")
            }
        }
        return out
    }

    /// Encodes arrays as an `.npz` (deflated when `compressed`, like `np.savez_compressed`).
    public static func encode(_ arrays: [(name: String, array: NPYArray)], compressed: Bool) throws -> Data {
        var w = ZipWriter(compress: compressed)
        for (name, a) in arrays {
            let bytes = NPY.encode(a)
            try bytes.withUnsafeBytes { try w.add(name: name + ".npy", bytes: $0) }
        }
        return w.finish()
    }

    /// Writes arrays to `url` atomically.
    public static func write(_ arrays: [(name: String, array: NPYArray)], to url: URL, compressed: Bool = false) throws {
        try encode(arrays, compressed: compressed).write(to: url, options: .atomic)
    }
}
