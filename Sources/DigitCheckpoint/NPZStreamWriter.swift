import CZlib
import Foundation

/// Writes an uncompressed `.npz` (as `np.savez`) to disk array by array, row by row, with bounded
/// memory: a 50,000-image ADM batch is never held in memory, and archives or records past 4 GiB get
/// ZIP64 fields, which `np.load` (Python's `zipfile`) and `ZipArchive` read.
///
/// Each array's shape is declared up front (the `.npy` header precedes the data); `append` streams
/// its bytes and `endArray` checks that exactly the declared number arrived. The archive is written
/// to a temporary file beside `url` and renamed over it by `finish()`, so an interrupted run never
/// leaves a truncated `.npz` under the final name.
public final class NPZStreamWriter {
    public let url: URL
    private let temporary: URL
    private let handle: FileHandle
    private let zip64Limit: Int
    private var offset = 0
    private var central = Data()
    private var count = 0
    private var names: Set<String> = []
    private var open: (record: ZipRecord, crc: uLong, remaining: Int)?
    private var finished = false

    /// - Parameter zip64Limit: sizes and offsets at or above it get ZIP64 fields (tests lower it to
    ///   exercise the ZIP64 layout without writing 4 GiB).
    public init(url: URL, zip64Limit: Int = 0xFFFF_FFFF) throws {
        self.url = url
        self.zip64Limit = zip64Limit
        temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil),
              let h = FileHandle(forWritingAtPath: temporary.path) else {
            throw CheckpointError.unsupported(path: temporary.path, reason: "cannot create the temporary output file")
        }
        handle = h
    }

    deinit {
        if !finished {
            try? handle.close()
            try? FileManager.default.removeItem(at: temporary)
        }
    }

    /// Starts the record `name.npy` holding a C-order array of `shape`.
    public func beginArray(name: String, dtype: DType, shape: [Int]) throws {
        precondition(open == nil && !finished, "NPZStreamWriter: beginArray while an array is open or after finish")
        guard names.insert(name).inserted else {
            throw CheckpointError.malformed(path: url.path, offset: nil, reason: "array '\(name)' written twice")
        }
        let header = NPY.header(dtype: dtype, shape: shape)
        let dataBytes = shape.reduce(1, *) * dtype.size
        let size = header.count + dataBytes
        let record = ZipRecord(name: name + ".npy", method: 0, crc: 0, compressedSize: size, size: size, offset: offset, zip64Limit: zip64Limit)
        try write(record.localHeader())
        open = (record, CZlib.crc32(0, nil, 0), size)
        try append(header)
    }

    /// Appends raw little-endian element bytes of the open array.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard var o = open else { preconditionFailure("NPZStreamWriter: append without beginArray") }
        guard bytes.count <= o.remaining else {
            throw CheckpointError.malformed(path: url.path, offset: offset, reason: "record '\(o.record.name)': \(bytes.count) bytes appended with only \(o.remaining) left of its declared shape")
        }
        if let base = bytes.baseAddress?.assumingMemoryBound(to: Bytef.self), bytes.count > 0 {
            var p = base, left = bytes.count
            while left > 0 {
                let n = min(left, 1 << 30)
                o.crc = CZlib.crc32(o.crc, p, uInt(n))
                p += n; left -= n
            }
        }
        o.remaining -= bytes.count
        open = o
        try write(Data(bytes))
    }

    public func append(_ data: Data) throws { try data.withUnsafeBytes { try append($0) } }

    /// Closes the open array, patching its CRC-32 into the local header.
    public func endArray() throws {
        guard var o = open else { preconditionFailure("NPZStreamWriter: endArray without beginArray") }
        guard o.remaining == 0 else {
            throw CheckpointError.malformed(path: url.path, offset: offset, reason: "record '\(o.record.name)': \(o.remaining) bytes short of its declared shape")
        }
        o.record.crc = UInt32(truncatingIfNeeded: o.crc)
        try handle.seek(toOffset: UInt64(o.record.offset + 14))
        var crc = Data(); crc.le32(o.record.crc)
        try handle.write(contentsOf: crc)
        try handle.seekToEnd()
        central.append(o.record.centralEntry())
        count += 1
        open = nil
    }

    /// A whole array in one call.
    public func add(name: String, array: NPYArray) throws {
        try beginArray(name: name, dtype: array.dtype, shape: array.shape)
        try array.data.withUnsafeBytes { try append($0) }
        try endArray()
    }

    /// Writes the central directory, syncs, and renames the file to `url`.
    public func finish() throws {
        precondition(open == nil && !finished, "NPZStreamWriter: finish with an open array or twice")
        let centralOffset = offset
        try write(central)
        try write(ZipRecord.end(count: count, centralOffset: centralOffset, centralSize: central.count, zip64Limit: zip64Limit))
        try handle.synchronize()
        try handle.close()
        guard rename(temporary.path, url.path) == 0 else {
            throw CheckpointError.unsupported(path: url.path, reason: "cannot rename the finished archive into place (errno \(errno))")
        }
        finished = true
    }

    private func write(_ data: Data) throws {
        try handle.write(contentsOf: data)
        offset += data.count
    }
}
