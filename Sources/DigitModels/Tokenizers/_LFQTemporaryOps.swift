// TEMPORARY stand-ins for DigitTensor ops (branch `tensor`: conv2d, groupNorm, silu, depthToSpace, add).
// Used only by LFQTokenizer.swift until that branch lands; then this file is deleted and the
// LFQ layer wrappers call the DigitTensor ops. Not a general API: keep it internal.
import DigitTensor
import Foundation

func devConv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int) -> Tensor {
    let (b, cin, h, w) = (x.dim(0), x.dim(1), x.dim(2), x.dim(3))
    let (cout, k) = (weight.dim(0), weight.dim(2))
    precondition(weight.dim(1) == cin)
    let ho = (h + 2 * padding - k) / stride + 1, wo = (w + 2 * padding - k) / stride + 1
    var out = Tensor(zeros: [b, cout, ho, wo])
    let kk = cin * k * k
    let rowsPerChunk = max(1, min(ho, (8 << 20) / max(1, kk * wo)))
    var cols = [Float](repeating: 0, count: kk * rowsPerChunk * wo)
    x.withUnsafeBufferPointer { px in
        weight.withUnsafeBufferPointer { pw in
            out.withUnsafeMutableBufferPointer { po in
                for bi in 0..<b {
                    let xb = px.baseAddress! + bi * cin * h * w
                    let ob = po.baseAddress! + bi * cout * ho * wo
                    var r0 = 0
                    while r0 < ho {
                        let nr = min(rowsPerChunk, ho - r0)
                        let n = nr * wo
                        cols.withUnsafeMutableBufferPointer { pc in
                            let pcb = pc.baseAddress!
                            parallelFor(kk) { row in
                                let c = row / (k * k), ki = (row / k) % k, kj = row % k
                                let dst = pcb + row * n
                                for r in 0..<nr {
                                    let iy = (r0 + r) * stride - padding + ki
                                    for ox in 0..<wo {
                                        let ix = ox * stride - padding + kj
                                        dst[r * wo + ox] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? xb[c * h * w + iy * w + ix] : 0
                                    }
                                }
                            }
                            Gemm.sgemm(m: cout, n: n, k: kk, a: pw.baseAddress!, lda: kk, b: pcb, ldb: n,
                                       c: ob + r0 * wo, ldc: ho * wo)
                        }
                        r0 += nr
                    }
                    if let bias {
                        bias.withUnsafeBufferPointer { pb in
                            parallelFor(cout) { co in
                                let o = ob + co * ho * wo
                                for i in 0..<(ho * wo) { o[i] += pb[co] }
                            }
                        }
                    }
                }
            }
        }
    }
    return out
}

func devGroupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
    let (b, c) = (x.dim(0), x.dim(1))
    let hw = x.count / (b * c)
    let cg = c / groups
    var out = x
    let wv = weight?.scalars, bv = bias?.scalars
    out.withUnsafeMutableBufferPointer { po in
        let p = po.baseAddress!
        parallelFor(b * groups) { bg in
            let base = p + bg * cg * hw
            var s = 0.0
            for i in 0..<(cg * hw) { s += Double(base[i]) }
            let mean = s / Double(cg * hw)
            var v = 0.0
            for i in 0..<(cg * hw) { let d = Double(base[i]) - mean; v += d * d }
            v /= Double(cg * hw)
            let inv = 1 / (v + Double(eps)).squareRoot()
            let g = bg % groups
            for cc in 0..<cg {
                let ch = g * cg + cc
                let sc = Float(inv) * (wv?[ch] ?? 1)
                let sh = (bv?[ch] ?? 0) - Float(mean) * sc
                let q = base + cc * hw
                for i in 0..<hw { q[i] = q[i] * sc + sh }
            }
        }
    }
    return out
}

func devSilu(_ x: Tensor) -> Tensor {
    var out = x
    out.withUnsafeMutableBufferPointer { p in
        let q = p.baseAddress!
        parallelFor(p.count, grain: 65536) { i in q[i] = q[i] / (1 + exp(-q[i])) }
    }
    return out
}

func devDepthToSpace(_ x: Tensor, blockSize s: Int) -> Tensor {
    let (b, c4, h, w) = (x.dim(0), x.dim(1), x.dim(2), x.dim(3))
    let c = c4 / (s * s)
    var out = Tensor(zeros: [b, c, h * s, w * s])
    x.withUnsafeBufferPointer { px in
        out.withUnsafeMutableBufferPointer { po in
            let pi = px.baseAddress!, q = po.baseAddress!
            parallelFor(b * c) { bc in
                let bi = bc / c, ch = bc % c
                for i in 0..<s { for j in 0..<s {
                    let src = pi + ((bi * c4) + (i * s + j) * c + ch) * h * w
                    let dst = q + bc * h * s * w * s
                    for y in 0..<h { for xx in 0..<w { dst[(y * s + i) * w * s + xx * s + j] = src[y * w + xx] } }
                } }
            }
        }
    }
    return out
}

func devAdd(_ a: Tensor, _ b: Tensor) -> Tensor {
    var out = a
    out.withUnsafeMutableBufferPointer { po in
        b.withUnsafeBufferPointer { pb in
            let q = po.baseAddress!, r = pb.baseAddress!
            parallelFor(po.count, grain: 65536) { i in q[i] += r[i] }
        }
    }
    return out
}
