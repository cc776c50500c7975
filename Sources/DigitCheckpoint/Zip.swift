import Foundation

/// A zip archive read through its central directory (stored and deflated records, ZIP64).
///
/// Stored records are returned as ranges of the memory-mapped file (no copy); deflated ones are
/// inflated into their own buffer. Every offset and length is checked against the file, and each
/// record's CRC-32 is verified when it is read (torch itself does not do this).
public struct ZipArchive: Sendable {
    public struct Entry: Sendable {
        public var name: String
        /// 0 = stored, 8 = deflated.
        public var method: Int
        public var crc32: UInt32
        public var compressedSize: Int
        public var size: Int
        public var headerOffset: Int
        /// Offset of the record's first data byte (after its local header).
        public var dataOffset: Int
    }

    public let buffer: ByteBuffer
    public private(set) var entries: [Entry] = []
    private var index: [String: Int] = [:]
    public var path: String { buffer.path }

    /// Whether `buffer` starts like a zip file (local header or empty-archive EOCD signature).
    public static func looksLikeZip(_ buffer: ByteBuffer) -> Bool {
        guard buffer.count >= 4 else { return false }
        let sig = buffer.base.loadUnaligned(as: UInt32.self)
        return sig == 0x0403_4B50 || sig == 0x0605_4B50
    }

    public init(_ buffer: ByteBuffer) throws {
        self.buffer = buffer
        let path = buffer.path
        func bad(_ offset: Int?, _ reason: String) -> CheckpointError { .malformed(path: path, offset: offset, reason: reason) }

        // End of central directory: 22 bytes + a comment of up to 65535 bytes, at the very end.
        let n = buffer.count
        guard n >= 22 else { throw bad(nil, "zip archive of \(n) bytes is too short to hold an end-of-central-directory record") }
        var eocd = -1
        var i = n - 22
        let lowest = max(0, n - 22 - 65535)
        while i >= lowest {
            if buffer.base.loadUnaligned(fromByteOffset: i, as: UInt32.self) == 0x0605_4B50 {
                let commentLen = Int(buffer.base.loadUnaligned(fromByteOffset: i + 20, as: UInt16.self).littleEndian)
                if i + 22 + commentLen == n { eocd = i; break }
            }
            i -= 1
        }
        guard eocd >= 0 else {
            throw bad(nil, "no end-of-central-directory record: the zip archive is truncated or not a zip file")
        }
        var c = ByteCursor(buffer, from: eocd + 4)
        let disk = try c.u16("EOCD disk number")
        _ = try c.u16("EOCD central directory disk")
        _ = try c.u16("EOCD entries on this disk")
        var total = try c.u16("EOCD entry count")
        var cdSize = try c.u32("EOCD central directory size")
        var cdOffset = try c.u32("EOCD central directory offset")
        if disk != 0 && disk != 0xFFFF { throw CheckpointError.unsupported(path: path, reason: "multi-disk zip archive") }
        if total == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            // ZIP64: the locator sits right before the EOCD record.
            let loc = eocd - 20
            guard loc >= 0, buffer.base.loadUnaligned(fromByteOffset: loc, as: UInt32.self) == 0x0706_4B50 else {
                throw bad(eocd, "EOCD fields are saturated but there is no ZIP64 end-of-central-directory locator")
            }
            var l = ByteCursor(buffer, from: loc + 8)
            let z64 = try l.u64("ZIP64 EOCD offset")
            guard n >= 56, z64 <= UInt64(n - 56) else { throw bad(loc, "ZIP64 EOCD offset \(z64) is outside the file") }
            var z = ByteCursor(buffer, from: Int(z64))
            guard try z.u32("ZIP64 EOCD signature") == 0x0606_4B50 else { throw bad(Int(z64), "bad ZIP64 end-of-central-directory signature") }
            z.position += 8 + 2 + 2 + 4 + 4 + 8  // record size, versions, disk numbers, entries on disk
            let t = try z.u64("ZIP64 entry count")
            let s = try z.u64("ZIP64 central directory size")
            let o = try z.u64("ZIP64 central directory offset")
            guard t < UInt64(n), s <= UInt64(n), o <= UInt64(n) else { throw bad(Int(z64), "ZIP64 central directory fields exceed the file size") }
            total = Int(t)
            cdSize = Int(s)
            cdOffset = Int(o)
        }
        try buffer.check(cdOffset, cdSize, "central directory")
        guard total <= cdSize / 46 + 1 else { throw bad(eocd, "\(total) entries cannot fit in a central directory of \(cdSize) bytes") }

