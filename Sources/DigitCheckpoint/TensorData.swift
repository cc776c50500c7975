import DigitTensor
import Foundation

/// Where a stored tensor's elements live: a strided view of a storage (torch), or a contiguous
/// block (safetensors, npy). Element `i` of the storage starts at `byteOffset + i * dtype.size`.
public struct RawView: Sendable {
    public var buffer: ByteBuffer
    public var byteOffset: Int
    public var dtype: DType
    public var shape: [Int]
    /// Strides in elements.
    public var stride: [Int]
    /// Offset of the first element, in elements.
    public var offset: Int
    /// Elements are stored big-endian.
    public var bigEndian = false

    public init(buffer: ByteBuffer, byteOffset: Int, dtype: DType, shape: [Int], stride: [Int]? = nil, offset: Int = 0, bigEndian: Bool = false) {
        self.buffer = buffer
        self.byteOffset = byteOffset
        self.dtype = dtype
        self.shape = shape
        self.stride = stride ?? RawView.contiguousStrides(shape)
        self.offset = offset
        self.bigEndian = bigEndian
    }

    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in Swift.stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc = acc &* max(shape[i], 1)
        }
        return s
    }

    public var count: Int { shape.reduce(1, *) }

    /// Row-major contiguous (size-1 and empty dimensions ignored, as torch does).
    public var isContiguous: Bool { RawView.isContiguous(shape: shape, stride: stride) }

    /// torch's `is_contiguous()`: strides are row-major, ignoring size-1 dimensions; empty is contiguous.
    public static func isContiguous(shape: [Int], stride: [Int]) -> Bool {
        if shape.contains(0) { return true }
        var expected = 1
        for i in Swift.stride(from: shape.count - 1, through: 0, by: -1) where shape[i] != 1 {
            if stride[i] != expected { return false }
            expected *= shape[i]
        }
        return true
    }

    /// Column-major (Fortran) strides: the first axis varies fastest.
    public static func fortranStrides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in 0..<shape.count {
            s[i] = acc
            acc = acc &* max(shape[i], 1)
        }
        return s
    }

    /// Checks shape/stride/offset against a storage of `numel` elements; returns nil if valid.
    static func problem(shape: [Int], stride: [Int], offset: Int, numel: Int) -> String? {
        guard shape.count == stride.count else { return "shape \(shape) and stride \(stride) differ in rank" }
        guard shape.count <= 64 else { return "rank \(shape.count) is too large" }
        guard offset >= 0 else { return "negative storage offset \(offset)" }
        var n = 1
        var last = offset
        for (d, s) in zip(shape, stride) {
            guard d >= 0 else { return "negative dimension in shape \(shape)" }
            guard s >= 0 else { return "negative stride in \(stride)" }
            let (p, o) = n.multipliedReportingOverflow(by: d)
            guard !o, p < (1 << 42) else { return "shape \(shape) is too large" }
            n = p
            if d > 0 {
                let (e, o2) = (d - 1).multipliedReportingOverflow(by: s)
                let (l, o3) = last.addingReportingOverflow(e)
                guard !o2, !o3 else { return "stride \(stride) overflows" }
                last = l
            }
        }
        if n > 0 && last >= numel {
            return "shape \(shape), stride \(stride) and offset \(offset) reach element \(last) of a storage of \(numel) elements"
        }
        return nil
    }

    /// Calls `body` with the elements in row-major order, little-endian: the mapped bytes
    /// themselves when the view is contiguous, else a gathered copy.
    public func withContiguousBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let es = dtype.size
        let n = count
        if isContiguous && !bigEndian {
            let start = byteOffset + offset * es
            defer { buffer.dropPages(start, n * es) }
            return try body(buffer.raw(start, n * es))
        }
        let out = UnsafeMutableRawPointer.allocate(byteCount: max(n * es, 1), alignment: 64)
        defer { out.deallocate() }
        gather(into: out)
        return try body(UnsafeRawBufferPointer(start: out, count: n * es))
    }

    /// Copies the elements in row-major order (byte-swapping big-endian data) into `out`.
    func gather(into out: UnsafeMutableRawPointer) {
        let es = dtype.size
        let n = count
        if n == 0 { return }
        let src = buffer.base + byteOffset
        let rank = shape.count
        if rank == 0 {
            copyElement(src + offset * es, out, es)
            return
        }
        let inner = shape[rank - 1], innerStride = stride[rank - 1]
        var idx = [Int](repeating: 0, count: rank)
        var o = 0
        var base = offset
        while o < n {
            var e = base
            for _ in 0..<inner {
                copyElement(src + e * es, out + o * es, es)
                e += innerStride
                o += 1
            }
            // advance the outer index
            var a = rank - 2
            while a >= 0 {
                idx[a] += 1
                base += stride[a]
                if idx[a] < shape[a] { break }
                base -= stride[a] * shape[a]
                idx[a] = 0
                a -= 1
            }
            if a < 0 { break }
        }
    }

    @inline(__always)
    private func copyElement(_ from: UnsafeRawPointer, _ to: UnsafeMutableRawPointer, _ es: Int) {
        if bigEndian {
            for b in 0..<es { to.storeBytes(of: from.load(fromByteOffset: es - 1 - b, as: UInt8.self), toByteOffset: b, as: UInt8.self) }
        } else {
            switch es {
            case 4: to.storeBytes(of: from.loadUnaligned(as: UInt32.self), as: UInt32.self)
            case 2: to.storeBytes(of: from.loadUnaligned(as: UInt16.self), as: UInt16.self)
            case 8: to.storeBytes(of: from.loadUnaligned(as: UInt64.self), as: UInt64.self)
            default: to.copyMemory(from: from, byteCount: es)
            }
        }
    }

    /// The elements as an ``NPYArray`` (own dtype, row-major, little-endian).
    public func array() -> NPYArray {
        withContiguousBytes { NPYArray(dtype: dtype, shape: shape, data: Array($0)) }
    }

    /// The elements converted to Float32: one copy from the mapped file for contiguous float32.
    public func tensor() -> Tensor {
        withContiguousBytes { raw in
            Tensor(shape: shape) { out in
                convertToFloat(dtype, raw, out)
            }
        }
    }
}

