import Foundation

// Resizing of NCHW float tensors as `torch.nn.functional.interpolate` (antialias=False) and as
// torch-fidelity's TF1-compatible bilinear resize. Each op precomputes per-axis source indices and
// weights, then runs separable-looking but exact 2-D formulas per (n, c) plane in parallel.

/// `torch.nn.functional.interpolate` modes implemented here.
public enum InterpolationMode: String, Sendable, CaseIterable {
    case nearest, bilinear, bicubic
}

/// Resizes (N, C, H, W) to (N, C, outH, outW) (reference: `torch.nn.functional.interpolate(x,
/// size=(outH, outW), mode=…, align_corners=…)`, `antialias=False`).
///
/// `alignCorners` is ignored for `.nearest` (torch forbids it there). Integral `scale_factor`
/// calls are identical to the matching `size` calls.
public func interpolate(_ x: Tensor, size: (Int, Int), mode: InterpolationMode, alignCorners: Bool = false) -> Tensor {
    switch mode {
    case .nearest: return interpolateNearest(x, size: size)
    case .bilinear: return interpolateBilinear(x, size: size, alignCorners: alignCorners)
    case .bicubic: return interpolateBicubic(x, size: size, alignCorners: alignCorners)
    }
}

/// torch `area_pixel_compute_scale` in float32: `(in-1)/(out-1)` with align_corners, else `in/out`.
@usableFromInline
func pixelScale(input: Int, output: Int, alignCorners: Bool) -> Float {
    if alignCorners { return output > 1 ? Float(input - 1) / Float(output - 1) : 0 }
    return Float(input) / Float(output)
}

/// Nearest-neighbour resize, torch's legacy `'nearest'` rule: `src = min(floor(dst · Float(in/out)),
/// in - 1)` (reference: `F.interpolate(mode='nearest')`).
///
/// - Parameter x: (N, C, H, W)
public func interpolateNearest(_ x: Tensor, size: (Int, Int)) -> Tensor {
    let h = x.shape[2], w = x.shape[3]
    func indices(_ input: Int, _ output: Int) -> [Int] {
        let scale = Float(input) / Float(output)
        return (0..<output).map { d in
            if output == input { return d }
            if output == 2 * input { return d >> 1 }
            return min(Int(Foundation.floor(Float(d) * scale)), input - 1)
        }
    }
    let iy = indices(h, size.0), ix = indices(w, size.1)
    return mapPlanes(x, outH: size.0, outW: size.1) { src, dst in
        for oy in 0..<size.0 {
            let row = src + iy[oy] * w, d = dst + oy * size.1
            for ox in 0..<size.1 { d[ox] = row[ix[ox]] }
        }
    }
}

/// Per-axis linear taps: indices `lo`, `hi` and weights `λ0`, `λ1`.
@usableFromInline
struct LinearTaps {
    var lo: [Int], hi: [Int], l0: [Float], l1: [Float]

    /// torch's `upsample_bilinear2d` indices: `src = max(scale·(dst + 0.5) - 0.5, 0)` computed in
    /// Double from the float32 scale (align_corners: `scale·dst`), `lo = floor(src)`,
    /// `hi = min(lo + 1, in - 1)`, `λ1 = Float(src - lo)`, `λ0 = 1 - λ1`.
    init(input: Int, output: Int, alignCorners: Bool) {
        let scale = Double(pixelScale(input: input, output: output, alignCorners: alignCorners))
        lo = []; hi = []; l0 = []; l1 = []
        for d in 0..<output {
            let src = alignCorners ? scale * Double(d) : max(scale * (Double(d) + 0.5) - 0.5, 0)
            let l = min(Int(src), input - 1)
            let lambda = Float(src - Double(l))
            lo.append(l)
            hi.append(min(l + 1, input - 1))
            l1.append(lambda)
            l0.append(1 - lambda)
        }
    }
}

/// Bilinear resize (reference: `torch.nn.functional.interpolate(mode='bilinear')`, no antialias;
/// pytorch-fid's `resize_input`). Index math per ``LinearTaps``; values
/// `λy0·(λx0·a00 + λx1·a01) + λy1·(λx0·a10 + λx1·a11)` in float32.
///
/// - Parameter x: (N, C, H, W)
public func interpolateBilinear(_ x: Tensor, size: (Int, Int), alignCorners: Bool = false) -> Tensor {
    let h = x.shape[2], w = x.shape[3]
    let ty = LinearTaps(input: h, output: size.0, alignCorners: alignCorners)
    let tx = LinearTaps(input: w, output: size.1, alignCorners: alignCorners)
    return mapPlanes(x, outH: size.0, outW: size.1) { src, dst in
        for oy in 0..<size.0 {
            let r0 = src + ty.lo[oy] * w, r1 = src + ty.hi[oy] * w
            let wy0 = ty.l0[oy], wy1 = ty.l1[oy]
            let d = dst + oy * size.1
            for ox in 0..<size.1 {
                let x0 = tx.lo[ox], x1 = tx.hi[ox], wx0 = tx.l0[ox], wx1 = tx.l1[ox]
                let top = wx0 * r0[x0] + wx1 * r0[x1]
                let bot = wx0 * r1[x0] + wx1 * r1[x1]
                d[ox] = wy0 * top + wy1 * bot
            }
        }
    }
}

