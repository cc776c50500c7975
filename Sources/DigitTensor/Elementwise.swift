import CKernels
import Foundation

// Element-wise ops: activations, broadcasting arithmetic, scalar arithmetic.
//
// Every op here is memory-bound, so each runs as one pass over contiguous storage split into
// large chunks over `Threads.count` threads (`parallelRanges`). No BLAS is called.

/// Runs `body(lo, hi)` over `0..<n` in at most ``Threads/count`` contiguous ranges of at least
/// `minChunk` elements (small inputs run inline on the calling thread).
@inlinable
public func parallelRanges(_ n: Int, minChunk: Int = 32_768, _ body: (Int, Int) -> Void) {
    if n <= 0 { return }
    let chunks = min(Threads.count, max(1, n / max(1, minChunk)))
    if chunks == 1 {
        body(0, n)
        return
    }
    parallelFor(chunks) { c in body(n * c / chunks, n * (c + 1) / chunks) }
}

extension Tensor {
    /// A tensor of the same shape with `f` applied to every element (parallel over chunks).
    @inlinable
    public func map(_ f: (Float) -> Float) -> Tensor {
        Tensor(shape: shape) { out in
            let o = out.baseAddress!
            withUnsafeBufferPointer { src in
                let s = src.baseAddress!
                parallelRanges(count) { lo, hi in
                    for i in lo..<hi { (o + i).initialize(to: f(s[i])) }
                }
            }
        }
    }

    /// Applies `f` to every element in place.
    @inlinable
    public mutating func apply(_ f: (Float) -> Float) {
        let n = count
        withUnsafeMutableBufferPointer { buf in
            let p = buf.baseAddress!
            parallelRanges(n) { lo, hi in
                for i in lo..<hi { p[i] = f(p[i]) }
            }
        }
    }
}

// MARK: - Activations

/// `max(x, 0)` (reference: `torch.nn.functional.relu`). Any layout.
public func relu(_ x: Tensor) -> Tensor { x.map { $0 > 0 ? $0 : 0 } }

/// `x * sigmoid(x)` (reference: `torch.nn.functional.silu`). Any layout.
public func silu(_ x: Tensor) -> Tensor { x.map { $0 / (1 + Foundation.exp(-$0)) } }

/// `1 / (1 + exp(-x))` (reference: `torch.sigmoid`). Any layout.
public func sigmoid(_ x: Tensor) -> Tensor { x.map { 1 / (1 + Foundation.exp(-$0)) } }

/// Hyperbolic tangent (reference: `torch.tanh`). Any layout.
public func tanh(_ x: Tensor) -> Tensor { x.map { Foundation.tanh($0) } }

/// Exact GELU `0.5 x (1 + erf(x / sqrt 2))` (reference: `torch.nn.functional.gelu`,
/// `approximate='none'`). Any layout.
public func gelu(_ x: Tensor) -> Tensor {
    x.map { v in 0.5 * v * (1 + Foundation.erf(v * 0.707_106_781_186_547_524_4)) }
}

/// Exact GELU in place, vectorised (CKernels `dbk_gelu_erf`: an erf of ~1.2 ulp instead of
/// Foundation's, AVX-512 when available), parallel over chunks. Same function as ``gelu(_:)`` to a
/// few float32 ulps; for the MLPs of transformer blocks, where GELU is a hot pass.
public func geluInPlace(_ x: inout Tensor) {
    let n = x.count
    x.withUnsafeMutableBufferPointer { buf in
        let p = buf.baseAddress!
        parallelRanges(n) { lo, hi in dbk_gelu_erf(p + lo, Int64(hi - lo)) }
    }
}

/// Tanh-approximated GELU `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`
/// (reference: `torch.nn.functional.gelu(x, approximate='tanh')`). Any layout.
public func geluTanh(_ x: Tensor) -> Tensor {
    x.map { v in
        let inner: Float = 0.797_884_560_802_865_355_9 * (v + 0.044715 * v * v * v)
        return 0.5 * v * (1 + Foundation.tanh(inner))
    }
}

// MARK: - Broadcasting arithmetic

/// The NumPy/PyTorch broadcast of two shapes (trailing dimensions aligned; 1 stretches).
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let r = max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        precondition(da == db || da == 1 || db == 1, "shapes \(a) and \(b) do not broadcast")
        out[i] = da == 1 ? db : da
    }
    return out
}

