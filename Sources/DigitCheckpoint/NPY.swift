import DigitTensor
import Foundation

/// An array read from (or to be written to) a NumPy `.npy` file, in C (row-major) order and
/// native (little-endian) byte order.
public struct NPYArray: Sendable, Equatable {
    public var dtype: DType
    public var shape: [Int]
    /// Raw little-endian element bytes in row-major order.
    public var data: [UInt8]

    public init(dtype: DType, shape: [Int], data: [UInt8]) {
        precondition(shape.product * dtype.size == data.count, "NPYArray: \(data.count) bytes for \(shape) \(dtype)")
        self.dtype = dtype
        self.shape = shape
        self.data = data
    }

    public init(_ tensor: Tensor) {
        self.init(float32: tensor.scalars, shape: tensor.shape)
    }

    public init(float32 values: [Float], shape: [Int]) {
        self.init(dtype: .float32, shape: shape, data: values.withUnsafeBytes { Array($0) })
    }

    public init(float64 values: [Double], shape: [Int]) {
        self.init(dtype: .float64, shape: shape, data: values.withUnsafeBytes { Array($0) })
    }

    public init(int64 values: [Int64], shape: [Int]) {
        self.init(dtype: .int64, shape: shape, data: values.withUnsafeBytes { Array($0) })
    }

    public var count: Int { shape.product }

    /// The elements converted to Double (exact for every supported dtype except int64 beyond 2^53).
    public func doubles() -> [Double] {
        data.withUnsafeBytes { raw -> [Double] in
            switch dtype {
            case .float64: return Array(raw.bindMemory(to: Double.self))
            case .float32: return raw.bindMemory(to: Float.self).map(Double.init)
            case .float16: return raw.bindMemory(to: UInt16.self).map { Double(halfToFloat($0)) }
            case .bfloat16: return raw.bindMemory(to: UInt16.self).map { Double(Float(bitPattern: UInt32($0) << 16)) }
            case .int64: return raw.bindMemory(to: Int64.self).map(Double.init)
            case .int32: return raw.bindMemory(to: Int32.self).map(Double.init)
            case .int16: return raw.bindMemory(to: Int16.self).map(Double.init)
            case .int8: return raw.bindMemory(to: Int8.self).map(Double.init)
            case .uint8, .bool: return raw.bindMemory(to: UInt8.self).map(Double.init)
            }
        }
    }

    /// The elements converted to Float32.
    public func floats() -> [Float] {
        if dtype == .float32 { return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } }
        return doubles().map(Float.init)
    }

    /// The elements converted to Int64 (floating-point values are truncated toward zero).
    public func int64s() -> [Int64] {
        switch dtype {
        case .int64: return data.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }
        default: return doubles().map { Int64($0) }
        }
    }

    /// The array as a Float32 ``Tensor``.
    public func tensor() -> Tensor { Tensor(shape: shape, scalars: floats()) }
}

/// IEEE binary16 to Float.
@inlinable
public func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = Int((h >> 10) & 0x1F)
    let mant = UInt32(h & 0x3FF)
    if exp == 0 {
        if mant == 0 { return Float(bitPattern: sign) }
        let v = Float(mant) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign != 0 ? -v : v
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (mant << 13))
}

/// Reader and writer for the NumPy `.npy` format (versions 1.0, 2.0 and 3.0).
public enum NPY {
    /// Reads a `.npy` file.
    public static func read(contentsOf url: URL) throws -> NPYArray {
        let b = try ByteBuffer.map(url)
        return try view(b, start: 0, count: b.count).array()
    }

    /// Parses the bytes of a `.npy` file; `path` names it in errors.
    public static func decode(_ bytes: Data, path: String) throws -> NPYArray {
        let b = ByteBuffer(copying: [UInt8](bytes), path: path)
        return try view(b, start: 0, count: b.count).array()
    }

