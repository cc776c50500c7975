/// Zero padding of a 2-D op, per side (torch's `padding=(h, w)` is `top = bottom = h`,
/// `left = right = w`; `F.pad(x, (left, right, top, bottom))` gives asymmetric padding).
public struct Padding2d: Sendable, Equatable {
    public var top: Int, bottom: Int, left: Int, right: Int

    public init(top: Int, bottom: Int, left: Int, right: Int) {
        precondition(top >= 0 && bottom >= 0 && left >= 0 && right >= 0, "negative padding")
        self.top = top
        self.bottom = bottom
        self.left = left
        self.right = right
    }

    /// `h` rows above and below, `w` columns left and right.
    public static func symmetric(_ h: Int, _ w: Int) -> Padding2d { Padding2d(top: h, bottom: h, left: w, right: w) }
    public static let zero = Padding2d(top: 0, bottom: 0, left: 0, right: 0)
}

/// The geometry of a 2-D convolution (or pooling window) over one image.
public struct Conv2dGeometry: Sendable, Equatable {
    public var inH: Int, inW: Int
    public var kH: Int, kW: Int
    public var strideH: Int, strideW: Int
    public var padding: Padding2d
    public var dilationH: Int, dilationW: Int

    public init(
        inH: Int, inW: Int, kH: Int, kW: Int, strideH: Int = 1, strideW: Int = 1, padding: Padding2d = .zero,
        dilationH: Int = 1, dilationW: Int = 1
    ) {
        precondition(strideH > 0 && strideW > 0 && dilationH > 0 && dilationW > 0, "stride and dilation must be positive")
        self.inH = inH
        self.inW = inW
        self.kH = kH
        self.kW = kW
        self.strideH = strideH
        self.strideW = strideW
        self.padding = padding
        self.dilationH = dilationH
        self.dilationW = dilationW
    }

    /// `floor((H + pt + pb - d (k - 1) - 1) / s) + 1`, as `torch.nn.Conv2d`.
    public var outH: Int { (inH + padding.top + padding.bottom - dilationH * (kH - 1) - 1) / strideH + 1 }
    public var outW: Int { (inW + padding.left + padding.right - dilationW * (kW - 1) - 1) / strideW + 1 }

    /// True when the im2col matrix of one image is the image itself (1x1, stride 1, no padding).
    public var isPointwise: Bool {
        kH == 1 && kW == 1 && strideH == 1 && strideW == 1 && padding == .zero
    }
}

