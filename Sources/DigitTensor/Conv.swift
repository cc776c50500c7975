import Foundation

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
/// Implementation (see ``ConvTiling``): the output columns `(image, oy, ox)` are cut into tiles of
/// about ``Conv2dTuning/targetColumns`` columns — a piece of one image, or several whole small
/// images. Each task builds the im2col block `(C/g · kH · kW) × tile` of its tile in a per-thread
/// buffer (still in cache when the gemm packs it) and multiplies it by the group's weight
/// `(O/g) × (C/g · kH · kW)` with a single-threaded sgemm, writing straight into the output (small
/// images go through a per-thread buffer). A 1x1 stride-1 unpadded conv reads a tile of one image
/// in place, without im2col. Tasks are handed out dynamically over ``Threads/count`` threads; when
/// there are too few tiles for that, they run in turn with multi-threaded sgemms.
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
    let p = oh * ow, cg = c / groups, og = o / groups, hw = g.inH * g.inW
    let k = cg * g.kH * g.kW
    if n == 0 { return Tensor(zeros: [n, o, oh, ow]) }
    let plan = ConvTiling(images: n, columnsPerImage: p, depth: k, rowsPerGroup: og, groups: groups, threads: Threads.count)
    let workers = plan.parallel ? Threads.count : 1
    // Per-worker scratch: im2col block and (for multi-image tiles) the gemm result.
    let colSize = g.isPointwise && !plan.multiImage ? 0 : k * plan.maxColumns
    let tmpSize = plan.multiImage ? og * plan.maxColumns : 0

    return Tensor(shape: [n, o, oh, ow]) { out in
        x.withUnsafeBufferPointer { px in
            weight.withUnsafeBufferPointer { pw in
                withOptionalPointer(bias) { pb in
                    Scratch.with(count: workers * (colSize + tmpSize)) { sc in
                        let xs = px.baseAddress!, ws = pw.baseAddress!, os = out.baseAddress!
                        let kk = g.kH * g.kW
                        // Phase 1 of a task: im2col of image `i` of the tile, channels `chunk` of `chunks`.
                        func fill(_ t: ConvTiling.Task, _ col: UnsafeMutablePointer<Float>, image i: Int, chunk: Int, chunks: Int) {
                            let c0 = cg * chunk / chunks, c1 = cg * (chunk + 1) / chunks
                            if c0 == c1 { return }
                            let xImage = xs + ((t.image0 + i) * c + t.group * cg + c0) * hw
                            im2col(
                                xImage, channels: c1 - c0, geometry: g, columns: t.p0..<t.p1,
                                into: col + c0 * kk * t.columns + i * p, ldc: t.columns)
                        }
                        // Phase 2: output rows r0..<r1 of the group = weight rows × columns (+ bias).
                        func multiply(_ t: ConvTiling.Task, _ col: UnsafeMutablePointer<Float>?, rows r: Range<Int>) {
                            if r.isEmpty { return }
                            let a = ws + (t.group * og + r.lowerBound) * k
                            if !plan.multiImage {
                                // A piece of one image: straight into the output (ldc = p); a pointwise
                                // conv reads its columns in place.
                                let b = col.map { UnsafePointer($0) } ?? xs + (t.image0 * c + t.group * cg) * hw + t.p0
                                let dst = os + (t.image0 * o + t.group * og + r.lowerBound) * p + t.p0
                                Gemm.sgemm(m: r.count, n: t.columns, k: k, a: a, lda: k, b: b, ldb: col == nil ? p : t.columns, c: dst, ldc: p)
                                if let pb {
                                    for j in 0..<r.count {
                                        let v = pb[t.group * og + r.lowerBound + j], d = dst + j * p
                                        for i in 0..<t.columns { d[i] += v }
                                    }
                                }
                            } else {
                                // Whole images: into scratch, then scattered per image (+ bias).
                                let tmp = col! + colSize + r.lowerBound * t.columns
                                Gemm.sgemm(m: r.count, n: t.columns, k: k, a: a, lda: k, b: col!, ldb: t.columns, c: tmp, ldc: t.columns)
                                for j in 0..<r.count {
                                    let ch = t.group * og + r.lowerBound + j
                                    let v = pb?[ch] ?? 0
                                    for i in 0..<(t.image1 - t.image0) {
                                        let d = os + ((t.image0 + i) * o + ch) * p, src = tmp + j * t.columns + i * p
                                        for q in 0..<p { (d + q).initialize(to: src[q] + v) }
                                    }
                                }
                            }
                        }
                        let usesColumns = colSize > 0
                        Threads.withSingleThreadedBLAS {
                            if plan.parallel {
                                // Many tiles: each worker takes whole tasks.
                                let next = TaskCounter()
                                parallelFor(workers) { worker in
                                    let col = usesColumns ? sc + worker * (colSize + tmpSize) : nil
                                    while let i = next.take(below: plan.taskCount) {
                                        let t = plan.task(i)
                                        if let col {
                                            for im in 0..<(t.image1 - t.image0) { fill(t, col, image: im, chunk: 0, chunks: 1) }
                                        }
                                        multiply(t, col, rows: 0..<og)
                                    }
                                }
                            } else {
                                // Few tiles: all threads fill each tile (by image and channel chunk),
                                // then multiply it (by weight rows). No OpenBLAS threads are used.
                                let threads = Threads.count
                                let col = usesColumns ? sc : nil
                                for i in 0..<plan.taskCount {
                                    let t = plan.task(i)
                                    if let col {
                                        parallelFor((t.image1 - t.image0) * threads) { u in
                                            fill(t, col, image: u / threads, chunk: u % threads, chunks: threads)
                                        }
                                    }
                                    parallelFor(threads) { part in multiply(t, col, rows: (og * part / threads)..<(og * (part + 1) / threads)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// How ``conv2d(_:weight:bias:stride:padding:dilation:groups:)`` cuts its work into tasks.
///
/// Columns are the `(image, oy, ox)` output positions. An image with at least half a tile of
/// columns is cut into `round(P / target)` equal pieces; smaller images are grouped whole, in
/// equal-sized groups. Tasks are (group, column tile). With at least `2 · threads` tasks they run
/// concurrently, each with a single-threaded sgemm; with fewer (small feature maps, small batch)
/// they run one after another, all threads filling the tile's im2col block, then each multiplying
/// a share of the weight rows with a single-threaded sgemm. OpenBLAS's own threads are never
/// woken: on a small machine their spin-waiting after a threaded call competes with our workers.
public struct ConvTiling: Sendable {
    public let images: Int, columnsPerImage: Int, groups: Int, rowsPerGroup: Int
    /// True when a tile holds whole images (small feature maps).
    public let multiImage: Bool
    /// Pieces per image (single-image tiles) or images per tile (multi-image tiles).
    public let piecesPerImage: Int, imagesPerTile: Int
    public let tilesPerGroup: Int
    /// The widest tile, in columns.
    public let maxColumns: Int
    public let taskCount: Int
    /// True when tasks run concurrently with single-threaded BLAS.
    public let parallel: Bool

    public init(images n: Int, columnsPerImage p: Int, depth k: Int, rowsPerGroup og: Int, groups: Int, threads: Int) {
        images = n
        columnsPerImage = p
        self.groups = groups
        rowsPerGroup = og
        // Tile width: the target, but keep the im2col block within maxColumnBytes.
        let target = max(Conv2dTuning.minColumns, min(Conv2dTuning.targetColumns, Conv2dTuning.maxColumnBytes / (4 * max(k, 1))))
        multiImage = 2 * p < target
        if multiImage {
            let perTile = max(1, target / p)
            let tiles = (n + perTile - 1) / perTile
            imagesPerTile = (n + tiles - 1) / tiles
            tilesPerGroup = (n + imagesPerTile - 1) / imagesPerTile
            piecesPerImage = 1
            maxColumns = imagesPerTile * p
        } else {
            piecesPerImage = max(1, Int((Double(p) / Double(target)).rounded()))
            imagesPerTile = 1
            tilesPerGroup = n * piecesPerImage
            maxColumns = (p + piecesPerImage - 1) / piecesPerImage
        }
        taskCount = groups * tilesPerGroup
        parallel = threads > 1 && taskCount >= 2 * threads
    }

    /// One task's columns: a piece `p0..<p1` of image `image0` (`image1 = image0 + 1`), or whole
    /// images `image0..<image1` (`p0..<p1` = all columns).
    public struct Task: Sendable {
        public var group: Int, image0: Int, image1: Int, p0: Int, p1: Int
        /// The tile width: `p1 - p0` for a piece, `(image1 - image0) · P` for whole images.
        public var columns: Int
    }

    /// Task `i` (group-major).
    public func task(_ i: Int) -> Task {
        let tile = i % tilesPerGroup, group = i / tilesPerGroup
        if multiImage {
            let i0 = tile * imagesPerTile, i1 = min(images, i0 + imagesPerTile)
            return Task(group: group, image0: i0, image1: i1, p0: 0, p1: columnsPerImage, columns: (i1 - i0) * columnsPerImage)
        }
        let image = tile / piecesPerImage, piece = tile % piecesPerImage
        let width = (columnsPerImage + piecesPerImage - 1) / piecesPerImage
        let p0 = piece * width, p1 = min(columnsPerImage, p0 + width)
        return Task(group: group, image0: image, image1: image + 1, p0: p0, p1: p1, columns: p1 - p0)
    }
}

/// Tuning knobs of ``conv2d(_:weight:bias:stride:padding:dilation:groups:)`` (exposed for `bench conv`).
public enum Conv2dTuning {
    /// Target tile width in output columns.
    nonisolated(unsafe) public static var targetColumns = 512
    /// Minimum tile width (even when the im2col block then exceeds ``maxColumnBytes``).
    nonisolated(unsafe) public static var minColumns = 256
    /// Preferred upper bound on one im2col block (per thread).
    nonisolated(unsafe) public static var maxColumnBytes = 4 << 20
}

/// A reusable scratch buffer, so that repeated convolutions do not allocate (and page-fault)
/// megabytes per call. Concurrent users beyond the first get a fresh allocation.
enum Scratch {
    nonisolated(unsafe) private static var buffer: UnsafeMutablePointer<Float>?
    nonisolated(unsafe) private static var capacity = 0
    private static let lock = NSLock()

    /// Calls `body` with at least `count` uninitialised floats.
    static func with<R>(count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        let n = max(count, 1)
        guard lock.try() else {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            defer { p.deallocate() }
            return body(p)
        }
        defer { lock.unlock() }
        if capacity < n {
            buffer?.deallocate()
            buffer = .allocate(capacity: n)
            capacity = n
        }
        return body(buffer!)
    }
}

/// A shared counter handing out task indices to worker threads.
final class TaskCounter: @unchecked Sendable {
    private var next = 0
    private let lock = NSLock()

    /// The next index below `limit`, or nil when all are taken.
    func take(below limit: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < limit else { return nil }
        next += 1
        return next - 1
    }
}

/// Writes the im2col rows of one image (`channels` planes at `x`) for output positions
/// `columns` (flattened `oy·outW + ox`): row `(c, ki, kj)` at `into + row·ldc`, zero where the window
/// hits padding.
@usableFromInline
func im2col(
    _ x: UnsafePointer<Float>, channels: Int, geometry g: Conv2dGeometry, columns: Range<Int>,
    into cols: UnsafeMutablePointer<Float>, ldc: Int
) {
    let ow = g.outW, kk = g.kH * g.kW, hw = g.inH * g.inW, sw = g.strideW
    for row in 0..<(channels * kk) {
        let ch = row / kk, ki = (row % kk) / g.kW, kj = row % g.kW
        let src = x + ch * hw
        let dstRow = cols + row * ldc - columns.lowerBound
        // Output columns ox whose input column ix = ox·sw + off lies in [0, inW).
        let off = kj * g.dilationW - g.padding.left
        let x0 = off >= 0 ? 0 : min(ow, (-off + sw - 1) / sw)
        let x1 = max(x0, min(ow, (g.inW - off + sw - 1) / sw))
        var q = columns.lowerBound
        while q < columns.upperBound {
            let oy = q / ow, oxa = q % ow, oxb = min(ow, oxa + columns.upperBound - q)
            let d = dstRow + oy * ow  // d[ox] is column (oy, ox)
            let iy = oy * g.strideH - g.padding.top + ki * g.dilationH
            if iy < 0 || iy >= g.inH {
                (d + oxa).update(repeating: 0, count: oxb - oxa)
            } else {
                let s = src + iy * g.inW + off
                let lo = min(max(x0, oxa), oxb), hi = max(lo, min(x1, oxb))
                if lo > oxa { (d + oxa).update(repeating: 0, count: lo - oxa) }
                if sw == 1 {
                    (d + lo).update(from: s + lo, count: hi - lo)
                } else {
                    for ox in lo..<hi { d[ox] = s[ox * sw] }
                }
                if oxb > hi { (d + hi).update(repeating: 0, count: oxb - hi) }
            }
            q += oxb - oxa
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