/// Converts `raw` elements of `dtype` (little-endian, possibly unaligned) to Float32.
func convertToFloat(_ dtype: DType, _ raw: UnsafeRawBufferPointer, _ out: UnsafeMutableBufferPointer<Float>) {
    let n = out.count
    guard n > 0, let src = raw.baseAddress, let dst = out.baseAddress else { return }
    switch dtype {
    case .float32: UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n * 4)
    case .float16: for i in 0..<n { dst[i] = halfToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
    case .bfloat16: for i in 0..<n { dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
    case .float64: for i in 0..<n { dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
    case .int64: for i in 0..<n { dst[i] = Float(src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
    case .int32: for i in 0..<n { dst[i] = Float(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
    case .int16: for i in 0..<n { dst[i] = Float(src.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) }
    case .int8: for i in 0..<n { dst[i] = Float(src.load(fromByteOffset: i, as: Int8.self)) }
    case .uint8: for i in 0..<n { dst[i] = Float(src.load(fromByteOffset: i, as: UInt8.self)) }
    case .bool: for i in 0..<n { dst[i] = src.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
    }
}

/// How a stored tensor sits in its file (for `inspect` and storage-sharing checks).
public struct TensorLayout: Sendable, Equatable {
    public var stride: [Int]
    public var storageOffset: Int
    public var storageNumel: Int
    /// Identifies the storage within its file (torch storage key, or the tensor name).
    public var storageID: String
}

extension StoredTensor {
    /// A stored tensor read from `view` on demand; `resolve` supplies the view (and may verify
    /// checksums or throw for a damaged record) each time.
    init(layout: TensorLayout?, dtype: DType, shape: [Int], resolve: @escaping @Sendable () throws -> RawView) {
        self.init(dtype: dtype, shape: shape, load: { try resolve().tensor() })
        self.raw = { try resolve().array() }
        self.layout = layout
        self.contiguousBytes = { body in try resolve().withContiguousBytes(body) }
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
}