/// 2-D convolution (cross-correlation) (reference: `torch.nn.functional.conv2d`).
///
/// - Parameters:
///   - x: (N, C, H, W)
///   - weight: (O, C / groups, kH, kW), as stored by `nn.Conv2d`
///   - bias: (O) or nil
///   - padding: zeros added per side (asymmetric allowed)
/// - Returns: (N, O, outH, outW)
///
/// Implementation: for each group, the im2col matrix `(C/g · kH · kW) × (n · outH · outW)` of a chunk
/// of `n` images is multiplied by the group's weight `(O/g) × (C/g · kH · kW)` in one sgemm. Chunks
/// hold enough images to make the gemm wide (small feature maps) while keeping the column buffer
/// under ``Conv2dTuning/maxColumnBytes``. A 1x1 stride-1 unpadded conv on one image is a plain
/// sgemm on the input. im2col runs on ``parallelFor``; the gemm on OpenBLAS threads.
public func conv2d(
    _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int), padding: Padding2d,
    dilation: (Int, Int) = (1, 1), groups: Int = 1
) -> Tensor {
    precondition(x.rank == 4 && weight.rank == 4, "conv2d: x \(x.shape) must be NCHW, weight \(weight.shape) OIHW")
    let n = x.shape[0], c = x.shape[1], o = weight.shape[0]
    precondition(groups > 0 && c % groups == 0 && o % groups == 0, "conv2d: groups \(groups) must divide C \(c) and O \(o)")
    precondition(weight.shape[1] == c / groups, "conv2d: weight \(weight.shape) for \(c) input channels and \(groups) groups")
    if let bias { precondition(bias.count == o, "conv2d: bias \(bias.shape) for \(o) output channels") }
    let g = Conv2dGeometry(
        inH: x.shape[2], inW: x.shape[3], kH: weight.shape[2], kW: weight.shape[3], strideH: stride.0,
        strideW: stride.1, padding: padding, dilationH: dilation.0, dilationW: dilation.1)
    let oh = g.outH, ow = g.outW
    precondition(oh > 0 && ow > 0, "conv2d: output size \(oh)x\(ow) for input \(x.shape) and kernel \(weight.shape)")
    let p = oh * ow, cg = c / groups, og = o / groups
    let k = cg * g.kH * g.kW
    var out = Tensor(zeros: [n, o, oh, ow])
    if n == 0 { return out }

    // Images per chunk: enough columns for an efficient gemm, bounded column memory.
    let colsPerImage = p
    var chunk = max(1, min(n, (Conv2dTuning.targetColumns + colsPerImage - 1) / colsPerImage))
    while chunk > 1 && k * chunk * colsPerImage * 4 > Conv2dTuning.maxColumnBytes { chunk -= 1 }
    let direct = g.isPointwise && chunk == 1
    var cols = [Float](repeating: 0, count: direct ? 0 : k * chunk * colsPerImage)
    var result = [Float](repeating: 0, count: chunk > 1 ? og * chunk * colsPerImage : 0)

    x.withUnsafeBufferPointer { px in
        weight.withUnsafeBufferPointer { pw in
            out.withUnsafeMutableBufferPointer { po in
                cols.withUnsafeMutableBufferPointer { pc in
                    result.withUnsafeMutableBufferPointer { pr in
                        let xs = px.baseAddress!, ws = pw.baseAddress!, os = po.baseAddress!
                        var n0 = 0
                        while n0 < n {
                            let nb = min(chunk, n - n0)
                            let ncols = nb * colsPerImage
                            for gi in 0..<groups {
                                let wg = ws + gi * og * k
                                let b: UnsafePointer<Float>
                                if direct {
                                    b = xs + (n0 * c + gi * cg) * g.inH * g.inW
                                } else {
                                    im2col(
                                        xs, images: n0..<(n0 + nb), channels: c, channelRange: (gi * cg)..<((gi + 1) * cg),
                                        geometry: g, into: pc.baseAddress!, ldc: ncols)
                                    b = UnsafePointer(pc.baseAddress!)
                                }
                                if nb == 1 {
                                    // The group's output block of one image is contiguous: write it directly.
                                    Gemm.sgemm(
                                        m: og, n: p, k: k, a: wg, lda: k, b: b, ldb: p,
                                        c: os + (n0 * o + gi * og) * p, ldc: p)
                                } else {
                                    Gemm.sgemm(m: og, n: ncols, k: k, a: wg, lda: k, b: b, ldb: ncols, c: pr.baseAddress!, ldc: ncols)
                                    // Scatter (og, nb, p) -> out[n0 + i, gi * og + j, :].
                                    let r = UnsafePointer(pr.baseAddress!)
                                    parallelFor(og * nb, grain: max(1, 4096 / p)) { t in
                                        let j = t / nb, i = t % nb
                                        (os + ((n0 + i) * o + gi * og + j) * p).update(from: r + j * ncols + i * p, count: p)
                                    }
                                }
                            }
                            n0 += nb
                        }
                        if let bias {
                            bias.withUnsafeBufferPointer { pb in
                                let bs = pb.baseAddress!
                                parallelFor(n * o, grain: max(1, 8192 / p)) { t in
                                    let v = bs[t % o]
                                    let dst = os + t * p
                                    for i in 0..<p { dst[i] += v }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return out
}

/// Tuning knobs of ``conv2d(_:weight:bias:stride:padding:dilation:groups:)`` (exposed for `bench conv`).
public enum Conv2dTuning {
    /// Images are batched into one gemm until it has at least this many columns.
    nonisolated(unsafe) public static var targetColumns = 2048
    /// Upper bound on the im2col buffer.
    nonisolated(unsafe) public static var maxColumnBytes = 64 << 20
}

/// Writes the im2col matrix of `images` × `channelRange` of an NCHW tensor: row
/// `(c, ki, kj)` (c relative to the range), column `(image, oy, ox)`, zero where the window hits
/// padding. `ldc` is the row length (images.count · outH · outW).
@usableFromInline
func im2col(
    _ x: UnsafePointer<Float>, images: Range<Int>, channels: Int, channelRange: Range<Int>, geometry g: Conv2dGeometry,
    into cols: UnsafeMutablePointer<Float>, ldc: Int
) {
    let oh = g.outH, ow = g.outW, p = oh * ow
    let kk = g.kH * g.kW
    let rows = channelRange.count * kk
    let hw = g.inH * g.inW
    let sw = g.strideW
    parallelFor(rows * images.count, grain: max(1, 8192 / p)) { t in
        let row = t / images.count, img = t % images.count
        let cRel = row / kk, ki = (row % kk) / g.kW, kj = row % g.kW
        let src = x + ((images.lowerBound + img) * channels + channelRange.lowerBound + cRel) * hw
        let dst = cols + row * ldc + img * p
        // Output columns ox whose input column ix = ox*sw - left + kj*dw lies in [0, inW).
        let off = kj * g.dilationW - g.padding.left
        let x0 = off >= 0 ? 0 : min(ow, (-off + sw - 1) / sw)
        let x1 = max(x0, min(ow, (g.inW - off + sw - 1) / sw))
        for oy in 0..<oh {
            let iy = oy * g.strideH - g.padding.top + ki * g.dilationH
            let d = dst + oy * ow
            if iy < 0 || iy >= g.inH {
                d.update(repeating: 0, count: ow)
                continue
            }
            let s = src + iy * g.inW + off
            if x0 > 0 { d.update(repeating: 0, count: x0) }
            if sw == 1 {
                (d + x0).update(from: s + x0, count: x1 - x0)
            } else {
                for ox in x0..<x1 { d[ox] = s[ox * sw] }
            }
            if x1 < ow { (d + x1).update(repeating: 0, count: ow - x1) }
        }
    }
}

/// Convenience: square stride, symmetric padding, dilation (reference: `torch.nn.functional.conv2d`
/// with integer `stride`, `padding`, `dilation`).
public func conv2d(
    _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
    groups: Int = 1
) -> Tensor {
    conv2d(
        x, weight: weight, bias: bias, stride: (stride, stride), padding: .symmetric(padding, padding),
        dilation: (dilation, dilation), groups: groups)
}

/// Convenience: per-axis stride and symmetric per-axis padding `(h, w)`, as `nn.Conv2d(…, stride=(sh, sw),
/// padding=(ph, pw))` (e.g. Inception's 1x7 convs with `padding=(0, 3)`).
public func conv2d(
    _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int),
    dilation: (Int, Int) = (1, 1), groups: Int = 1
) -> Tensor {
    conv2d(
        x, weight: weight, bias: bias, stride: stride, padding: .symmetric(padding.0, padding.1), dilation: dilation,
        groups: groups)
}
