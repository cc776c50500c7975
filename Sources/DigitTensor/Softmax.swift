import Foundation

/// Softmax over the last dimension, max-subtracted, float32 exp with a Double sum
/// (reference: `torch.softmax(x, dim=-1)`).
///
/// - Parameter x: (…, D)
public func softmax(_ x: Tensor) -> Tensor {
    var out = x
    let d = x.dim(-1), rows = x.count / max(d, 1)
    out.withUnsafeMutableBufferPointer { buf in
        let p = buf.baseAddress!
        parallelFor(rows, grain: max(1, 4096 / max(d, 1))) { r in softmaxRow(p + r * d, count: d) }
    }
    return out
}

/// Log-softmax over the last dimension: `x - max - log(sum(exp(x - max)))`
/// (reference: `torch.log_softmax(x, dim=-1)`).
///
/// - Parameter x: (…, D)
public func logSoftmax(_ x: Tensor) -> Tensor {
    var out = x
    let d = x.dim(-1), rows = x.count / max(d, 1)
    out.withUnsafeMutableBufferPointer { buf in
        let p = buf.baseAddress!
        parallelFor(rows, grain: max(1, 4096 / max(d, 1))) { r in
            let row = p + r * d
            var m = -Float.infinity
            for i in 0..<d { m = max(m, row[i]) }
            var s = 0.0
            for i in 0..<d { s += Double(Foundation.exp(row[i] - m)) }
            let lse = Float(Foundation.log(s))
            for i in 0..<d { row[i] = row[i] - m - lse }
        }
    }
    return out
}

/// In-place softmax of one row (max-subtracted; a row of all `-inf` becomes NaN, as in torch).
@inlinable
public func softmaxRow(_ row: UnsafeMutablePointer<Float>, count d: Int) {
    var m = -Float.infinity
    for i in 0..<d { m = max(m, row[i]) }
    var s = 0.0
    for i in 0..<d {
        let e = Foundation.exp(row[i] - m)
        row[i] = e
        s += Double(e)
    }
    let inv = Float(1 / s)
    for i in 0..<d { row[i] *= inv }
}
