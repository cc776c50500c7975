// 2-D pooling on NCHW tensors with PyTorch's output-size and window rules.

/// Output length of a pooling window along one axis (torch `pooling_output_shape`):
/// `floor_or_ceil((in + 2p - d(k-1) - 1) / s) + 1`, and in ceil mode the last window must start
/// inside the input or the left padding.
public func poolOutputSize(input: Int, kernel: Int, stride: Int, padding: Int, dilation: Int = 1, ceilMode: Bool)
    -> Int
{
    let span = input + 2 * padding - dilation * (kernel - 1) - 1 + (ceilMode ? stride - 1 : 0)
    var out = (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1
    if ceilMode && (out - 1) * stride >= input + padding { out -= 1 }
    return out
}

/// Applies `body(plane, out)` for every (n, c) plane of an NCHW tensor in parallel.
@inlinable
func mapPlanes(
    _ x: Tensor, outH: Int, outW: Int,
    _ body: (_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) -> Void
) -> Tensor {
    precondition(x.rank == 4, "expected NCHW, got \(x.shape)")
    let planes = x.shape[0] * x.shape[1], hw = x.shape[2] * x.shape[3], ohw = outH * outW
    return Tensor(shape: [x.shape[0], x.shape[1], outH, outW]) { out in
        let o = out.baseAddress!
        x.withUnsafeBufferPointer { px in
            let s = px.baseAddress!
            parallelFor(planes, grain: max(1, 16_384 / max(ohw, 1))) { t in body(s + t * hw, o + t * ohw) }
        }
    }
}

/// Max pooling (reference: `torch.nn.functional.max_pool2d`; padding is `-inf`, NaN propagates).
///
/// - Parameters:
///   - x: (N, C, H, W)
///   - kernel, stride (`nil` = kernel), padding, dilation: `(h, w)`
/// - Returns: (N, C, outH, outW)
public func maxPool2d(
    _ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
    dilation: (Int, Int) = (1, 1), ceilMode: Bool = false
) -> Tensor {
    let s = stride ?? kernel
    let h = x.shape[2], w = x.shape[3]
    precondition(padding.0 * 2 <= kernel.0 && padding.1 * 2 <= kernel.1, "maxPool2d: padding must be at most half the kernel")
    let oh = poolOutputSize(input: h, kernel: kernel.0, stride: s.0, padding: padding.0, dilation: dilation.0, ceilMode: ceilMode)
    let ow = poolOutputSize(input: w, kernel: kernel.1, stride: s.1, padding: padding.1, dilation: dilation.1, ceilMode: ceilMode)
    return mapPlanes(x, outH: oh, outW: ow) { src, dst in
        for oy in 0..<oh {
            var y0 = oy * s.0 - padding.0
            let y1 = min(y0 + (kernel.0 - 1) * dilation.0 + 1, h)
            while y0 < 0 { y0 += dilation.0 }
            for ox in 0..<ow {
                var x0 = ox * s.1 - padding.1
                let x1 = min(x0 + (kernel.1 - 1) * dilation.1 + 1, w)
                while x0 < 0 { x0 += dilation.1 }
                var m = -Float.infinity
                var y = y0
                while y < y1 {
                    var xx = x0
                    while xx < x1 {
                        let v = src[y * w + xx]
                        if v > m || v.isNaN { m = v }
                        xx += dilation.1
                    }
                    y += dilation.0
                }
                dst[oy * ow + ox] = m
            }
        }
    }
}

/// Average pooling (reference: `torch.nn.functional.avg_pool2d`, no `divisor_override`).
///
/// The divisor is the window clipped to the padded input when `countIncludePad`, else the number
/// of real input elements in it; float32 accumulation in row-major window order, as torch's CPU
/// kernel.
///
/// - Parameters:
///   - x: (N, C, H, W)
///   - kernel, stride (`nil` = kernel), padding: `(h, w)`
public func avgPool2d(
    _ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0), ceilMode: Bool = false,
    countIncludePad: Bool = true
) -> Tensor {
    let s = stride ?? kernel
    let h = x.shape[2], w = x.shape[3]
    precondition(padding.0 * 2 <= kernel.0 && padding.1 * 2 <= kernel.1, "avgPool2d: padding must be at most half the kernel")
    let oh = poolOutputSize(input: h, kernel: kernel.0, stride: s.0, padding: padding.0, ceilMode: ceilMode)
    let ow = poolOutputSize(input: w, kernel: kernel.1, stride: s.1, padding: padding.1, ceilMode: ceilMode)
    return mapPlanes(x, outH: oh, outW: ow) { src, dst in
        for oy in 0..<oh {
            var y0 = oy * s.0 - padding.0
            var y1 = min(y0 + kernel.0, h + padding.0)
            let sizeY = y1 - y0
            y0 = max(y0, 0)
            y1 = min(y1, h)
            for ox in 0..<ow {
                var x0 = ox * s.1 - padding.1
                var x1 = min(x0 + kernel.1, w + padding.1)
                let poolSize = sizeY * (x1 - x0)
                x0 = max(x0, 0)
                x1 = min(x1, w)
                if y0 >= y1 || x0 >= x1 {
                    dst[oy * ow + ox] = 0
                    continue
                }
                var sum: Float = 0
                for y in y0..<y1 {
                    for xx in x0..<x1 { sum += src[y * w + xx] }
                }
                let divisor = countIncludePad ? poolSize : (y1 - y0) * (x1 - x0)
                dst[oy * ow + ox] = sum / Float(divisor)
            }
        }
    }
}

/// Adaptive average pooling (reference: `torch.nn.functional.adaptive_avg_pool2d`): output cell
/// `i` averages input rows `floor(i·H/oh) ..< ceil((i+1)·H/oh)` (same for columns).
///
/// - Parameters:
///   - x: (N, C, H, W)
/// - Returns: (N, C, outH, outW)
public func adaptiveAvgPool2d(_ x: Tensor, outH: Int, outW: Int) -> Tensor {
    let h = x.shape[2], w = x.shape[3]
    return mapPlanes(x, outH: outH, outW: outW) { src, dst in
        for oy in 0..<outH {
            let y0 = (oy * h) / outH, y1 = ((oy + 1) * h + outH - 1) / outH
            for ox in 0..<outW {
                let x0 = (ox * w) / outW, x1 = ((ox + 1) * w + outW - 1) / outW
                var sum: Float = 0
                for y in y0..<y1 {
                    for xx in x0..<x1 { sum += src[y * w + xx] }
                }
                dst[oy * outW + ox] = sum / Float((y1 - y0) * (x1 - x0))
            }
        }
    }
}