/// Element-wise `op(a, b)` with PyTorch broadcasting (reference: `torch.add`, `torch.mul`, …).
///
/// Dimensions are coalesced first, so the common cases — same shape, a trailing-dimension
/// operand like `(C)` against `(B, T, C)`, and a per-channel `(1, C, 1, 1)` against `(N, C, H, W)` —
/// run as a few long contiguous loops.
@inlinable
public func broadcast(_ a: Tensor, _ b: Tensor, _ op: (Float, Float) -> Float) -> Tensor {
    if a.shape == b.shape {
        return Tensor(shape: a.shape) { out in
            let o = out.baseAddress!
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    let x = pa.baseAddress!, y = pb.baseAddress!
                    parallelRanges(a.count) { lo, hi in
                        for i in lo..<hi { (o + i).initialize(to: op(x[i], y[i])) }
                    }
                }
            }
        }
    }
    let shape = broadcastShape(a.shape, b.shape)
    let plan = BroadcastPlan(shape: shape, a: a.shape, b: b.shape)
    return Tensor(shape: shape) { out in
        let o = out.baseAddress!
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                let x = pa.baseAddress!, y = pb.baseAddress!
                let inner = plan.dims.last!, sa = plan.stridesA.last!, sb = plan.stridesB.last!
                let rows = plan.dims.dropLast().reduce(1, *)
                parallelFor(rows, grain: max(1, 16_384 / max(inner, 1))) { r in
                    let (oa, ob) = plan.offsets(row: r)
                    let dst = o + r * inner
                    if sa == 1 && sb == 1 {
                        for i in 0..<inner { (dst + i).initialize(to: op(x[oa + i], y[ob + i])) }
                    } else if sa == 1 {
                        let v = y[ob]
                        for i in 0..<inner { (dst + i).initialize(to: op(x[oa + i], v)) }
                    } else if sb == 1 {
                        let v = x[oa]
                        for i in 0..<inner { (dst + i).initialize(to: op(v, y[ob + i])) }
                    } else {
                        for i in 0..<inner { (dst + i).initialize(to: op(x[oa + i * sa], y[ob + i * sb])) }
                    }
                }
            }
        }
    }
}

/// Coalesced dimensions and element strides (0 where broadcast) of two operands.
public struct BroadcastPlan: Sendable {
    public var dims: [Int]
    public var stridesA: [Int]
    public var stridesB: [Int]

    public init(shape: [Int], a: [Int], b: [Int]) {
        func strides(_ s: [Int]) -> [Int] {
            let padded = [Int](repeating: 1, count: shape.count - s.count) + s
            var st = [Int](repeating: 0, count: shape.count)
            var acc = 1
            for i in stride(from: shape.count - 1, through: 0, by: -1) {
                st[i] = padded[i] == 1 ? 0 : acc
                acc *= padded[i]
            }
            return st
        }
        let sa = strides(a), sb = strides(b)
        var d: [Int] = [], xa: [Int] = [], xb: [Int] = []
        for i in 0..<shape.count where shape[i] != 1 {
            // Merge with the previous dimension when both operands stay contiguous across it.
            if let last = d.last, xa.last! == sa[i] * shape[i] || (xa.last! == 0 && sa[i] == 0),
                xb.last! == sb[i] * shape[i] || (xb.last! == 0 && sb[i] == 0)
            {
                d[d.count - 1] = last * shape[i]
                xa[xa.count - 1] = sa[i]
                xb[xb.count - 1] = sb[i]
            } else {
                d.append(shape[i])
                xa.append(sa[i])
                xb.append(sb[i])
            }
        }
        if d.isEmpty { d = [1]; xa = [0]; xb = [0] }
        dims = d
        stridesA = xa
        stridesB = xb
    }

    /// Element offsets into a and b of the first element of row `r` (all but the last dimension).
    @inlinable
    public func offsets(row: Int) -> (Int, Int) {
        var r = row, oa = 0, ob = 0
        var i = dims.count - 2
        while i >= 0 {
            let idx = r % dims[i]
            r /= dims[i]
            oa += idx * stridesA[i]
            ob += idx * stridesB[i]
            i -= 1
        }
        return (oa, ob)
    }
}

extension Tensor {
    /// Element-wise sum with broadcasting (reference: `torch.add`).
    public static func + (a: Tensor, b: Tensor) -> Tensor { broadcast(a, b, +) }
    /// Element-wise difference with broadcasting (reference: `torch.sub`).
    public static func - (a: Tensor, b: Tensor) -> Tensor { broadcast(a, b, -) }
    /// Element-wise product with broadcasting (reference: `torch.mul`).
    public static func * (a: Tensor, b: Tensor) -> Tensor { broadcast(a, b, *) }
    /// Element-wise quotient with broadcasting (reference: `torch.div`).
    public static func / (a: Tensor, b: Tensor) -> Tensor { broadcast(a, b, /) }

