// Data-movement ops: permutations, concatenation, slicing, gathers, pixel shuffles. All return
// new contiguous tensors.

extension Tensor {
    /// The dimensions reordered: output dim `i` is input dim `dims[i]` (reference: `torch.permute`
    /// followed by `.contiguous()`).
    public func permuted(_ dims: [Int]) -> Tensor {
        precondition(dims.sorted() == Array(0..<rank), "permuted: \(dims) is not a permutation of 0..<\(rank)")
        if dims == Array(0..<rank) { return self }
        let outShape = dims.map { shape[$0] }
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        let st = dims.map { inStrides[$0] }  // input stride of each output dim
        let inner = outShape.last!, innerStride = st.last!
        let rows = count / max(inner, 1)
        return Tensor(shape: outShape) { out in
            let o = out.baseAddress!
            withUnsafeBufferPointer { px in
                let s = px.baseAddress!
                parallelFor(rows, grain: max(1, 16_384 / max(inner, 1))) { r in
                    var rem = r, off = 0
                    var i = outShape.count - 2
                    while i >= 0 {
                        off += (rem % outShape[i]) * st[i]
                        rem /= outShape[i]
                        i -= 1
                    }
                    let dst = o + r * inner
                    if innerStride == 1 {
                        dst.initialize(from: s + off, count: inner)
                    } else {
                        for j in 0..<inner { (dst + j).initialize(to: s[off + j * innerStride]) }
                    }
                }
            }
        }
    }

    /// Dimensions `a` and `b` swapped (reference: `torch.transpose(x, a, b).contiguous()`).
    public func transposed(_ a: Int, _ b: Int) -> Tensor {
        var dims = Array(0..<rank)
        let a = a < 0 ? a + rank : a, b = b < 0 ? b + rank : b
        dims.swapAt(a, b)
        return permuted(dims)
    }

    /// Elements `range` along `axis` (reference: `x.narrow(axis, start, length)` / `x[..., a:b, ...]`).
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        let ax = axis < 0 ? axis + rank : axis
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[ax], "slice \(range) of axis \(ax) in \(shape)")
        let outer = shape[..<ax].reduce(1, *), inner = shape[(ax + 1)...].reduce(1, *)
        var outShape = shape
        outShape[ax] = range.count
        let block = range.count * inner, srcBlock = shape[ax] * inner
        return Tensor(shape: outShape) { out in
            let o = out.baseAddress!
            withUnsafeBufferPointer { px in
                let s = px.baseAddress! + range.lowerBound * inner
                for i in 0..<outer { (o + i * block).initialize(from: s + i * srcBlock, count: block) }
            }
        }
    }

    /// Index `i` along `axis`, removing that dimension (reference: `x.select(axis, i)`).
    public func select(axis: Int, _ i: Int) -> Tensor {
        let ax = axis < 0 ? axis + rank : axis
        var s = shape
        s.remove(at: ax)
        return slice(axis: ax, i..<(i + 1)).reshaped(s)
    }
}

/// Tensors joined along `axis`; all other dimensions must agree (reference: `torch.cat`).
public func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
    precondition(!tensors.isEmpty, "concat of no tensors")
    let first = tensors[0]
    let ax = axis < 0 ? axis + first.rank : axis
    for t in tensors {
        precondition(
            t.rank == first.rank && t.shape[..<ax] == first.shape[..<ax] && t.shape[(ax + 1)...] == first.shape[(ax + 1)...],
            "concat: \(t.shape) vs \(first.shape) along axis \(ax)")
    }
    let outer = first.shape[..<ax].reduce(1, *), inner = first.shape[(ax + 1)...].reduce(1, *)
    var outShape = first.shape
    outShape[ax] = tensors.reduce(0) { $0 + $1.shape[ax] }
    let outBlock = outShape[ax] * inner
    var out = Tensor(zeros: outShape)
    out.withUnsafeMutableBufferPointer { po in
        var offset = 0
        for t in tensors {
            let block = t.shape[ax] * inner
            t.withUnsafeBufferPointer { pt in
                let s = pt.baseAddress!, o = po.baseAddress! + offset
                parallelFor(outer, grain: max(1, 16_384 / max(block, 1))) { i in
                    (o + i * outBlock).update(from: s + i * block, count: block)
                }
            }
            offset += block
        }
    }
    return out
}