/// torch's cubic convolution weights for fraction `t` with `A = -0.75`
/// (`get_cubic_upsample_coefficients`).
@inlinable
public func cubicCoefficients(_ t: Float, a: Float = -0.75) -> (Float, Float, Float, Float) {
    func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }  // |x| <= 1
    func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }  // 1 < |x| < 2
    return (far(t + 1), near(t), near(1 - t), far(2 - t))
}

/// Bicubic resize (reference: `torch.nn.functional.interpolate(mode='bicubic')`, `A = -0.75`, no
/// antialias, no clamping of the result). Source index `scale·(dst + 0.5) - 0.5` (not clamped at 0;
/// align_corners: `scale·dst`) in Double from the float32 scale, `i = floor(src)`,
/// `t = Float(src - i)`; taps `i-1 … i+2` clamped to the image.
///
/// With `scaleFactors` (torch's `scale_factor=(sh, sw)` passed through, i.e. without
/// `recompute_scale_factor`), the source scale is `Float(1 / s)` instead of `in/out` (align_corners
/// false); `size` must then be `floor(in · s)` as torch computes it.
///
/// - Parameter x: (N, C, H, W)
public func interpolateBicubic(
    _ x: Tensor, size: (Int, Int), alignCorners: Bool = false, scaleFactors: (Double, Double)? = nil
) -> Tensor {
    let h = x.shape[2], w = x.shape[3]
    func taps(_ input: Int, _ output: Int, _ factor: Double?) -> (idx: [Int], wt: [Float]) {
        let scale: Double
        if let factor, factor > 0, !alignCorners {
            scale = Double(Float(1 / factor))  // torch compute_scales_value: static_cast<float>(1.0 / scale)
        } else {
            scale = Double(pixelScale(input: input, output: output, alignCorners: alignCorners))
        }
        var idx: [Int] = [], wt: [Float] = []
        for d in 0..<output {
            let src = alignCorners ? scale * Double(d) : scale * (Double(d) + 0.5) - 0.5
            let i = Int(Foundation.floor(src))
            let c = cubicCoefficients(Float(src - Double(i)))
            for (k, v) in [c.0, c.1, c.2, c.3].enumerated() {
                idx.append(min(max(i - 1 + k, 0), input - 1))
                wt.append(v)
            }
        }
        return (idx, wt)
    }
    let ty = taps(h, size.0, scaleFactors?.0), tx = taps(w, size.1, scaleFactors?.1)
    return mapPlanes(x, outH: size.0, outW: size.1) { src, dst in
        for oy in 0..<size.0 {
            let d = dst + oy * size.1
            for ox in 0..<size.1 {
                var acc: Float = 0
                for j in 0..<4 {
                    let row = src + ty.idx[oy * 4 + j] * w
                    var r: Float = 0
                    for i in 0..<4 { r += row[tx.idx[ox * 4 + i]] * tx.wt[ox * 4 + i] }
                    acc += r * ty.wt[oy * 4 + j]
                }
                d[ox] = acc
            }
        }
    }
}

/// TensorFlow 1.x `tf.image.resize_bilinear` semantics (reference: torch-fidelity
/// `interpolate_bilinear_2d_like_tensorflow1x`, `align_corners=False`): `src = dst · Float(in/out)`
/// (no half-pixel offset), `lo = trunc(src)`, `hi = min(lo + 1, in - 1)`, `d = src - lo`;
/// `top = a00 + (a01 - a00)·dx`, `bot = a10 + (a11 - a10)·dx`, `out = top + (bot - top)·dy`,
/// all float32. With `alignCorners` the scale is `(in-1)/(out-1)`.
///
/// - Parameter x: (N, C, H, W)
public func interpolateBilinearTF1(_ x: Tensor, size: (Int, Int), alignCorners: Bool = false) -> Tensor {
    let h = x.shape[2], w = x.shape[3]
    func taps(_ input: Int, _ output: Int) -> (lo: [Int], hi: [Int], frac: [Float]) {
        let scale = pixelScale(input: input, output: output, alignCorners: alignCorners)
        var lo: [Int] = [], hi: [Int] = [], frac: [Float] = []
        for d in 0..<output {
            let src = Float(d) * scale
            let l = min(Int(src), input - 1)
            lo.append(l)
            hi.append(min(l + 1, input - 1))
            frac.append(src - Float(l))
        }
        return (lo, hi, frac)
    }
    let ty = taps(h, size.0), tx = taps(w, size.1)
    return mapPlanes(x, outH: size.0, outW: size.1) { src, dst in
        for oy in 0..<size.0 {
            let r0 = src + ty.lo[oy] * w, r1 = src + ty.hi[oy] * w, dy = ty.frac[oy]
            let d = dst + oy * size.1
            for ox in 0..<size.1 {
                let x0 = tx.lo[ox], x1 = tx.hi[ox], dx = tx.frac[ox]
                let top = r0[x0] + (r0[x1] - r0[x0]) * dx
                let bot = r1[x0] + (r1[x1] - r1[x0]) * dx
                d[ox] = top + (bot - top) * dy
            }
        }
    }
}