        var cd = ByteCursor(buffer, from: cdOffset, end: cdOffset + cdSize)
        entries.reserveCapacity(total)
        for k in 0..<total {
            let at = cd.position
            guard try cd.u32("central directory entry \(k)") == 0x0201_4B50 else {
                throw bad(at, "central directory entry \(k) has a bad signature")
            }
            cd.position += 4  // versions
            let flags = try cd.u16("flags")
            let method = try cd.u16("compression method")
            cd.position += 4  // time, date
            let crc = UInt32(try cd.u32("CRC-32"))
            var csize = try cd.u32("compressed size")
            var usize = try cd.u32("uncompressed size")
            let nameLen = try cd.u16("name length")
            let extraLen = try cd.u16("extra length")
            let commentLen = try cd.u16("comment length")
            cd.position += 2 + 2 + 4  // disk, internal and external attributes
            var offset = try cd.u32("local header offset")
            let nameBytes = try cd.bytes(nameLen, "entry name")
            let name = String(decoding: nameBytes, as: UTF8.self)
            var extra = ByteCursor(buffer, from: cd.position, end: cd.position + extraLen)
            try cd.need(extraLen + commentLen, "extra field and comment of '\(name)'")
            cd.position += extraLen + commentLen
            while extra.remaining >= 4 {
                let id = try extra.u16("extra id")
                let len = try extra.u16("extra length")
                let end = extra.position + len
                guard end <= extra.end else { throw bad(extra.position, "extra field of '\(name)' overruns its entry") }
                if id == 0x0001 {
                    if usize == 0xFFFF_FFFF { usize = Int(clamping: try extra.u64("ZIP64 size")) }
                    if csize == 0xFFFF_FFFF { csize = Int(clamping: try extra.u64("ZIP64 compressed size")) }
                    if offset == 0xFFFF_FFFF { offset = Int(clamping: try extra.u64("ZIP64 offset")) }
                }
                extra.position = end
            }
            if flags & 1 != 0 { throw CheckpointError.unsupported(path: path, reason: "zip entry '\(name)' is encrypted") }
            guard method == 0 || method == 8 else {
                throw CheckpointError.unsupported(path: path, reason: "zip entry '\(name)' uses compression method \(method) (only stored and deflated are supported)")
            }
            // Local header: its own name and extra lengths decide where the data starts.
            try buffer.check(offset, 30, "local header of '\(name)'")
            guard buffer.base.loadUnaligned(fromByteOffset: offset, as: UInt32.self) == 0x0403_4B50 else {
                throw bad(offset, "local header of '\(name)' has a bad signature")
            }
            let ln = Int(buffer.base.loadUnaligned(fromByteOffset: offset + 26, as: UInt16.self).littleEndian)
            let le = Int(buffer.base.loadUnaligned(fromByteOffset: offset + 28, as: UInt16.self).littleEndian)
            let dataOffset = offset + 30 + ln + le
            try buffer.check(dataOffset, csize, "data of zip entry '\(name)'")
            if method == 0 && csize != usize {
                throw bad(offset, "stored entry '\(name)' has compressed size \(csize) != size \(usize)")
            }
            guard index[name] == nil else { throw bad(at, "zip entry '\(name)' appears twice") }
            index[name] = entries.count
            entries.append(Entry(name: name, method: method, crc32: crc, compressedSize: csize, size: usize, headerOffset: offset, dataOffset: dataOffset))
        }
    }

    public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    /// The bytes of a record, verified against its CRC-32 when `verify` is true.
    /// Stored records share the mapped file; deflated ones are inflated.
    public func contents(_ e: Entry, verify: Bool = true) throws -> (buffer: ByteBuffer, offset: Int, count: Int) {
        let result: (ByteBuffer, Int, Int)
        if e.method == 0 {
            result = (buffer, e.dataOffset, e.size)
        } else {
            // deflate cannot expand data by more than ~1032:1; refuse sizes that could only be lies
            guard e.size <= e.compressedSize &* 1100 &+ 4096 else {
                throw CheckpointError.malformed(path: path, offset: e.headerOffset, reason: "zip entry '\(e.name)' claims \(e.size) bytes from \(e.compressedSize) compressed bytes")
            }
            let out = try Zlib.inflate(buffer.raw(e.dataOffset, e.compressedSize), expected: e.size, path: path, what: "zip entry '\(e.name)'", offset: e.dataOffset)
            result = (out, 0, e.size)
        }
        if verify {
            let crc = Zlib.crc32(result.0.raw(result.1, result.2))
            guard crc == e.crc32 else {
                throw CheckpointError.malformed(
                    path: path, offset: e.dataOffset,
                    reason: "zip entry '\(e.name)': CRC-32 mismatch (header says \(hex8(e.crc32)), data gives \(hex8(crc))): the record is corrupt")
            }
        }
        return result
    }
}

func hex8(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 8 - s.count) + s
}

/// Writes zip archives (stored or deflated records) the way numpy's `savez` does, in memory.
/// Records and archives past 4 GiB get ZIP64 fields, as Python's `zipfile` writes them.
public struct ZipWriter {
    private var out = Data()
    private var central = Data()
    private var count = 0
    private let compress: Bool

    public init(compress: Bool) { self.compress = compress }

    public mutating func add(name: String, bytes: UnsafeRawBufferPointer) throws {
        let crc = Zlib.crc32(bytes)
        let payload: [UInt8] = compress ? Zlib.deflate(bytes) : Array(bytes)
        let record = ZipRecord(name: name, method: compress ? 8 : 0, crc: crc, compressedSize: payload.count, size: bytes.count, offset: out.count)
        out.append(record.localHeader())
        out.append(contentsOf: payload)
        central.append(record.centralEntry())
        count += 1
    }