/// Rows of `table` (V, D) selected by `indices` (reference: `torch.nn.functional.embedding`).
///
/// - Returns: `shape + [D]` (default: `[indices.count, D]`).
public func embedding(_ table: Tensor, indices: [Int], shape: [Int]? = nil) -> Tensor {
    precondition(table.rank == 2, "embedding: table \(table.shape) must be (V, D)")
    let v = table.shape[0], d = table.shape[1]
    let outShape = (shape ?? [indices.count]) + [d]
    precondition(outShape.product == indices.count * d, "embedding: shape \(shape ?? []) for \(indices.count) indices")
    return Tensor(shape: outShape) { out in
        let o = out.baseAddress!
        table.withUnsafeBufferPointer { pt in
            for (r, i) in indices.enumerated() {
                precondition(i >= 0 && i < v, "embedding: index \(i) outside 0..<\(v)")
                (o + r * d).initialize(from: pt.baseAddress! + i * d, count: d)
            }
        }
    }
}

/// (N, C·r², H, W) → (N, C, H·r, W·r) with `out[c, h·r+i, w·r+j] = in[c·r² + i·r + j, h, w]`
/// (reference: `torch.nn.functional.pixel_shuffle`).
public func pixelShuffle(_ x: Tensor, upscale r: Int) -> Tensor {
    spaceDepth(x, r: r, toSpace: true) { c, i, j, _ in c * r * r + i * r + j }
}

/// (N, C, H·r, W·r) → (N, C·r², H, W), the inverse of ``pixelShuffle(_:upscale:)``
/// (reference: `torch.nn.functional.pixel_unshuffle`).
public func pixelUnshuffle(_ x: Tensor, downscale r: Int) -> Tensor {
    spaceDepth(x, r: r, toSpace: false) { c, i, j, _ in c * r * r + i * r + j }
}

/// Depth-to-space in DCR order: (N, r²·C, H, W) → (N, C, H·r, W·r) with
/// `out[c, h·r+i, w·r+j] = in[(i·r + j)·C + c, h, w]` (reference: Open-MAGVIT2's `DepthToSpace`
/// / `einops.rearrange(x, "b (h1 w1 c) h w -> b c (h h1) (w w1)")`, TensorFlow `depth_to_space`).
public func depthToSpace(_ x: Tensor, block r: Int) -> Tensor {
    spaceDepth(x, r: r, toSpace: true) { c, i, j, channels in (i * r + j) * channels + c }
}

/// Space-to-depth in DCR order, the inverse of ``depthToSpace(_:block:)``:
/// (N, C, H·r, W·r) → (N, r²·C, H, W) with `out[(i·r + j)·C + c, h, w] = in[c, h·r+i, w·r+j]`.
public func spaceToDepth(_ x: Tensor, block r: Int) -> Tensor {
    spaceDepth(x, r: r, toSpace: false) { c, i, j, channels in (i * r + j) * channels + c }
}

/// Shared kernel: `depthChannel(c, i, j, C)` is the deep-side channel of shallow channel `c`,
/// sub-position `(i, j)`; `C` is the shallow channel count.
private func spaceDepth(
    _ x: Tensor, r: Int, toSpace: Bool, depthChannel: @escaping (Int, Int, Int, Int) -> Int
) -> Tensor {
    precondition(x.rank == 4 && r > 0, "expected NCHW, got \(x.shape)")
    let n = x.shape[0]
    let c: Int, h: Int, w: Int  // shallow channels, deep-side spatial size
    if toSpace {
        precondition(x.shape[1] % (r * r) == 0, "channels \(x.shape[1]) not divisible by \(r * r)")
        (c, h, w) = (x.shape[1] / (r * r), x.shape[2], x.shape[3])
    } else {
        precondition(x.shape[2] % r == 0 && x.shape[3] % r == 0, "spatial size of \(x.shape) not divisible by \(r)")
        (c, h, w) = (x.shape[1], x.shape[2] / r, x.shape[3] / r)
    }
    let outShape = toSpace ? [n, c, h * r, w * r] : [n, c * r * r, h, w]
    return Tensor(shape: outShape) { out in
        let o = out.baseAddress!
        x.withUnsafeBufferPointer { px in
            let s = px.baseAddress!
            // One task per (image, shallow channel, sub-row i).
            parallelFor(n * c * r) { t in
                let i = t % r, ch = (t / r) % c, img = t / (r * c)
                for j in 0..<r {
                    let dc = depthChannel(ch, i, j, c)
                    let deepBase = (img * c * r * r + dc) * h * w
                    let spaceBase = (img * c + ch) * h * r * w * r
                    for yy in 0..<h {
                        for xx in 0..<w {
                            let di = deepBase + yy * w + xx
                            let si = spaceBase + (yy * r + i) * (w * r) + xx * r + j
                            if toSpace { (o + si).initialize(to: s[di]) } else { (o + di).initialize(to: s[si]) }
                        }
                    }
                }
            }
        }
    }
}
