// TEMPORARY: stand-ins for DigitTensor ops that the `tensor` branch is writing (pools, resizes).
// They carry the planned names so the Inception port reads as it will; this file is deleted when
// the tensor branch is merged. Internal to DigitModels so nothing outside depends on it.
import DigitTensor

/// (N, C, H, W) → (N, C, OH, OW): max over k×k windows, `-inf` padding (torch `max_pool2d`).
func maxPool2d(_ x: Tensor, kernelSize k: Int, stride s: Int, padding p: Int = 0) -> Tensor {
    let (n, c, h, w) = (x.dim(0), x.dim(1), x.dim(2), x.dim(3))
    let oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1
    return Tensor(shape: [n, c, oh, ow]) { out in
        let po = out.baseAddress!
        x.withUnsafeBufferPointer { px in
            let pin = px.baseAddress!
            parallelFor(n * c) { plane in
                let src = pin + plane * h * w, dst = po + plane * oh * ow
                for oy in 0..<oh {
                    let y0 = max(oy * s - p, 0), y1 = min(oy * s - p + k, h)
                    for ox in 0..<ow {
                        let x0 = max(ox * s - p, 0), x1 = min(ox * s - p + k, w)
                        var m = -Float.infinity
                        for yy in y0..<y1 { for xx in x0..<x1 { m = max(m, src[yy * w + xx]) } }
                        dst[oy * ow + ox] = m
                    }
                }
            }
        }
    }
}

/// (N, C, H, W) → (N, C, OH, OW): mean over k×k windows (torch `avg_pool2d`).
func avgPool2d(_ x: Tensor, kernelSize k: Int, stride s: Int, padding p: Int = 0, countIncludePad: Bool = true) -> Tensor {
    let (n, c, h, w) = (x.dim(0), x.dim(1), x.dim(2), x.dim(3))
    let oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1
    return Tensor(shape: [n, c, oh, ow]) { out in
        let po = out.baseAddress!
        x.withUnsafeBufferPointer { px in
            let pin = px.baseAddress!
            parallelFor(n * c) { plane in
                let src = pin + plane * h * w, dst = po + plane * oh * ow
                for oy in 0..<oh {
                    let y0 = max(oy * s - p, 0), y1 = min(oy * s - p + k, h)
                    for ox in 0..<ow {
                        let x0 = max(ox * s - p, 0), x1 = min(ox * s - p + k, w)
                        var acc: Float = 0
                        for yy in y0..<y1 { for xx in x0..<x1 { acc += src[yy * w + xx] } }
                        let count = countIncludePad ? k * k : (y1 - y0) * (x1 - x0)
                        dst[oy * ow + ox] = acc / Float(count)
                    }
                }
            }
        }
    }
}

/// torch `F.interpolate(x, size, mode="bilinear", align_corners=False)`, no antialias.
func interpolateBilinear(_ x: Tensor, size: (Int, Int)) -> Tensor {
    let (n, c, h, w) = (x.dim(0), x.dim(1), x.dim(2), x.dim(3))
    let (oh, ow) = size
    func taps(_ inSize: Int, _ outSize: Int) -> [(Int, Int, Float, Float)] {
        let scale = Double(Float(inSize) / Float(outSize))
        return (0..<outSize).map { d in
            let src = max(scale * (Double(d) + 0.5) - 0.5, 0)
            let lo = Int(src)
            let hi = min(lo + 1, inSize - 1)
            let l1 = Float(src - Double(lo))
            return (lo, hi, 1 - l1, l1)
        }
    }
    let ty = taps(h, oh), tx = taps(w, ow)
    return Tensor(shape: [n, c, oh, ow]) { out in
        let po = out.baseAddress!
        x.withUnsafeBufferPointer { px in
            let pin = px.baseAddress!
            parallelFor(n * c) { plane in
                let src = pin + plane * h * w, dst = po + plane * oh * ow
                for oy in 0..<oh {
                    let (y0, y1, wy0, wy1) = ty[oy]
                    for ox in 0..<ow {
                        let (x0, x1, wx0, wx1) = tx[ox]
                        let top = wx0 * src[y0 * w + x0] + wx1 * src[y0 * w + x1]
                        let bot = wx0 * src[y1 * w + x0] + wx1 * src[y1 * w + x1]
                        dst[oy * ow + ox] = wy0 * top + wy1 * bot
                    }
                }
            }
        }
    }
}

/// TF1 `tf.image.resize_bilinear(align_corners=False)` as torch-fidelity's
/// `interpolate_bilinear_2d_like_tensorflow1x`: `src = dst * Float(in/out)`, no half-pixel offset.
func resizeBilinearTF1(_ x: Tensor, size: (Int, Int)) -> Tensor {
    let (n, c, h, w) = (x.dim(0), x.dim(1), x.dim(2), x.dim(3))
    let (oh, ow) = size
    func taps(_ inSize: Int, _ outSize: Int) -> [(Int, Int, Float)] {
        let scale = Float(Double(inSize) / Double(outSize))
        return (0..<outSize).map { d in
            let src = Float(d) * scale
            let lo = Int(src)
            return (lo, min(lo + 1, inSize - 1), src - Float(lo))
        }
    }
    let ty = taps(h, oh), tx = taps(w, ow)
    return Tensor(shape: [n, c, oh, ow]) { out in
        let po = out.baseAddress!
        x.withUnsafeBufferPointer { px in
            let pin = px.baseAddress!
            parallelFor(n * c) { plane in
                let src = pin + plane * h * w, dst = po + plane * oh * ow
                for oy in 0..<oh {
                    let (y0, y1, dy) = ty[oy]
                    for ox in 0..<ow {
                        let (x0, x1, dx) = tx[ox]
                        let a00 = src[y0 * w + x0], a01 = src[y0 * w + x1]
                        let a10 = src[y1 * w + x0], a11 = src[y1 * w + x1]
                        let top = a00 + (a01 - a00) * dx
                        let bot = a10 + (a11 - a10) * dx
                        dst[oy * ow + ox] = top + (bot - top) * dy
                    }
                }
            }
        }
    }
}
