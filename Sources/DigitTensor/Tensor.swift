/// A dense, contiguous, row-major Float32 tensor with value semantics.
///
/// `Tensor` is deliberately simple: a shape and a `[Float]` buffer (copy-on-write through Swift's
/// `Array`). Layout conventions follow PyTorch: images inside networks are NCHW, token sequences
/// are (B, T, C). Ops that need a different layout say so in their documentation.
///
/// Shape mismatches in ops are programmer errors and trap with a message (`precondition`); input
/// from files is validated by the readers in `DigitCheckpoint`/`DigitImage`, which throw instead.
public struct Tensor: Sendable, Equatable {
    /// The extent of each dimension, outermost first.
    public private(set) var shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.product`.
    public var scalars: [Float]

    /// Creates a tensor from a shape and its row-major elements.
    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        precondition(
            shape.reduce(1, *) == scalars.count,
            "shape \(shape) needs \(shape.reduce(1, *)) elements, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    /// Creates a tensor filled with `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.init(shape: shape, scalars: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// Creates a zero-filled tensor.
    public init(zeros shape: [Int]) {
        self.init(repeating: 0, shape: shape)
    }

    /// Creates a tensor whose elements are written by `body` into uninitialized storage.
    ///
    /// `body` must initialize every element of the buffer it receives.
    public init(shape: [Int], unsafeUninitialized body: (inout UnsafeMutableBufferPointer<Float>) throws -> Void)
        rethrows
    {
        let n = shape.reduce(1, *)
        let scalars = try [Float](unsafeUninitializedCapacity: n) { buffer, count in
            try body(&buffer)
            count = n
        }
        self.init(shape: shape, scalars: scalars)
    }

    /// Number of elements.
    @inlinable public var count: Int { scalars.count }
    /// Number of dimensions.
    @inlinable public var rank: Int { shape.count }

    /// The size of dimension `axis` (negative axes count from the end).
    @inlinable public func dim(_ axis: Int) -> Int { shape[axis < 0 ? axis + shape.count : axis] }

    /// The same elements viewed with another shape; one dimension may be `-1` (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            s[i] = count / known
        }
        precondition(s.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        var t = self
        t.shape = s
        return t
    }

    /// Calls `body` with a pointer to the contiguous elements.
    @inlinable public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try scalars.withUnsafeBufferPointer(body)
    }

    /// Calls `body` with a mutable pointer to the contiguous elements.
    @inlinable public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer(body)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = scalars.prefix(6).map { String(format: "%.6g", $0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(head)\(count > 6 ? ", …" : "")])"
    }
}

extension Array where Element == Int {
    /// The product of the elements (1 for an empty array): the element count of a shape.
    @inlinable public var product: Int { reduce(1, *) }
}
