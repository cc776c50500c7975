import CKernels
import Foundation

// Normalisation ops. Statistics are accumulated in Double (exact enough that the only error left
// is the final float32 rounding), then applied in float32.

/// Per-channel `y = x * scale[c] + shift[c]` over (N, C, …) (`…` flattened).
public func channelAffine(_ x: Tensor, scale: [Float], shift: [Float]) -> Tensor {
    precondition(x.rank >= 2 && x.shape[1] == scale.count && scale.count == shift.count,
                 "channelAffine: x \(x.shape) with \(scale.count) scales")
    let c = x.shape[1], inner = x.count / max(1, x.shape[0] * c)
    return Tensor(shape: x.shape) { out in
        let o = out.baseAddress!
        x.withUnsafeBufferPointer { px in
            let s = px.baseAddress!
            parallelFor(x.shape[0] * c, grain: max(1, 8192 / max(inner, 1))) { t in
                let a = scale[t % c], b = shift[t % c]
                let base = t * inner
                for i in base..<(base + inner) { (o + i).initialize(to: s[i] * a + b) }
            }
        }
    }
}

/// Batch normalisation with running statistics (reference: `torch.nn.functional.batch_norm`,
/// `training=False`), folded into a per-channel scale `w / sqrt(var + eps)` and shift
/// `b - mean * scale` computed in Double.
///
/// - Parameters:
///   - x: (N, C, …)
///   - mean, variance: running statistics (C)
///   - weight, bias: affine parameters (C) or nil (1 and 0)
public func batchNorm(
    _ x: Tensor, mean: Tensor, variance: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5
) -> Tensor {
    let (scale, shift) = batchNormScaleShift(mean: mean, variance: variance, weight: weight, bias: bias, eps: eps)
    return channelAffine(x, scale: scale, shift: shift)
}

/// Alias of ``batchNorm(_:mean:variance:weight:bias:eps:)`` for NCHW inputs.
public func batchNorm2dEval(
    _ x: Tensor, mean: Tensor, variance: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5
) -> Tensor {
    batchNorm(x, mean: mean, variance: variance, weight: weight, bias: bias, eps: eps)
}

/// The folded per-channel `(scale, shift)` of eval-mode batch norm, computed in Double.
public func batchNormScaleShift(
    mean: Tensor, variance: Tensor, weight: Tensor?, bias: Tensor?, eps: Float
) -> (scale: [Float], shift: [Float]) {
    let c = mean.count
    precondition(variance.count == c && (weight?.count ?? c) == c && (bias?.count ?? c) == c, "batchNorm: parameter sizes")
    var scale = [Float](repeating: 0, count: c), shift = [Float](repeating: 0, count: c)
    for i in 0..<c {
        let w = Double(weight?.scalars[i] ?? 1), b = Double(bias?.scalars[i] ?? 0)
        let s = w / (Double(variance.scalars[i]) + Double(eps)).squareRoot()
        scale[i] = Float(s)
        shift[i] = Float(b - Double(mean.scalars[i]) * s)
    }
    return (scale, shift)
}

/// Layer normalisation over the last dimension (reference: `torch.nn.functional.layer_norm` with
/// `normalized_shape = (x.shape[-1],)`; biased variance). Mean and variance in Double.
///
/// - Parameters:
///   - x: (…, D)
///   - weight, bias: (D) or nil
public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
    let d = x.dim(-1), rows = x.count / max(d, 1)
    precondition((weight?.count ?? d) == d && (bias?.count ?? d) == d, "layerNorm: x \(x.shape), weight/bias sizes")
    return normalizing(x, weight: weight, bias: bias) { s, o, pw, pb in
        parallelFor(rows, grain: max(1, 4096 / max(d, 1))) { r in
            let row = s + r * d, dst = o + r * d
            let (mean, variance) = meanVariance(row, count: d)
            let inv = Float(1 / (variance + Double(eps)).squareRoot()), m = Float(mean)
            for i in 0..<d {
                var v = (row[i] - m) * inv
                if let pw { v *= pw[i] }
                if let pb { v += pb[i] }
                (dst + i).initialize(to: v)
            }
        }
    }
}

/// ``layerNorm(_:weight:bias:eps:)`` with float32 statistics in 16 vector lanes (CKernels
/// `dbk_layer_norm_rows`, AVX-512 when available): within ~1e-6 relative of the Double version and
/// several times faster; for transformer blocks, where LayerNorm is a hot pass.
///
/// - Parameters:
///   - x: (…, D)
///   - weight, bias: (D) or nil
public func layerNormVectorized(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
    let d = x.dim(-1), rows = x.count / max(d, 1)
    precondition((weight?.count ?? d) == d && (bias?.count ?? d) == d, "layerNorm: x \(x.shape), weight/bias sizes")
    return normalizing(x, weight: weight, bias: bias) { s, o, pw, pb in
        parallelRanges(rows, minChunk: max(1, 16384 / max(d, 1))) { lo, hi in
            dbk_layer_norm_rows(s + lo * d, o + lo * d, Int64(hi - lo), Int64(d), pw, pb, eps)
        }
    }
}

