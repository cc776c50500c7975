// Reductions. Sums are accumulated in Double: the result is the exact sum up to Double
// rounding, so it matches torch's pairwise float32 reductions to float32 rounding and is the
// right thing for statistics (FID moments, PSNR, codebook counts).

extension Tensor {
    /// The elements converted to Double.
    public var doubles: [Double] { scalars.map(Double.init) }

    /// Sum of all elements, accumulated in Double (reference: `x.double().sum()`).
    public func sum64() -> Double {
        withUnsafeBufferPointer { p in
            var s = 0.0
            for v in p { s += Double(v) }
            return s
        }
    }

    /// Mean of all elements in Double (reference: `x.double().mean()`).
    public func mean64() -> Double { count == 0 ? .nan : sum64() / Double(count) }

    /// Variance of all elements in Double, two-pass; `unbiased` divides by `n - 1`
    /// (reference: `x.double().var(unbiased=…)`).
    public func variance64(unbiased: Bool = false) -> Double {
        let n = count
        if n == 0 || (unbiased && n == 1) { return .nan }
        let (_, v) = withUnsafeBufferPointer { meanVariance($0.baseAddress!, count: n) }
        return unbiased ? v * Double(n) / Double(n - 1) : v
    }

    /// Mean along `axis`, removing it (`keepDims` keeps it as 1), accumulated in Double and
    /// rounded once (reference: `torch.mean(x, dim=axis)`).
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor {
        let ax = axis < 0 ? axis + rank : axis
        let outer = shape[..<ax].reduce(1, *), len = shape[ax], inner = shape[(ax + 1)...].reduce(1, *)
        var outShape = shape
        if keepDims { outShape[ax] = 1 } else { outShape.remove(at: ax) }
        return Tensor(shape: outShape) { out in
            let o = out.baseAddress!
            withUnsafeBufferPointer { px in
                let s = px.baseAddress!
                parallelFor(outer, grain: max(1, 16_384 / max(len * inner, 1))) { i in
                    var acc = [Double](repeating: 0, count: inner)
                    for r in 0..<len {
                        let row = s + (i * len + r) * inner
                        for j in 0..<inner { acc[j] += Double(row[j]) }
                    }
                    for j in 0..<inner { (o + i * inner + j).initialize(to: Float(acc[j] / Double(len))) }
                }
            }
        }
    }

    /// Index of the largest element of each row of the last dimension (first on ties, NaN wins;
    /// reference: `torch.argmax(x, dim=-1)`).
    public func argmaxLastDim() -> [Int] {
        let d = dim(-1), rows = count / max(d, 1)
        return withUnsafeBufferPointer { p in
            (0..<rows).map { r in
                var best = 0
                var m = p[r * d]
                for j in 1..<max(d, 1) where p[r * d + j] > m || (p[r * d + j].isNaN && !m.isNaN) {
                    m = p[r * d + j]
                    best = j
                }
                return best
            }
        }
    }
}