    public func finish() -> Data {
        var d = out
        d.append(central)
        d.append(ZipRecord.end(count: count, centralOffset: out.count, centralSize: central.count))
        return d
    }
}

/// The header fields of one zip record, and the records that close an archive; ZIP64 extra
/// fields are written where a size or offset does not fit in 32 bits (or always, with `zip64Limit`
/// lowered, which the tests use to exercise the ZIP64 layout on small files).
struct ZipRecord {
    var name: String
    var method: UInt16
    var crc: UInt32
    var compressedSize: Int
    var size: Int
    var offset: Int
    var zip64Limit = 0xFFFF_FFFF

    init(name: String, method: UInt16, crc: UInt32, compressedSize: Int, size: Int, offset: Int, zip64Limit: Int = 0xFFFF_FFFF) {
        (self.name, self.method, self.crc, self.compressedSize, self.size, self.offset, self.zip64Limit) = (name, method, crc, compressedSize, size, offset, zip64Limit)
    }

    // 2024-01-01 00:00:00 in DOS time, as the fixtures pin it: reproducible output.
    static let dosTime: UInt16 = 0
    static let dosDate = UInt16((2024 - 1980) << 9 | 1 << 5 | 1)

    var sizesNeedZip64: Bool { size >= zip64Limit || compressedSize >= zip64Limit }

    /// The local header; its length does not depend on `crc`, so a streaming writer can write it
    /// first and patch the CRC (at byte 14) once the data is written.
    func localHeader() -> Data {
        let nameBytes = Array(name.utf8)
        let z = sizesNeedZip64
        var h = Data()
        h.le32(0x0403_4B50); h.le16(z ? 45 : 20); h.le16(0); h.le16(method); h.le16(Self.dosTime); h.le16(Self.dosDate)
        h.le32(crc)
        h.le32(z ? 0xFFFF_FFFF : UInt32(compressedSize)); h.le32(z ? 0xFFFF_FFFF : UInt32(size))
        h.le16(UInt16(nameBytes.count)); h.le16(z ? 20 : 0)
        h.append(contentsOf: nameBytes)
        if z { h.le16(1); h.le16(16); h.le64(UInt64(size)); h.le64(UInt64(compressedSize)) }
        return h
    }

    func centralEntry() -> Data {
        let nameBytes = Array(name.utf8)
        var extra = Data()
        if size >= zip64Limit { extra.le64(UInt64(size)) }
        if compressedSize >= zip64Limit { extra.le64(UInt64(compressedSize)) }
        if offset >= zip64Limit { extra.le64(UInt64(offset)) }
        let z = !extra.isEmpty
        var c = Data()
        c.le32(0x0201_4B50); c.le16(z ? 45 : 20); c.le16(z ? 45 : 20); c.le16(0); c.le16(method); c.le16(Self.dosTime); c.le16(Self.dosDate)
        c.le32(crc)
        c.le32(compressedSize >= zip64Limit ? 0xFFFF_FFFF : UInt32(compressedSize))
        c.le32(size >= zip64Limit ? 0xFFFF_FFFF : UInt32(size))
        c.le16(UInt16(nameBytes.count)); c.le16(z ? UInt16(4 + extra.count) : 0); c.le16(0); c.le16(0); c.le16(0); c.le32(0o600 << 16)
        c.le32(offset >= zip64Limit ? 0xFFFF_FFFF : UInt32(offset))
        c.append(contentsOf: nameBytes)
        if z { c.le16(1); c.le16(UInt16(extra.count)); c.append(extra) }
        return c
    }

    /// End of central directory, preceded by the ZIP64 end record and locator when a field overflows.
    static func end(count: Int, centralOffset: Int, centralSize: Int, zip64Limit: Int = 0xFFFF_FFFF) -> Data {
        var d = Data()
        let z = count >= 0xFFFF || centralOffset >= zip64Limit || centralSize >= zip64Limit
        if z {
            let recordAt = centralOffset + centralSize
            d.le32(0x0606_4B50); d.le64(44); d.le16(45); d.le16(45); d.le32(0); d.le32(0)
            d.le64(UInt64(count)); d.le64(UInt64(count)); d.le64(UInt64(centralSize)); d.le64(UInt64(centralOffset))
            d.le32(0x0706_4B50); d.le32(0); d.le64(UInt64(recordAt)); d.le32(1)
        }
        d.le32(0x0605_4B50); d.le16(0); d.le16(0)
        d.le16(z ? 0xFFFF : UInt16(count)); d.le16(z ? 0xFFFF : UInt16(count))
        d.le32(z ? 0xFFFF_FFFF : UInt32(centralSize)); d.le32(z ? 0xFFFF_FFFF : UInt32(centralOffset)); d.le16(0)
        return d
    }
}

extension Data {
    mutating func le16(_ v: UInt16) { Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) } }
    mutating func le32(_ v: UInt32) { Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) } }
    mutating func le64(_ v: UInt64) { Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) } }
}
