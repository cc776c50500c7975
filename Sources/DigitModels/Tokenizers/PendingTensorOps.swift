// TEMPORARY (branch `vq`): stand-ins for the ops and layers that branch `tensor` is building
// (conv2d, groupNorm, silu, interpolateNearest, avgPool2d, softmax; DigitNN Conv2d/GroupNorm).
// They exist only so the VQ tokenizers can be checked against their fixtures before `tensor`
// lands; delete this file on `git merge tensor` and adapt the few call sites in
// LlamaGenVQ.swift / MAGEVQGAN.swift. Internal, never exported.
import DigitNN
import DigitTensor
import Foundation

/// torch.nn.functional.conv2d for NCHW with zero padding (left, right, top, bottom).
func pendingConv2d(
    _ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: (l: Int, r: Int, t: Int, b: Int)
) -> Tensor {
    let (n, cin, h, w) = (x.dim(0), x.dim(1), x.dim(2), x.dim(3))
    let (cout, kh, kw) = (weight.dim(0), weight.dim(2), weight.dim(3))
    precondition(weight.dim(1) == cin, "conv2d: x \(x.shape) weight \(weight.shape)")
    let ho = (h + padding.t + padding.b - kh) / stride + 1
    let wo = (w + padding.l + padding.r - kw) / stride + 1
    let hw = ho * wo
    let kk = cin * kh * kw
    var out = Tensor(zeros: [n, cout, ho, wo])
    let direct = kh == 1 && kw == 1 && stride == 1 && padding == (0, 0, 0, 0)
    // Row blocks keep the im2col buffer near 8 MB.
    let rowsPerBlock = max(1, min(ho, (2 << 20) / max(1, kk * wo)))
    var col = [Float](repeating: 0, count: direct ? 0 : kk * rowsPerBlock * wo)
    x.withUnsafeBufferPointer { px in
        weight.withUnsafeBufferPointer { pw in
            out.withUnsafeMutableBufferPointer { po in
                let px = px.baseAddress!, pw = pw.baseAddress!, po = po.baseAddress!
                for b in 0..<n {
                    let xb = px + b * cin * h * w
                    let ob = po + b * cout * hw
                    if direct {
                        Gemm.sgemm(m: cout, n: hw, k: cin, a: pw, lda: cin, b: xb, ldb: hw, c: ob, ldc: hw)
                        continue
                    }
                    var r0 = 0
                    while r0 < ho {
                        let rows = min(rowsPerBlock, ho - r0)
                        let ncol = rows * wo
                        col.withUnsafeMutableBufferPointer { pc in
                            let pc = pc.baseAddress!
                            parallelFor(kk) { row in
                                let c = row / (kh * kw), ki = (row / kw) % kh, kj = row % kw
                                let dst = pc + row * ncol
                                let src = xb + c * h * w
                                for oy in 0..<rows {
                                    let iy = (r0 + oy) * stride + ki - padding.t
                                    let d = dst + oy * wo
                                    if iy < 0 || iy >= h {
                                        d.update(repeating: 0, count: wo)
                                        continue
                                    }
                                    let s = src + iy * w
                                    for ox in 0..<wo {
                                        let ix = ox * stride + kj - padding.l
                                        d[ox] = (ix >= 0 && ix < w) ? s[ix] : 0
                                    }
                                }
                            }
                            Gemm.sgemm(m: cout, n: ncol, k: kk, a: pw, lda: kk, b: pc, ldb: ncol,
                                       c: ob + r0 * wo, ldc: hw)
                        }
                        r0 += rows
                    }
                }
                if let bias {
                    bias.withUnsafeBufferPointer { pb in
                        parallelFor(n * cout) { i in
                            let v = pb[i % cout]
                            let p = po + i * hw
                            for j in 0..<hw { p[j] += v }
                        }
                    }
                }
            }
        }
    }
    return out
}

/// torch.nn.functional.group_norm (NCHW), optionally followed by SiLU.
func pendingGroupNorm(_ x: Tensor, groups: Int, weight: Tensor, bias: Tensor, eps: Float, silu: Bool = false) -> Tensor {
    let (n, c) = (x.dim(0), x.dim(1))
    let hw = x.count / (n * c)
    let cpg = c / groups
    var out = x
    weight.withUnsafeBufferPointer { pw in
        bias.withUnsafeBufferPointer { pb in
            out.withUnsafeMutableBufferPointer { po in
                let po = po.baseAddress!
                parallelFor(n * groups) { i in
                    let g = i % groups
                    let p = po + i * cpg * hw
                    let m = cpg * hw
                    var s = 0.0
                    for j in 0..<m { s += Double(p[j]) }
                    let mean = s / Double(m)
                    var v = 0.0
                    for j in 0..<m { let d = Double(p[j]) - mean; v += d * d }
                    let rstd = 1 / (v / Double(m) + Double(eps)).squareRoot()
                    for cc in 0..<cpg {
                        let ch = g * cpg + cc
                        let a = Float(rstd) * pw[ch]
                        let bb = pb[ch] - Float(mean) * a
                        let q = p + cc * hw
                        if silu {
                            for j in 0..<hw { let y = q[j] * a + bb; q[j] = y / (1 + _exp(-y)) }
                        } else {
                            for j in 0..<hw { q[j] = q[j] * a + bb }
                        }
                    }
                }
            }
        }
    }
    return out
}