    public static func + (a: Tensor, s: Float) -> Tensor { a.map { $0 + s } }
    public static func + (s: Float, a: Tensor) -> Tensor { a.map { s + $0 } }
    public static func - (a: Tensor, s: Float) -> Tensor { a.map { $0 - s } }
    public static func - (s: Float, a: Tensor) -> Tensor { a.map { s - $0 } }
    public static func * (a: Tensor, s: Float) -> Tensor { a.map { $0 * s } }
    public static func * (s: Float, a: Tensor) -> Tensor { a.map { s * $0 } }
    public static func / (a: Tensor, s: Float) -> Tensor { a.map { $0 / s } }
    public static prefix func - (a: Tensor) -> Tensor { a.map { -$0 } }

    public static func += (a: inout Tensor, b: Tensor) { a = a.shape == b.shape ? a.adding(b) : a + b }
    public static func *= (a: inout Tensor, s: Float) { a.apply { $0 * s } }

    /// `self + other` for equal shapes, reusing `self`'s storage when uniquely referenced.
    public func adding(_ other: Tensor) -> Tensor {
        precondition(shape == other.shape, "adding: \(shape) vs \(other.shape)")
        var out = self
        let n = count
        out.withUnsafeMutableBufferPointer { po in
            other.withUnsafeBufferPointer { pb in
                let o = po.baseAddress!, b = pb.baseAddress!
                parallelRanges(n) { lo, hi in
                    for i in lo..<hi { o[i] += b[i] }
                }
            }
        }
        return out
    }
}

// MARK: - Vectorised SiLU

/// `x * sigmoid(x)` in place, written `x / (1 + exp(-x))` as ``silu(_:)``, with a four-lane
/// polynomial exp (Cephes `expf`: range reduction by ln 2 in two parts, degree-5 minimax
/// polynomial, exponent by bit shift; within 2 ulp of libm's expf on |x| <= 88, where it
/// clamps). `SiluTests` bounds the difference to ``silu(_:)``.
public func siluInPlace(_ x: inout Tensor) {
    let n = x.count
    x.withUnsafeMutableBufferPointer { buf in
        let p = buf.baseAddress!
        parallelRanges(n) { lo, hi in siluInPlace(p + lo, count: hi - lo) }
    }
}

/// ``siluInPlace(_:)`` on `count` floats at `p` (each element's result is the same bits whatever
/// range it is processed in: the lanes are independent).
@inline(__always)
func siluInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 4 <= count {
        let raw = UnsafeMutableRawPointer(p + i)
        let v = raw.loadUnaligned(as: SIMD4<Float>.self)
        raw.storeBytes(of: v / (1 + expLanes(-v)), as: SIMD4<Float>.self)
        i += 4
    }
    while i < count {
        var v = SIMD4<Float>(repeating: 0)
        v[0] = p[i]
        p[i] = (v / (1 + expLanes(-v)))[0]
        i += 1
    }
}

/// `exp` of four floats (Cephes `expf` in SIMD; see ``siluInPlace(_:)``).
@inline(__always)
func expLanes(_ x: SIMD4<Float>) -> SIMD4<Float> {
    // Clamp to [-87.33654, 88.37626] as pointwiseMin then pointwiseMax (NaN → the upper bound), but
    // as compare + blend: the generic pointwise functions run Float.minimum/maximum lane by lane.
    let hi = SIMD4<Float>(repeating: 88.376_26), lo = SIMD4<Float>(repeating: -87.336_54)
    var x = x.replacing(with: hi, where: .!(x .<= hi))
    x = x.replacing(with: lo, where: x .< lo)
    // n = floor(x / ln 2 + 1/2) (truncation of a positive value), then x - n ln 2 with ln 2 = C1 + C2.
    let f = x * 1.442_695_04 + 128.5
    let fi = SIMD4<Int32>(Int32(f[0]), Int32(f[1]), Int32(f[2]), Int32(f[3])) &- 128
    let n = SIMD4<Float>(Float(fi[0]), Float(fi[1]), Float(fi[2]), Float(fi[3]))
    x = x - n * 0.693_359_375
    x = x - n * -2.121_944_4e-4
    let z = x * x
    var y = SIMD4<Float>(repeating: 1.987_569_15e-4)
    y = y * x + 1.398_199_95e-3
    y = y * x + 8.333_451_9e-3
    y = y * x + 4.166_579_59e-2
    y = y * x + 1.666_666_55e-1
    y = y * x + 5.000_000_12e-1
    y = y * z + x + 1
    // 2^n by the exponent bits.
    let e = (fi &+ 127) &<< 23
    return y * unsafeBitCast(e, to: SIMD4<Float>.self)
}
