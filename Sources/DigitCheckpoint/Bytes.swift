import CZlib
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Immutable bytes: a read-only memory map of a file, or a heap buffer (inflated zip records).
///
/// Everything that reads checkpoints works on `ByteBuffer` + offsets, so tensors are copied once,
/// from the page cache into their `Tensor`, and never through an intermediate `Data`.
public final class ByteBuffer: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let count: Int
    /// Names the source in errors.
    public let path: String
    private let release: () -> Void
    /// Whether the bytes are a file mapping (whose pages can be dropped after use).
    let isMapped: Bool

    init(base: UnsafeRawPointer, count: Int, path: String, isMapped: Bool = false, release: @escaping () -> Void) {
        self.base = base
        self.count = count
        self.path = path
        self.isMapped = isMapped
        self.release = release
    }

    /// Tells the kernel this process is done with the mapped pages of a range, so they leave
    /// its resident set (they stay in the page cache and fault back in if read again). Keeps
    /// peak memory near the size of the loaded tensors instead of tensors + file.
    func dropPages(_ offset: Int, _ n: Int) {
        guard isMapped, n >= 1 << 20 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (offset + page - 1) / page * page
        let end = (offset + n) / page * page
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    deinit { release() }

    /// Maps `url` read-only. Empty files get an empty heap buffer (mmap refuses length 0).
    public static func map(_ url: URL) throws -> ByteBuffer {
        let path = url.path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw CheckpointError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw CheckpointError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw CheckpointError.unreadable(path: path, reason: "not a regular file")
        }
        let size = Int(st.st_size)
        if size == 0 { return ByteBuffer(copying: [], path: path) }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw CheckpointError.unreadable(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        return ByteBuffer(base: UnsafeRawPointer(p), count: size, path: path, isMapped: true) { munmap(p, size) }
    }

    /// A heap copy of `bytes`.
    public convenience init(copying bytes: [UInt8], path: String) {
        let n = bytes.count
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(n, 1), alignment: 64)
        bytes.withUnsafeBytes { if n > 0 { p.copyMemory(from: $0.baseAddress!, byteCount: n) } }
        self.init(base: UnsafeRawPointer(p), count: n, path: path) { p.deallocate() }
    }

    /// Takes ownership of a buffer allocated with `UnsafeMutableRawPointer.allocate(..., alignment: 64)`.
    convenience init(owning p: UnsafeMutableRawPointer, count: Int, path: String) {
        self.init(base: UnsafeRawPointer(p), count: count, path: path) { p.deallocate() }
    }

    /// The bytes `range` (checked by the caller) as a raw buffer.
    @inlinable func raw(_ offset: Int, _ n: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + offset, count: n)
    }

    /// Copies `n` bytes at `offset`, or throws if they are not all inside the buffer.
    func bytes(at offset: Int, count n: Int, what: String) throws -> [UInt8] {
        try check(offset, n, what)
        return Array(raw(offset, n))
    }

    /// Throws a ``CheckpointError/malformed(path:offset:reason:)`` unless `offset..<offset+n` is inside.
    func check(_ offset: Int, _ n: Int, _ what: String) throws {
        guard offset >= 0, n >= 0, offset <= count, n <= count - offset else {
            throw CheckpointError.malformed(
                path: path, offset: offset,
                reason: "\(what) needs \(n) bytes at offset \(offset), but the file ends at \(count)")
        }
    }

    /// A `Data` view of a range that does not copy; valid while `self` is alive, which the
    /// returned value guarantees by retaining it.
    func data(_ offset: Int, _ n: Int) -> Data {
        if n == 0 { return Data() }
        let keep = Unmanaged.passRetained(self)
        return Data(
            bytesNoCopy: UnsafeMutableRawPointer(mutating: base + offset), count: n,
            deallocator: .custom { _, _ in keep.release() })
    }
}

/// A bounds-checked little-endian reader over a range of a ``ByteBuffer``.
struct ByteCursor {
    let buffer: ByteBuffer
    var position: Int
    let end: Int

    init(_ buffer: ByteBuffer, from start: Int = 0, end: Int? = nil) {
        self.buffer = buffer
        self.position = start
        self.end = min(end ?? buffer.count, buffer.count)
    }

    var remaining: Int { end - position }

    func eof(_ n: Int, _ what: String) -> CheckpointError {
        .malformed(
            path: buffer.path, offset: position,
            reason: "unexpected end of data reading \(what): needs \(n) bytes, \(max(remaining, 0)) left")
    }

    mutating func need(_ n: Int, _ what: String) throws {
        guard n >= 0, n <= remaining else { throw eof(n, what) }
    }