    /// Parses the `.npy` file in `buffer[start..<start+count]` and returns a view of its data
    /// (not copied; Fortran order and big-endian data are handled by the view).
    public static func view(_ buffer: ByteBuffer, start: Int, count total: Int) throws -> RawView {
        let path = buffer.path
        func bad(_ offset: Int?, _ reason: String) -> CheckpointError {
            .malformed(path: path, offset: offset, reason: reason)
        }
        try buffer.check(start, total, ".npy data")
        let bytes = buffer.raw(start, total)
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard bytes.count >= 10, Array(bytes.prefix(6)) == magic else {
            throw bad(0, "not a .npy file (missing \\x93NUMPY magic)")
        }
        let major = bytes[6]
        let headerLen: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw bad(8, "truncated header length") }
            headerLen = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw CheckpointError.unsupported(path: path, reason: ".npy format version \(major)")
        }
        guard headerLen >= 0, headerStart + headerLen <= bytes.count else {
            throw bad(8, "header length \(headerLen) runs past the end of the file (\(bytes.count) bytes)")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[headerStart..<(headerStart + headerLen)])
        guard let header = String(bytes: headerBytes, encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw bad(headerStart, "header is not text")
        }
        let fields = try parseHeader(header, path: path, offset: headerStart)
        let (dtype, bigEndian) = try parseDescr(fields.descr, path: path)
        let count = try checkedProduct(fields.shape, path: path)
        let dataStart = headerStart + headerLen
        let (need, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, bytes.count - dataStart >= need else {
            throw bad(dataStart, "shape \(fields.shape) of \(fields.descr) needs \(need) data bytes, file has \(bytes.count - dataStart)")
        }
        guard bytes.count - dataStart == need else {
            throw bad(dataStart + need, "\(bytes.count - dataStart - need) unexpected bytes after the data of shape \(fields.shape)")
        }
        // Fortran order: the first axis varies fastest.
        let shape = fields.shape
        let stride = fields.fortranOrder ? RawView.fortranStrides(shape) : RawView.contiguousStrides(shape)
        return RawView(buffer: buffer, byteOffset: start + dataStart, dtype: dtype, shape: shape, stride: stride, bigEndian: bigEndian && dtype.size > 1)
    }

    /// Encodes an array as a version 1.0 `.npy` file (version 2.0 if the header needs it).
    public static func encode(_ array: NPYArray) -> Data {
        var out = header(dtype: array.dtype, shape: array.shape)
        out.append(contentsOf: array.data)
        return out
    }

    /// The magic, version and header of an `.npy` file holding `shape` of `dtype` (C order): the
    /// bytes before the data, e.g. to stream the data of a large array after it.
    public static func header(dtype: DType, shape: [Int]) -> Data {
        let descr: String
        switch dtype {
        case .float32: descr = "<f4"
        case .float64: descr = "<f8"
        case .float16: descr = "<f2"
        case .int64: descr = "<i8"
        case .int32: descr = "<i4"
        case .int16: descr = "<i2"
        case .int8: descr = "|i1"
        case .uint8: descr = "|u1"
        case .bool: descr = "|b1"
        case .bfloat16: descr = "<V2"  // NumPy has no bfloat16; written as raw 2-byte void
        }
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        var version: UInt8 = 1
        var prefix = 10
        if header.utf8.count + 11 > 65535 { version = 2; prefix = 12 }
        let total = ((prefix + header.utf8.count + 1 + 63) / 64) * 64
        header += String(repeating: " ", count: total - prefix - header.utf8.count - 1) + "\n"
        var out = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0])
        let len = header.utf8.count
        if version == 1 {
            out.append(contentsOf: [UInt8(len & 0xFF), UInt8(len >> 8)])
        } else {
            out.append(contentsOf: (0..<4).map { UInt8((len >> (8 * $0)) & 0xFF) })
        }
        out.append(contentsOf: Array(header.utf8))
        return out
    }

    /// Writes an array to `url` atomically (temporary file, then rename).
    public static func write(_ array: NPYArray, to url: URL) throws {
        try encode(array).write(to: url, options: .atomic)
    }

    // MARK: - Header parsing

    struct Header {
        var descr: String
        var fortranOrder: Bool
        var shape: [Int]
    }

    static func parseHeader(_ text: String, path: String, offset: Int) throws -> Header {
        func bad(_ reason: String) -> CheckpointError { .malformed(path: path, offset: offset, reason: reason) }
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard t.hasPrefix("{"), t.hasSuffix("}") else { throw bad("header is not a Python dict literal: \(t.prefix(80))") }
        func value(of key: String) -> Substring? {
            for q in ["'", "\""] {
                if let r = t.range(of: "\(q)\(key)\(q)") {
                    var rest = t[r.upperBound...].drop { $0 == " " }
                    guard rest.first == ":" else { return nil }
                    rest = rest.dropFirst().drop { $0 == " " }
                    return rest
                }
            }
            return nil
        }
        guard let d = value(of: "descr"), let q = d.first, q == "'" || q == "\"",
            let end = d.dropFirst().firstIndex(of: q)
        else {
            throw bad("no string 'descr' in header (object or structured arrays are not supported)")
        }
        let descr = String(d[d.index(after: d.startIndex)..<end])
        guard let f = value(of: "fortran_order") else { throw bad("no 'fortran_order' in header") }
        let fortran: Bool
        if f.hasPrefix("True") { fortran = true } else if f.hasPrefix("False") { fortran = false } else {
            throw bad("'fortran_order' is neither True nor False")
        }
        guard let s = value(of: "shape"), s.first == "(", let close = s.firstIndex(of: ")") else {
            throw bad("no tuple 'shape' in header")
        }
        var shape: [Int] = []
        for part in s[s.index(after: s.startIndex)..<close].split(separator: ",") {
            let p = part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "L", with: "")
            if p.isEmpty { continue }
            guard let n = Int(p), n >= 0 else { throw bad("bad dimension '\(p)' in shape") }
            shape.append(n)
        }
        return Header(descr: descr, fortranOrder: fortran, shape: shape)
    }

    static func parseDescr(_ descr: String, path: String) throws -> (DType, Bool) {
        guard descr.count >= 2 else { throw CheckpointError.unsupported(path: path, reason: "dtype '\(descr)'") }
        if descr.hasSuffix("O") {
            throw CheckpointError.unsupported(path: path, reason: "dtype '\(descr)' is an object array whose payload is a pickle; digit-bench refuses object arrays (as np.load(allow_pickle=False) does)")
        }
        var chars = Substring(descr)
        var big = false
        if let c = chars.first, "<>|=".contains(c) {
            big = c == ">"
            chars = chars.dropFirst()
        }
        let map: [String: DType] = [
            "f4": .float32, "f8": .float64, "f2": .float16, "i8": .int64, "i4": .int32, "i2": .int16,
            "i1": .int8, "u1": .uint8, "b1": .bool,
        ]
        guard let dt = map[String(chars)] else {
            throw CheckpointError.unsupported(path: path, reason: "dtype '\(descr)' (supported: f2 f4 f8 i1 i2 i4 i8 u1 b1)")
        }
        return (dt, big)
    }

    static func checkedProduct(_ shape: [Int], path: String) throws -> Int {
        var n = 1
        for d in shape {
            let (p, o) = n.multipliedReportingOverflow(by: d)
            guard !o, p < (1 << 40) else { throw CheckpointError.malformed(path: path, offset: nil, reason: "shape \(shape) is too large") }
            n = p
        }
        return n
    }
}
