import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// safetensors: an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {…}}`, then the data.
public enum SafeTensors {
    static let codes: [String: DType] = [
        "F32": .float32, "F16": .float16, "BF16": .bfloat16, "F64": .float64, "I64": .int64, "I32": .int32,
        "I16": .int16, "I8": .int8, "U8": .uint8, "BOOL": .bool,
    ]

    static func code(_ d: DType) -> String { codes.first { $0.value == d }!.key }

    /// Reads a safetensors file; tensors are lazy views of the mapped file, in data order.
    public static func read(_ buffer: ByteBuffer) throws -> (tensors: [(String, StoredTensor)], metadata: [(String, String)]) {
        let path = buffer.path
        func bad(_ o: Int?, _ r: String) -> CheckpointError { .malformed(path: path, offset: o, reason: r) }
        var c = ByteCursor(buffer)
        let n = try c.u64("safetensors header length")
        guard n <= 100_000_000, n <= UInt64(c.remaining) else {
            throw bad(0, "header length \(n) is larger than the file (\(buffer.count) bytes) or 100 MB")
        }
        let header: JSONValue
        do { header = try JSONValue.parse(buffer.raw(8, Int(n)), maxDepth: 8) } catch let e as JSONValue.ParseError {
            throw bad(8 + e.offset, "header is not valid JSON: \(e.reason)")
        }
        guard case let .object(fields) = header else { throw bad(8, "header is not a JSON object") }
        let dataStart = 8 + Int(n)
        let dataLen = buffer.count - dataStart
        var tensors: [(String, StoredTensor, Int, Int)] = []
        var metadata: [(String, String)] = []
        var names = Set<String>()
        for (name, v) in fields {
            if name == "__metadata__" {
                guard case let .object(m) = v else { throw bad(8, "__metadata__ is not an object") }
                for (k, x) in m {
                    guard let s = x.string else { throw bad(8, "__metadata__['\(k)'] is not a string") }
                    metadata.append((k, s))
                }
                continue
            }
            guard names.insert(name).inserted else { throw bad(8, "tensor '\(name)' appears twice in the header") }
            guard let code = v["dtype"]?.string else { throw bad(8, "tensor '\(name)' has no dtype") }
            guard let dtype = codes[code] else {
                throw CheckpointError.unsupported(path: path, reason: "tensor '\(name)' has dtype \(code) (supported: \(codes.keys.sorted().joined(separator: " ")))")
            }
            guard let dims = v["shape"]?.array, let offs = v["data_offsets"]?.array, offs.count == 2,
                let b = offs[0].int, let e = offs[1].int
            else { throw bad(8, "tensor '\(name)' needs a shape list and two data_offsets") }
            var shape: [Int] = []
            for d in dims {
                guard let x = d.int, x >= 0, x < (1 << 42) else { throw bad(8, "tensor '\(name)' has a bad dimension in its shape") }
                shape.append(Int(x))
            }
            guard let count = checkedCount(shape) else { throw bad(8, "tensor '\(name)' shape \(shape) is too large") }
            guard b >= 0, e >= b, e <= Int64(dataLen) else {
                throw bad(8, "tensor '\(name)' data_offsets [\(b), \(e)] are outside the \(dataLen) data bytes")
            }
            guard Int(e - b) == count * dtype.size else {
                throw bad(8, "tensor '\(name)': data_offsets [\(b), \(e)] hold \(e - b) bytes, shape \(shape) of \(code) needs \(count * dtype.size)")
            }
            let start = dataStart + Int(b)
            let finalShape = shape
            let layout = TensorLayout(stride: RawView.contiguousStrides(shape), storageOffset: 0, storageNumel: count, storageID: name)
            let t = StoredTensor(layout: layout, dtype: dtype, shape: shape) {
                RawView(buffer: buffer, byteOffset: start, dtype: dtype, shape: finalShape)
            }
            tensors.append((name, t, Int(b), Int(e)))
        }
        tensors.sort { $0.2 < $1.2 || ($0.2 == $1.2 && $0.3 < $1.3) }
        for i in tensors.indices.dropFirst() where tensors[i].2 < tensors[i - 1].3 {
            throw bad(8, "tensors '\(tensors[i - 1].0)' and '\(tensors[i].0)' overlap")
        }
        return (tensors.map { ($0.0, $0.1) }, metadata)
    }

    static func checkedCount(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            let (p, o) = n.multipliedReportingOverflow(by: d)
            if o || p >= (1 << 42) { return nil }
            n = p
        }
        return n
    }

    /// Writes `tensors` (in the given order) with optional string metadata, atomically.
    /// Each tensor's bytes are streamed from its source (mapped files are not copied whole).
    public static func write(_ tensors: [(String, StoredTensor)], metadata: [(String, String)] = [], to url: URL) throws {
        var fields: [(String, JSONValue)] = []
        if !metadata.isEmpty { fields.append(("__metadata__", .object(metadata.map { ($0.0, .string($0.1)) }))) }
        var offset: Int64 = 0
        for (name, t) in tensors {
            let n = Int64(t.count * t.dtype.size)
            fields.append((name, .object([
                ("dtype", .string(code(t.dtype))), ("shape", .array(t.shape.map { .int(Int64($0)) })),
                ("data_offsets", .array([.int(offset), .int(offset + n)])),
            ])))
            offset += n
        }
        var header = Array(JSONValue.object(fields).text().utf8)
        while (header.count + 8) % 8 != 0 { header.append(0x20) }
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: tmp.path, contents: nil), let h = FileHandle(forWritingAtPath: tmp.path) else {
            throw CheckpointError.unreadable(path: tmp.path, reason: "cannot create file")
        }
        do {
            var prefix = Data()
            prefix.le64(UInt64(header.count))
            prefix.append(contentsOf: header)
            try h.write(contentsOf: prefix)
            for (name, t) in tensors {
                var written = 0
                try t.contiguousBytes { raw in
                    written = raw.count
                    if raw.count > 0 { try h.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: raw.baseAddress!), count: raw.count, deallocator: .none)) }
                }
                guard written == t.count * t.dtype.size else {
                    throw CheckpointError.malformed(path: url.path, offset: nil, reason: "tensor '\(name)' produced \(written) bytes, expected \(t.count * t.dtype.size)")
                }
            }
            try h.close()
            guard rename(tmp.path, url.path) == 0 else {
                throw CheckpointError.unreadable(path: url.path, reason: "cannot move the written file into place: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? h.close()
            try? FileManager.default.removeItem(at: tmp)
            throw error
        }
    }
}