/// Group normalisation (reference: `torch.nn.functional.group_norm`): channels split into `groups`
/// contiguous groups; each (image, group) normalised with its own mean and biased variance
/// (Double accumulation), then the per-channel affine.
///
/// - Parameters:
///   - x: (N, C, …)
///   - weight, bias: (C) or nil
///   - swish: apply ``siluInPlace(_:)`` to the result in the same pass (the taming `nonlinearity(norm(x))`;
///     the same bits as calling it afterwards).
public func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5, swish: Bool = false) -> Tensor {
    precondition(x.rank >= 2 && x.shape[1] % groups == 0, "groupNorm: C of \(x.shape) not divisible by \(groups)")
    let n = x.shape[0], c = x.shape[1], inner = x.count / max(1, n * c), cg = c / groups
    precondition((weight?.count ?? c) == c && (bias?.count ?? c) == c, "groupNorm: weight/bias sizes for \(c) channels")
    return normalizing(x, weight: weight, bias: bias) { s, o, pw, pb in
        parallelFor(n * groups) { t in
            let base = t * cg * inner
            let (mean, variance) = meanVarianceLanes(s + base, count: cg * inner)
            let inv = 1 / (variance + Double(eps)).squareRoot()
            for j in 0..<cg {
                let ch = (t % groups) * cg + j
                // y = (x - mean) * inv * w + b = x * a + b'
                let w = Double(pw?[ch] ?? 1), b = Double(pb?[ch] ?? 0)
                let a = Float(inv * w), sh = Float(b - mean * inv * w)
                let off = base + j * inner
                for i in off..<(off + inner) { (o + i).initialize(to: s[i] * a + sh) }
                if swish { siluInPlace(o + off, count: inner) }   // while the plane is in cache
            }
        }
    }
}

/// RMS normalisation over the last dimension as LlamaGen's `RMSNorm`:
/// `x * rsqrt(mean(x^2) + eps) * weight`, in float32 (the mean of squares is accumulated in
/// Double and rounded once, like torch's pairwise float reduction up to rounding).
///
/// - Parameters:
///   - x: (…, D)
///   - weight: (D) or nil
public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float = 1e-5) -> Tensor {
    let d = x.dim(-1), rows = x.count / max(d, 1)
    precondition((weight?.count ?? d) == d, "rmsNorm: weight for \(d) features")
    return normalizing(x, weight: weight, bias: nil) { s, o, pw, _ in
        parallelFor(rows, grain: max(1, 4096 / max(d, 1))) { r in
            let row = s + r * d, dst = o + r * d
            var ss = 0.0
            for i in 0..<d { ss += Double(row[i]) * Double(row[i]) }
            let ms = Float(ss / Double(d))
            let inv = 1 / (ms + eps).squareRoot()
            for i in 0..<d {
                var v = row[i] * inv
                if let pw { v *= pw[i] }
                (dst + i).initialize(to: v)
            }
        }
    }
}

/// Mean and biased variance of `count` floats, two-pass in Double.
@inlinable
public func meanVariance(_ p: UnsafePointer<Float>, count: Int) -> (mean: Double, variance: Double) {
    if count == 0 { return (0, 0) }
    var sum = 0.0
    for i in 0..<count { sum += Double(p[i]) }
    let mean = sum / Double(count)
    var ss = 0.0
    for i in 0..<count {
        let d = Double(p[i]) - mean
        ss += d * d
    }
    return (mean, ss / Double(count))
}

/// ``meanVariance(_:count:)`` with eight Double accumulators (lane l sums the elements i ≡ l mod 8,
/// lanes combined pairwise at the end) so that the two passes vectorise; the sums differ from the
/// sequential ones only by Double rounding (~1e-16 relative).
@inline(__always)
func meanVarianceLanes(_ p: UnsafePointer<Float>, count: Int) -> (mean: Double, variance: Double) {
    if count < 64 { return meanVariance(p, count: count) }
    let raw = UnsafeRawPointer(p), full = count & ~7
    func lanes(_ i: Int) -> (SIMD4<Double>, SIMD4<Double>) {
        let v = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        return (SIMD4<Double>(v.lowHalf), SIMD4<Double>(v.highHalf))
    }
    var s0 = SIMD4<Double>(), s1 = SIMD4<Double>()
    var i = 0
    while i < full {
        let (a, b) = lanes(i)
        s0 += a
        s1 += b
        i += 8
    }
    var sum = (s0 + s1).sum()
    for j in full..<count { sum += Double(p[j]) }
    let mean = sum / Double(count)
    let m = SIMD4<Double>(repeating: mean)
    var q0 = SIMD4<Double>(), q1 = SIMD4<Double>()
    i = 0
    while i < full {
        let (a, b) = lanes(i)
        let da = a - m, db = b - m
        q0 += da * da
        q1 += db * db
        i += 8
    }
    var ss = (q0 + q1).sum()
    for j in full..<count {
        let d = Double(p[j]) - mean
        ss += d * d
    }
    return (mean, ss / Double(count))
}

/// A new tensor shaped like `x`, written by `body(src, dst, weight, bias)` (pointers; nil for absent
/// parameters). `body` must initialise every element.
func normalizing(
    _ x: Tensor, weight: Tensor?, bias: Tensor?,
    _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafePointer<Float>?, UnsafePointer<Float>?) -> Void
) -> Tensor {
    Tensor(shape: x.shape) { out in
        x.withUnsafeBufferPointer { px in
            withOptionalPointer(weight) { pw in
                withOptionalPointer(bias) { pb in body(px.baseAddress!, out.baseAddress!, pw, pb) }
            }
        }
    }
}

/// Calls `body` with the tensor's base address, or nil.
@inlinable
func withOptionalPointer<R>(_ t: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let t else { return body(nil) }
    return t.withUnsafeBufferPointer { body($0.baseAddress) }
}