    mutating func u8(_ what: String = "a byte") throws -> UInt8 {
        try need(1, what)
        defer { position += 1 }
        return buffer.base.load(fromByteOffset: position, as: UInt8.self)
    }

    mutating func uint(_ n: Int, _ what: String) throws -> UInt64 {
        try need(n, what)
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(buffer.base.load(fromByteOffset: position + i, as: UInt8.self)) << (8 * UInt64(i)) }
        position += n
        return v
    }

    mutating func u16(_ what: String) throws -> Int { Int(try uint(2, what)) }
    mutating func u32(_ what: String) throws -> Int { Int(try uint(4, what)) }
    mutating func u64(_ what: String) throws -> UInt64 { try uint(8, what) }

    mutating func bytes(_ n: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        try need(n, what)
        defer { position += n }
        return buffer.raw(position, n)
    }

    /// Bytes up to (not including) the next `\n`, which is consumed.
    mutating func line(_ what: String) throws -> UnsafeRawBufferPointer {
        var i = position
        while i < end {
            if buffer.base.load(fromByteOffset: i, as: UInt8.self) == 0x0A {
                let r = buffer.raw(position, i - position)
                position = i + 1
                return r
            }
            i += 1
        }
        throw CheckpointError.malformed(path: buffer.path, offset: position, reason: "unterminated line reading \(what)")
    }
}

/// zlib helpers: CRC-32 and raw deflate/inflate (zip method 8).
enum Zlib {
    static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: uLong = CZlib.crc32(0, nil, 0)
        var p = bytes.baseAddress?.assumingMemoryBound(to: Bytef.self)
        var left = bytes.count
        while left > 0, let q = p {
            let n = min(left, 1 << 30)
            crc = CZlib.crc32(crc, q, uInt(n))
            p = q + n
            left -= n
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// Inflates a raw deflate stream that must produce exactly `expected` bytes.
    static func inflate(_ input: UnsafeRawBufferPointer, expected: Int, path: String, what: String, offset: Int) throws -> ByteBuffer {
        func bad(_ reason: String) -> CheckpointError { .malformed(path: path, offset: offset, reason: "\(what): \(reason)") }
        let out = UnsafeMutableRawPointer.allocate(byteCount: max(expected, 1), alignment: 64)
        var ok = false
        defer { if !ok { out.deallocate() } }
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw bad("zlib inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var inPos = 0
        var outPos = 0
        var scratch = [UInt8](repeating: 0, count: 1)
        while true {
            let inChunk = min(input.count - inPos, 1 << 30)
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress.map { $0.assumingMemoryBound(to: Bytef.self) + inPos })
            stream.avail_in = uInt(inChunk)
            let outRoom = expected - outPos
            var rc: Int32
            if outRoom > 0 {
                let chunk = min(outRoom, 1 << 30)
                stream.next_out = (out + outPos).assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(chunk)
                rc = CZlib.inflate(&stream, Z_NO_FLUSH)
                outPos += chunk - Int(stream.avail_out)
            } else {
                // All expected bytes are out: the stream must end now, without producing more.
                rc = scratch.withUnsafeMutableBufferPointer { b -> Int32 in
                    stream.next_out = b.baseAddress
                    stream.avail_out = 1
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                if stream.avail_out == 0 { throw bad("inflates to more than the \(expected) bytes its header declares") }
            }
            inPos += inChunk - Int(stream.avail_in)
            if rc == Z_STREAM_END { break }
            if rc == Z_BUF_ERROR && stream.avail_in == 0 && inPos >= input.count {
                throw bad("deflate stream is truncated (\(outPos) of \(expected) bytes)")
            }
            guard rc == Z_OK || rc == Z_BUF_ERROR else {
                let msg = stream.msg.map { String(cString: $0) } ?? "code \(rc)"
                throw bad("corrupt deflate stream (\(msg))")
            }
        }
        guard outPos == expected else { throw bad("inflates to \(outPos) bytes, header declares \(expected)") }
        ok = true
        return ByteBuffer(owning: out, count: expected, path: path)
    }

    /// Raw deflate (zip method 8) of `input` at the default level.
    static func deflate(_ input: UnsafeRawBufferPointer) -> [UInt8] {
        var stream = z_stream()
        precondition(deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK)
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(input.count))) + 64
        var out = [UInt8](repeating: 0, count: bound)
        out.withUnsafeMutableBufferPointer { o in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = o.baseAddress
            stream.avail_out = uInt(bound)
            let rc = CZlib.deflate(&stream, Z_FINISH)
            precondition(rc == Z_STREAM_END, "deflate: \(rc)")
        }
        out.removeLast(bound - Int(stream.total_out))
        return out
    }
}