@inline(__always) func _exp(_ x: Float) -> Float { Foundation.exp(x) }

/// F.interpolate(scale_factor=2, mode="nearest") for NCHW.
func pendingUpsampleNearest2x(_ x: Tensor) -> Tensor {
    let (n, c, h, w) = (x.dim(0), x.dim(1), x.dim(2), x.dim(3))
    return Tensor(shape: [n, c, 2 * h, 2 * w]) { po in
        x.withUnsafeBufferPointer { px in
            let po = po.baseAddress!, px = px.baseAddress!
            parallelFor(n * c) { i in
                for y in 0..<(2 * h) {
                    let s = px + i * h * w + (y / 2) * w
                    let d = po + i * 4 * h * w + y * 2 * w
                    for xx in 0..<(2 * w) { d[xx] = s[xx / 2] }
                }
            }
        }
    }
}

/// F.avg_pool2d(kernel_size=2, stride=2) for NCHW.
func pendingAvgPool2x(_ x: Tensor) -> Tensor {
    let (n, c, h, w) = (x.dim(0), x.dim(1), x.dim(2), x.dim(3))
    let (ho, wo) = (h / 2, w / 2)
    return Tensor(shape: [n, c, ho, wo]) { po in
        x.withUnsafeBufferPointer { px in
            let po = po.baseAddress!, px = px.baseAddress!
            parallelFor(n * c) { i in
                for y in 0..<ho {
                    let s0 = px + i * h * w + 2 * y * w, s1 = s0 + w
                    let d = po + i * ho * wo + y * wo
                    for xx in 0..<wo { d[xx] = (s0[2 * xx] + s0[2 * xx + 1] + s1[2 * xx] + s1[2 * xx + 1]) / 4 }
                }
            }
        }
    }
}

/// Softmax over the last dimension, in place.
func pendingSoftmaxRows(_ p: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
    parallelFor(rows) { r in
        let q = p + r * cols
        var m = -Float.infinity
        for j in 0..<cols { m = max(m, q[j]) }
        var s: Float = 0
        for j in 0..<cols { q[j] = _exp(q[j] - m); s += q[j] }
        for j in 0..<cols { q[j] /= s }
    }
}

/// Elementwise a + b.
func pendingAdd(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.shape == b.shape)
    var out = a
    out.withUnsafeMutableBufferPointer { po in
        b.withUnsafeBufferPointer { pb in for i in 0..<po.count { po[i] += pb[i] } }
    }
    return out
}

/// Stand-in for DigitNN.Conv2d.
struct Conv2d {
    let weight: Tensor
    let bias: Tensor?
    let stride: Int
    let padding: Int
    init(_ s: WeightScope, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
         bias: Bool = true) throws {
        weight = try s.tensor("weight", shape: [outChannels, inChannels, kernelSize, kernelSize])
        self.bias = bias ? try s.tensor("bias", shape: [outChannels]) : nil
        self.stride = stride
        self.padding = padding
    }
    func callAsFunction(_ x: Tensor) -> Tensor {
        pendingConv2d(x, weight: weight, bias: bias, stride: stride, padding: (padding, padding, padding, padding))
    }
}

/// Stand-in for DigitNN.GroupNorm.
struct GroupNorm {
    let weight: Tensor
    let bias: Tensor
    let groups: Int
    let eps: Float
    init(_ s: WeightScope, groups: Int, channels: Int, eps: Float) throws {
        weight = try s.tensor("weight", shape: [channels])
        bias = try s.tensor("bias", shape: [channels])
        self.groups = groups
        self.eps = eps
    }
    func callAsFunction(_ x: Tensor) -> Tensor { pendingGroupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps) }
}

/// x * sigmoid(x) (`nonlinearity` / swish).
func swish(_ x: Tensor) -> Tensor {
    var out = x
    out.withUnsafeMutableBufferPointer { p in
        let p = p.baseAddress!
        let n = x.count
        parallelFor(n, grain: 1 << 16) { i in let v = p[i]; p[i] = v / (1 + _exp(-v)) }
    }
    return out
}
