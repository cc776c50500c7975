import DigitTensor

/// The result of comparing two arrays element by element, printed like llm.c's `check_tensor`.
public struct Comparison: CustomStringConvertible {
    public var count: Int
    public var maxAbsDiff: Double
    public var maxIndex: Int
    /// max |a-b| / max(|b|) over all elements.
    public var maxRelToScale: Double
    /// Normalised mean squared error: sum (a-b)^2 / sum b^2 (ggml's nmse).
    public var nmse: Double
    public var firstValues: [(Double, Double)]

    public var description: String {
        let head = firstValues.map { String(format: "%.6g/%.6g", $0.0, $0.1) }.joined(separator: " ")
        return "n=\(count) maxdiff=\(maxAbsDiff) at \(maxIndex) rel-to-scale=\(maxRelToScale) nmse=\(nmse) first(ours/ref): \(head)"
    }
}

/// Compares `actual` with `expected` (same count required).
public func compare<A: Collection, B: Collection>(_ actual: A, _ expected: B) -> Comparison
where A.Element: BinaryFloatingPoint, B.Element: BinaryFloatingPoint {
    let a = actual.map { Double($0) }
    let b = expected.map { Double($0) }
    precondition(a.count == b.count, "compare: \(a.count) vs \(b.count) elements")
    var maxd = 0.0, idx = 0, scale = 0.0, num = 0.0, den = 0.0
    for i in 0..<a.count {
        let d = abs(a[i] - b[i])
        if d > maxd || d.isNaN { maxd = d.isNaN ? .infinity : d; idx = i }
        scale = max(scale, abs(b[i]))
        num += (a[i] - b[i]) * (a[i] - b[i])
        den += b[i] * b[i]
    }
    return Comparison(
        count: a.count, maxAbsDiff: maxd, maxIndex: idx, maxRelToScale: scale > 0 ? maxd / scale : maxd,
        nmse: den > 0 ? num / den : num, firstValues: Array(zip(a.prefix(5), b.prefix(5))))
}

/// Deterministic pseudo-random floats in [lo, hi) for op tests (SplitMix64).
public struct TestRNG {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func uniform(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(Double(next() >> 11) * 0x1p-53)
    }
    public mutating func tensor(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor {
        Tensor(shape: shape, scalars: (0..<shape.product).map { _ in uniform(lo, hi) })
    }
    public mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
