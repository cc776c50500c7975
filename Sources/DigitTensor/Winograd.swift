import CKernels
import Foundation

/// Winograd minimal filtering F(m×m, 3×3) for 3×3, stride-1, undilated, ungrouped convolutions
/// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016).
///
/// The output is cut into m×m tiles; each reads an α×α input tile (α = m + 2). With the
/// transforms `V = Bᵀ d B` (input tile), `U = G g Gᵀ` (filter) and `Y = Aᵀ M A` (output tile), the
/// convolution becomes α² independent products `M_e = U_e · V_e` of (O × C) by (C × tiles) — sgemms
/// with `m²·9/α²` times fewer multiply-adds than im2col's: 2.25× for m = 2, 4× for m = 4.
///
/// Rounding: the transforms add float32 sums of up to α terms with coefficients up to 8 (m = 4), so
/// the error is larger than im2col's; `WinogradTests` measures it against a float64 loop
/// (docs/conv-perf.md states the bounds). m = 2 stays within a few ulps of the im2col result.
public struct WinogradTile: Sendable, Equatable {
    /// Output tile side m (2 or 4).
    public let m: Int
    /// Input tile side α = m + 2.
    public var alpha: Int { m + 2 }

    public init(_ m: Int) {
        precondition(m == 2 || m == 4, "Winograd F(m×m, 3×3) is implemented for m = 2 and 4, not \(m)")
        self.m = m
    }

    /// Bᵀ (α × α), row-major.
    var bT: [Float] { m == 2 ? Self.bT2 : Self.bT4 }
    /// G (α × 3), row-major, in float64 (the filter transform is done once, in float64).
    var g: [Double] { m == 2 ? Self.g2 : Self.g4 }
    /// Aᵀ (m × α), row-major.
    var aT: [Float] { m == 2 ? Self.aT2 : Self.aT4 }

    static let bT2: [Float] = [
        1, 0, -1, 0,
        0, 1, 1, 0,
        0, -1, 1, 0,
        0, 1, 0, -1,
    ]
    static let g2: [Double] = [
        1, 0, 0,
        0.5, 0.5, 0.5,
        0.5, -0.5, 0.5,
        0, 0, 1,
    ]
    static let aT2: [Float] = [
        1, 1, 1, 0,
        0, 1, -1, -1,
    ]
    static let bT4: [Float] = [
        4, 0, -5, 0, 1, 0,
        0, -4, -4, 1, 1, 0,
        0, 4, -4, -1, 1, 0,
        0, -2, -1, 2, 1, 0,
        0, 2, -1, -2, 1, 0,
        0, 4, 0, -5, 0, 1,
    ]
    static let g4: [Double] = {
        let s: Double = 1.0 / 6, t: Double = 1.0 / 12, q: Double = 1.0 / 24
        let rows: [[Double]] = [[0.25, 0, 0], [-s, -s, -s], [-s, s, -s], [q, t, s], [q, -t, s], [0, 0, 1]]
        return rows.flatMap { $0 }
    }()
    static let aT4: [Float] = [
        1, 1, 1, 1, 1, 0,
        0, 1, -1, 2, -2, 0,
        0, 1, 1, 4, 4, 0,
        0, 1, -1, 8, -8, 1,
    ]
}

/// The filter of a 3×3 convolution in the Winograd domain: `U_e = (G g Gᵀ)_e` as (α², O, C).
/// Computed once per layer (``Conv2dWinogradCache``); α²/9 times the size of the weight.
public struct WinogradWeights: Sendable {
    public let tile: WinogradTile
    public let outChannels: Int, inChannels: Int
    /// (α², O, C)
    public let u: Tensor

    /// - Parameter weight: (O, C, 3, 3), as stored by `nn.Conv2d`.
    public init(_ weight: Tensor, tile: WinogradTile) {
        precondition(weight.rank == 4 && weight.dim(2) == 3 && weight.dim(3) == 3, "Winograd needs a 3x3 weight, got \(weight.shape)")
        self.tile = tile
        let o = weight.dim(0), c = weight.dim(1), a = tile.alpha, gm = tile.g
        outChannels = o
        inChannels = c
        u = Tensor(shape: [a * a, o, c]) { out in
            weight.withUnsafeBufferPointer { pw in
                parallelFor(o) { oi in
                    var t = [Double](repeating: 0, count: a * 3)
                    for ci in 0..<c {
                        let w = pw.baseAddress! + (oi * c + ci) * 9
                        // t = G g (α × 3)
                        for r in 0..<a {
                            for j in 0..<3 {
                                t[r * 3 + j] = gm[r * 3] * Double(w[j]) + gm[r * 3 + 1] * Double(w[3 + j]) + gm[r * 3 + 2] * Double(w[6 + j])
                            }
                        }
                        // U = t Gᵀ (α × α)
                        for r in 0..<a {
                            for s in 0..<a {
                                let v = t[r * 3] * gm[s * 3] + t[r * 3 + 1] * gm[s * 3 + 1] + t[r * 3 + 2] * gm[s * 3 + 2]
                                (out.baseAddress! + ((r * a + s) * o + oi) * c + ci).initialize(to: Float(v))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A layer's lazily computed ``WinogradWeights`` (thread-safe; computed on first use, kept).
public final class Conv2dWinogradCache: @unchecked Sendable {
    private var weights: WinogradWeights?
    private let lock = NSLock()

    public init() {}

    /// The transformed `weight` for `tile`, computed on the first call.
    public func weights(for weight: Tensor, tile: WinogradTile) -> WinogradWeights {
        lock.lock()
        defer { lock.unlock() }
        if let w = weights, w.tile == tile { return w }
        let w = WinogradWeights(weight, tile: tile)
        weights = w
        return w
    }
}

/// Tuning knobs of ``conv2dWinograd(_:weights:bias:padding:)`` (exposed for `bench conv`).
public enum WinogradTuning {
    /// Target tiles per task (the column count of each of the α² sgemms);
    /// `DIGIT_BENCH_WINOGRAD_TILES=n` for tuning runs.
    nonisolated(unsafe) public static var targetTiles = ProcessInfo.processInfo.environment["DIGIT_BENCH_WINOGRAD_TILES"]
        .flatMap { Int($0) }.map { max(1, $0) } ?? 512
    /// Upper bound on one task's transformed input + gemm output, per thread.
    nonisolated(unsafe) public static var maxTaskBytes = 12 << 20
    /// Which input/output transforms run (`DIGIT_BENCH_WINOGRAD_TRANSFORMS=swift|avx2|avx512` for A/B
    /// runs; default: the best this CPU has). All give the same bits.
    nonisolated(unsafe) public static var transforms: WinogradTransforms = {
        switch ProcessInfo.processInfo.environment["DIGIT_BENCH_WINOGRAD_TRANSFORMS"] {
        case "swift": return .swift
        case "avx2": return .avx2
        case "avx512": return .avx512
        default: return .best
        }
    }()
}

/// The implementation of the Winograd input and output transforms: the portable Swift ones (four
/// SIMD lanes) or CKernels' AVX2+FMA (8 lanes) / AVX-512 (16 lanes) ones, chosen at run time. Same
/// formulas in the same order: the results are bit-identical (`WinogradTests`).
public enum WinogradTransforms: Sendable, Equatable {
    case swift, avx2, avx512
    /// AVX-512 if the CPU has it, else AVX2 + FMA, else Swift.
    case best

    /// The CKernels `isa` argument (0: Swift), capped by what this CPU has.
    var isa: Int32 {
        let have = dbk_winograd_isa()
        switch self {
        case .swift: return 0
        case .avx2: return min(1, have)
        case .avx512: return have >= 2 ? 2 : min(1, have)
        case .best: return have
        }
    }

    /// The transforms that ``best`` selects on this CPU.
    public static var available: WinogradTransforms {
        switch dbk_winograd_isa() {
        case 2: return .avx512
        case 1: return .avx2
        default: return .swift
        }
    }
}

/// 3×3 stride-1 convolution by Winograd F(m×m, 3×3) (reference: `torch.nn.functional.conv2d` with
/// a 3×3 weight, stride 1, dilation 1, groups 1; any zero padding).
///
/// Work is cut per image into blocks of tile rows (so an image's result does not depend on the
/// batch it is in); each task transforms its input tiles into α² (C × T) matrices, runs α²
/// single-threaded sgemms with the transformed filter, and transforms the products back into the
/// output. With fewer tasks than `2 · threads` the tasks run in turn, each stage split over threads.
///
/// - Parameters:
///   - x: (N, C, H, W)
///   - weights: the transformed (O, C, 3, 3) filter
///   - bias: (O) or nil
/// - Returns: (N, O, H + pt + pb − 2, W + pl + pr − 2)
public func conv2dWinograd(_ x: Tensor, weights: WinogradWeights, bias: Tensor? = nil, padding: Padding2d) -> Tensor {
    precondition(x.rank == 4 && x.dim(1) == weights.inChannels, "conv2dWinograd: x \(x.shape) for \(weights.inChannels) input channels")
    let n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3), o = weights.outChannels
    if let bias { precondition(bias.count == o, "conv2dWinograd: bias \(bias.shape) for \(o) output channels") }
    let oh = h + padding.top + padding.bottom - 2, ow = w + padding.left + padding.right - 2
    precondition(oh > 0 && ow > 0, "conv2dWinograd: output size \(oh)x\(ow) for input \(x.shape)")
    if n == 0 { return Tensor(zeros: [n, o, oh, ow]) }
    return Tensor(shape: [n, o, oh, ow]) { out in
        x.withUnsafeBufferPointer { px in
            conv2dWinograd(
                px.baseAddress!, batch: n, height: h, width: w, layout: .nchw(channels: c, height: h, width: w),
                weights: weights, padding: padding, epilogue: .bias(bias?.scalars),
                into: out.baseAddress!, layout: .nchw(channels: o, height: oh, width: ow))
        }
    }
}

/// Where the (image, channel) planes of an activation live: plane (i, c) starts at
/// `i · imageStride + c · channelStride` floats (rows of `width` floats, contiguous).
public struct PlaneLayout: Sendable, Equatable {
    public var imageStride: Int, channelStride: Int

    public init(imageStride: Int, channelStride: Int) {
        self.imageStride = imageStride
        self.channelStride = channelStride
    }

    /// (N, C, H, W)
    public static func nchw(channels: Int, height: Int, width: Int) -> PlaneLayout {
        PlaneLayout(imageStride: channels * height * width, channelStride: height * width)
    }

    /// (C, N, H, W): channel-major with the images of a group inside (the FID Inception's layout).
    public static func cnhw(batch: Int, height: Int, width: Int) -> PlaneLayout {
        PlaneLayout(imageStride: height * width, channelStride: batch * height * width)
    }
}

/// What ``conv2dWinograd(_:batch:height:width:layout:weights:padding:epilogue:into:layout:tasksSpanImages:onCallingThread:)``
/// applies to each output channel's convolution sum `s`.
public enum WinogradEpilogue: Sendable {
    /// `s + bias[o]` (`s` when nil), added inside the output transform (`F.conv2d`).
    case bias([Float]?)
    /// `max(s · scale[o] + shift[o], 0)`: a folded eval-mode BatchNorm then ReLU, in torch's CPU
    /// kernel order (multiply, then add).
    case scaleShiftReLU(scale: [Float], shift: [Float])
}

/// ``conv2dWinograd(_:weights:bias:padding:)`` on raw planes: `batch` images of
/// `weights.inChannels` planes `height`×`width` at `x` (placed by `inLayout`) into `weights.outChannels`
/// planes of the output size at `out` (placed by `outLayout`).
///
/// - `tasksSpanImages`: a task may take tile rows of consecutive images (more columns per sgemm
///   for small images). An image's result still depends only on its own tiles as long as sgemm
///   computes each output column independently of the others, which the FID Inception relies on
///   for its im2col path too (its batch-invariance test covers this).
/// - `onCallingThread`: run every stage on the calling thread (the caller already parallelises,
///   e.g. one group of images per worker inside `Threads.withSingleThreadedBLAS`).
/// - `transforms`: the transform implementation (nil: ``WinogradTuning/transforms``).
public func conv2dWinograd(
    _ x: UnsafePointer<Float>, batch n: Int, height h: Int, width w: Int, layout inLayout: PlaneLayout,
    weights: WinogradWeights, padding: Padding2d, epilogue: WinogradEpilogue,
    into out: UnsafeMutablePointer<Float>, layout outLayout: PlaneLayout,
    tasksSpanImages: Bool = false, onCallingThread: Bool = false, transforms: WinogradTransforms? = nil
) {
    let c = weights.inChannels, o = weights.outChannels
    let oh = h + padding.top + padding.bottom - 2, ow = w + padding.left + padding.right - 2
    precondition(oh > 0 && ow > 0, "conv2dWinograd: output size \(oh)x\(ow) for input \(h)x\(w)")
    if n == 0 { return }
    let bias: [Float]?, scale: [Float]?, shift: [Float]?
    switch epilogue {
    case .bias(let b):
        (bias, scale, shift) = (b, nil, nil)
        if let b { precondition(b.count == o, "conv2dWinograd: \(b.count) biases for \(o) output channels") }
    case .scaleShiftReLU(let a, let b):
        precondition(a.count == o && b.count == o, "conv2dWinograd: \(a.count) scales, \(b.count) shifts for \(o) output channels")
        (bias, scale, shift) = (nil, a, b)
    }
    let tile = weights.tile, m = tile.m, a = tile.alpha, aa = a * a
    let isa = (transforms ?? WinogradTuning.transforms).isa
    let tilesH = (oh + m - 1) / m, tilesW = (ow + m - 1) / m
    // Tile rows per task: about targetTiles tiles, within maxTaskBytes; balanced blocks per image
    // (or over all images' rows with tasksSpanImages). Row g of the task list is tile row
    // g % tilesH of image g / tilesH.
    let perRowBytes = aa * (c + o) * tilesW * 4
    let wantRows = max(1, min((WinogradTuning.targetTiles + tilesW - 1) / tilesW, WinogradTuning.maxTaskBytes / max(perRowBytes, 1)))
    let spanRows = tasksSpanImages ? n * tilesH : tilesH
    let blocks = (spanRows + wantRows - 1) / wantRows
    let rowsPerTask = (spanRows + blocks - 1) / blocks
    let blocksPerSpan = (spanRows + rowsPerTask - 1) / rowsPerTask
    let taskCount = tasksSpanImages ? blocksPerSpan : n * blocksPerSpan
    let threads = onCallingThread ? 1 : Threads.count
    let parallel = threads > 1 && taskCount >= 2 * threads
    let workers = parallel ? threads : 1
    let maxT = rowsPerTask * tilesW
    // Row buffers: α padded input rows and α transformed rows of width wp, plus m phases of
    // (tilesW + 2) for each of α rows; the output side needs m·α rows of tilesW and m² of tilesW.
    let wp = m * tilesW + 2, phaseW = tilesW + 2
    let rowScratch = max(2 * a * wp + a * m * phaseW, (m * a + m * m) * tilesW)
    let vSize = aa * c * maxT, mSize = aa * o * maxT
    // Sequential mode: one V and M, and one row scratch per thread.
    let perWorker = parallel ? vSize + mSize + rowScratch : 0
    let scratchCount = parallel ? workers * perWorker : vSize + mSize + threads * rowScratch

    weights.u.withUnsafeBufferPointer { pu in
        withOptionalPointer(bias) { pb in
            withOptionalPointer(scale) { ps in
                withOptionalPointer(shift) { pt in
                    Scratch.with(count: scratchCount) { sc in
                        let xs = x, us = pu.baseAddress!, os = out

                        /// Input transform of the task's channels `chans` into V (α², C, T).
                        func transformInput(rows g0: Int, _ g1: Int, chans: Range<Int>, v: UnsafeMutablePointer<Float>, rows: UnsafeMutablePointer<Float>) {
                            let t = (g1 - g0) * tilesW
                            if isa > 0, dbk_winograd_input(
                                isa, Int32(m), xs, Int64(inLayout.imageStride), Int64(inLayout.channelStride), Int64(h), Int64(w),
                                Int64(padding.top), Int64(padding.left), Int64(tilesH), Int64(tilesW), Int64(g0), Int64(g1),
                                Int64(chans.lowerBound), Int64(chans.upperBound), Int64(c), v) != 0 { return }
                            let padded = rows, trans = rows + a * wp, phases = rows + 2 * a * wp
                            for ch in chans {
                                for g in g0..<g1 {
                                    let ty = g % tilesH
                                    let plane = xs + (g / tilesH) * inLayout.imageStride + ch * inLayout.channelStride
                                    // α input rows m·ty − pt + k, columns −pl ..< −pl + wp, zero outside.
                                    for k in 0..<a {
                                        let iy = m * ty - padding.top + k
                                        let d = padded + k * wp
                                        if iy < 0 || iy >= h {
                                            d.update(repeating: 0, count: wp)
                                            continue
                                        }
                                        let x0 = padding.left, x1 = min(wp, padding.left + w)  // d[x0..<x1] from the row
                                        if x0 > 0 { d.update(repeating: 0, count: min(x0, wp)) }
                                        if x1 > x0 { (d + x0).update(from: plane + iy * w, count: x1 - x0) }
                                        if x1 < wp { (d + max(x1, x0)).update(repeating: 0, count: wp - max(x1, x0)) }
                                    }
                                    // Bᵀ d along rows, vectorised over columns.
                                    inputTransform(m: m, { k in UnsafePointer(padded + k * wp) }, trans, stride: wp, count: wp)
                                    // Deinterleave each row into m phases: phase q, index j = column m·j + q.
                                    for r in 0..<a { deinterleave(trans + r * wp, count: wp, m: m, into: phases + r * m * phaseW, phaseStride: phaseW) }
                                    // (Bᵀ d) B along columns: element (r, s) of tile tx is Σ_k Bᵀ[s][k] t[r][m·tx + k],
                                    // where column m·tx + k is phase k % m at index tx + k / m.
                                    let base = (g - g0) * tilesW
                                    for r in 0..<a {
                                        let ph = UnsafePointer(phases + r * m * phaseW)
                                        let dst = v + ((r * a) * c + ch) * t + base
                                        inputTransform(m: m, { k in ph + (k % m) * phaseW + k / m }, dst, stride: c * t, count: tilesW)
                                    }
                                }
                            }
                        }

                        /// α² products M_e = U_e V_e for e in `es`.
                        func multiply(t: Int, es: Range<Int>, v: UnsafeMutablePointer<Float>, mm: UnsafeMutablePointer<Float>) {
                            for e in es {
                                Gemm.sgemm(
                                    m: o, n: t, k: c, a: us + e * o * c, lda: c, b: v + e * c * t, ldb: t,
                                    c: mm + e * o * t, ldc: t)
                            }
                        }

                        /// Output transform of channels `chans` from M (α², O, T) into the output (+ epilogue).
                        func transformOutput(rows g0: Int, _ g1: Int, chans: Range<Int>, mm: UnsafeMutablePointer<Float>, rows: UnsafeMutablePointer<Float>) {
                            let t = (g1 - g0) * tilesW
                            if isa > 0, dbk_winograd_output(
                                isa, Int32(m), mm, Int64(o), Int64(tilesH), Int64(tilesW), Int64(g0), Int64(g1),
                                Int64(chans.lowerBound), Int64(chans.upperBound), os, Int64(outLayout.imageStride),
                                Int64(outLayout.channelStride), Int64(oh), Int64(ow), pb, ps, pt) != 0 { return }
                            let wrows = rows, yrows = rows + m * a * tilesW
                            for oc in chans {
                                let bv = pb?[oc] ?? 0
                                for g in g0..<g1 {
                                    let ty = g % tilesH
                                    let plane = os + (g / tilesH) * outLayout.imageStride + oc * outLayout.channelStride
                                    let base = (g - g0) * tilesW
                                    // w[i][s] = Σ_r Aᵀ[i][r] M[(r, s)] (over the tile row), vectorised over tiles.
                                    for s in 0..<a {
                                        let src = UnsafePointer(mm + (s * o + oc) * t + base), planeStride = a * o * t
                                        outputTransform(m: m, { r in src + r * planeStride }, wrows + s * tilesW, stride: a * tilesW, count: tilesW, bias: 0)
                                    }
                                    // y[i][j] = Σ_s Aᵀ[j][s] w[i][s] + bias.
                                    for i in 0..<m {
                                        let src = UnsafePointer(wrows + i * a * tilesW)
                                        outputTransform(m: m, { s in src + s * tilesW }, yrows + i * m * tilesW, stride: tilesW, count: tilesW, bias: bv)
                                    }
                                    // Interleave into output rows m·ty + i, columns m·tx + j (clipped).
                                    for i in 0..<m where m * ty + i < oh {
                                        let row = plane + (m * ty + i) * ow
                                        interleave(yrows + i * m * tilesW, phaseStride: tilesW, m: m, into: row, count: ow)
                                        if let ps, let pt { scaleShiftReLU(row, count: ow, scale: ps[oc], shift: pt[oc]) }
                                    }
                                }
                            }
                        }

                        /// Task i's tile rows [g0, g1) of the task list.
                        func task(_ i: Int) -> (Int, Int) {
                            let span = i / blocksPerSpan, b = i % blocksPerSpan
                            return (span * spanRows + b * rowsPerTask, span * spanRows + min(spanRows, (b + 1) * rowsPerTask))
                        }

                        Threads.withSingleThreadedBLAS {
                            if parallel {
                                let next = TaskCounter()
                                parallelFor(workers) { worker in
                                    let v = sc + worker * perWorker, mm = v + vSize, rows = mm + mSize
                                    while let i = next.take(below: taskCount) {
                                        let (g0, g1) = task(i)
                                        transformInput(rows: g0, g1, chans: 0..<c, v: v, rows: rows)
                                        multiply(t: (g1 - g0) * tilesW, es: 0..<aa, v: v, mm: mm)
                                        transformOutput(rows: g0, g1, chans: 0..<o, mm: mm, rows: rows)
                                    }
                                }
                            } else if threads == 1 {
                                let v = sc, mm = sc + vSize, rows = mm + mSize
                                for i in 0..<taskCount {
                                    let (g0, g1) = task(i)
                                    transformInput(rows: g0, g1, chans: 0..<c, v: v, rows: rows)
                                    multiply(t: (g1 - g0) * tilesW, es: 0..<aa, v: v, mm: mm)
                                    transformOutput(rows: g0, g1, chans: 0..<o, mm: mm, rows: rows)
                                }
                            } else {
                                let v = sc, mm = sc + vSize, rows = mm + mSize
                                for i in 0..<taskCount {
                                    let (g0, g1) = task(i)
                                    let t = (g1 - g0) * tilesW
                                    parallelFor(threads) { p in
                                        transformInput(rows: g0, g1, chans: (c * p / threads)..<(c * (p + 1) / threads), v: v, rows: rows + p * rowScratch)
                                    }
                                    parallelFor(threads) { p in multiply(t: t, es: (aa * p / threads)..<(aa * (p + 1) / threads), v: v, mm: mm) }
                                    parallelFor(threads) { p in
                                        transformOutput(rows: g0, g1, chans: (o * p / threads)..<(o * (p + 1) / threads), mm: mm, rows: rows + p * rowScratch)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `row[i] = max(row[i] · scale + shift, 0)` (multiply, then add: no fused multiply-add).
@inline(__always)
func scaleShiftReLU(_ row: UnsafeMutablePointer<Float>, count: Int, scale: Float, shift: Float) {
    for i in 0..<count { row[i] = max(row[i] * scale + shift, 0) }
}

@inline(__always)
func withOptionalPointer<R>(_ a: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let a else { return body(nil) }
    return a.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// Whether ``conv2dWinograd(_:weights:bias:padding:)`` computes this convolution: a 3×3 kernel,
/// stride 1, dilation 1, one group.
public func winogradApplies(kernel: (Int, Int), stride: (Int, Int), dilation: (Int, Int), groups: Int) -> Bool {
    kernel == (3, 3) && stride == (1, 1) && dilation == (1, 1) && groups == 1
}

/// How a ``Conv2d``-style layer computes its convolution (chosen per layer by the model).
public enum Conv2dAlgorithm: Sendable, Equatable {
    /// ``conv2d(_:weight:bias:stride:padding:dilation:groups:)``: tiled im2col + sgemm.
    case im2col
    /// ``conv2dWinograd(_:weights:bias:padding:)`` with F(tile×tile, 3×3) when the conv is 3×3,
    /// stride 1, undilated and ungrouped and its output has at least `minOutputPixels` positions
    /// per image (a property of the layer and image size, never of the batch); im2col otherwise.
    case winograd(tile: Int, minOutputPixels: Int)

    /// `DIGIT_BENCH_CONV=im2col` makes every layer use im2col, `winograd2` / `winograd4` makes the
    /// Winograd layers use that tile (for A/B timing and error checks in one binary).
    nonisolated(unsafe) public static var override: Conv2dAlgorithm? = {
        switch ProcessInfo.processInfo.environment["DIGIT_BENCH_CONV"] {
        case "im2col": return .im2col
        case "winograd2": return .winograd(tile: 2, minOutputPixels: 0)
        case "winograd4": return .winograd(tile: 4, minOutputPixels: 0)
        default: return nil
        }
    }()

    /// The algorithm a layer configured with `self` uses for an output of `pixels` positions per
    /// image: the tile if Winograd applies at that size (and is not overridden), else nil.
    public func winogradTile(outputPixels pixels: Int) -> Int? {
        guard case .winograd(let tile, let minPixels) = self, pixels >= minPixels else { return nil }
        switch Self.override {
        case .im2col?: return nil
        case .winograd(let t, _)?: return t
        case nil: return tile
        }
    }
}

/// `phases[q·phaseStride + j] = src[m·j + q]` for every `m·j + q < count` (m = 2 or 4), four
/// tiles at a time through SIMD shuffles.
@inline(__always)
func deinterleave(_ src: UnsafePointer<Float>, count: Int, m: Int, into phases: UnsafeMutablePointer<Float>, phaseStride: Int) {
    let full = count / m, raw = UnsafeRawPointer(src)
    var j = 0
    if m == 4 {
        let d0 = phases, d1 = phases + phaseStride, d2 = phases + 2 * phaseStride, d3 = phases + 3 * phaseStride
        while j + 4 <= full {
            let v = raw.loadUnaligned(fromByteOffset: 16 &* j, as: SIMD16<Float>.self)
            let e = v.evenHalf, o = v.oddHalf
            storeLanes(d0 + j, 4, e.evenHalf)
            storeLanes(d1 + j, 4, o.evenHalf)
            storeLanes(d2 + j, 4, e.oddHalf)
            storeLanes(d3 + j, 4, o.oddHalf)
            j += 4
        }
    } else {
        let d0 = phases, d1 = phases + phaseStride
        while j + 4 <= full {
            let v = raw.loadUnaligned(fromByteOffset: 8 &* j, as: SIMD8<Float>.self)
            storeLanes(d0 + j, 4, v.evenHalf)
            storeLanes(d1 + j, 4, v.oddHalf)
            j += 4
        }
    }
    for k in (m * j)..<count { phases[(k % m) * phaseStride + k / m] = src[k] }
}

/// `dst[m·j + q] = phases[q·phaseStride + j]` for every `m·j + q < count` (the inverse of
/// ``deinterleave(_:count:m:into:phaseStride:)``).
@inline(__always)
func interleave(_ phases: UnsafePointer<Float>, phaseStride: Int, m: Int, into dst: UnsafeMutablePointer<Float>, count: Int) {
    let full = count / m, raw = UnsafeMutableRawPointer(dst)
    var j = 0
    if m == 4 {
        let s0 = phases, s1 = phases + phaseStride, s2 = phases + 2 * phaseStride, s3 = phases + 3 * phaseStride
        while j + 4 <= full {
            let a = loadLanes(s0 + j, 4), b = loadLanes(s1 + j, 4), c = loadLanes(s2 + j, 4), d = loadLanes(s3 + j, 4)
            let v = SIMD16<Float>(
                a[0], b[0], c[0], d[0], a[1], b[1], c[1], d[1], a[2], b[2], c[2], d[2], a[3], b[3], c[3], d[3])
            raw.storeBytes(of: v, toByteOffset: 16 &* j, as: SIMD16<Float>.self)
            j += 4
        }
    } else {
        let s0 = phases, s1 = phases + phaseStride
        while j + 4 <= full {
            let a = loadLanes(s0 + j, 4), b = loadLanes(s1 + j, 4)
            let v = SIMD8<Float>(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3])
            raw.storeBytes(of: v, toByteOffset: 8 &* j, as: SIMD8<Float>.self)
            j += 4
        }
    }
    for k in (m * j)..<count { dst[k] = phases[(k % m) * phaseStride + k / m] }
}

// MARK: - Fused 1-D transforms, four columns at a time

typealias Lanes = SIMD4<Float>

@inline(__always)
func loadLanes(_ p: UnsafePointer<Float>, _ n: Int) -> Lanes {
    if n >= 4 { return UnsafeRawPointer(p).loadUnaligned(as: Lanes.self) }
    var v = Lanes()
    for l in 0..<n { v[l] = p[l] }
    return v
}

@inline(__always)
func storeLanes(_ p: UnsafeMutablePointer<Float>, _ n: Int, _ v: Lanes) {
    if n >= 4 {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self)
    } else {
        for l in 0..<n { p[l] = v[l] }
    }
}

/// Calls `body(i, n, v_0, …, v_5)` with four columns `i ..< i + n` (n < 4 only at the end) of
/// the six rows `src(0…5)`.
@inline(__always)
func sweep6(_ src: (Int) -> UnsafePointer<Float>, count: Int, _ body: (Int, Int, Lanes, Lanes, Lanes, Lanes, Lanes, Lanes) -> Void) {
    let s0 = src(0), s1 = src(1), s2 = src(2), s3 = src(3), s4 = src(4), s5 = src(5)
    var i = 0
    while i < count {
        let n = min(4, count - i)
        body(i, n, loadLanes(s0 + i, n), loadLanes(s1 + i, n), loadLanes(s2 + i, n), loadLanes(s3 + i, n),
             loadLanes(s4 + i, n), loadLanes(s5 + i, n))
        i += 4
    }
}

/// ``sweep6(_:count:_:)`` over four rows.
@inline(__always)
func sweep4(_ src: (Int) -> UnsafePointer<Float>, count: Int, _ body: (Int, Int, Lanes, Lanes, Lanes, Lanes) -> Void) {
    let s0 = src(0), s1 = src(1), s2 = src(2), s3 = src(3)
    var i = 0
    while i < count {
        let n = min(4, count - i)
        body(i, n, loadLanes(s0 + i, n), loadLanes(s1 + i, n), loadLanes(s2 + i, n), loadLanes(s3 + i, n))
        i += 4
    }
}

/// Bᵀ applied along one axis: `out_r[i] = Σ_k Bᵀ[r][k] src(k)[i]` for i in 0..<count, out_r at
/// `dst + r·stride` (r, k < α). The rows of ``WinogradTile`` Bᵀ, with shared partial sums.
@inline(__always)
func inputTransform(m: Int, _ src: (Int) -> UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, stride: Int, count: Int) {
    if m == 4 {
        sweep6(src, count: count) { i, n, d0, d1, d2, d3, d4, d5 in
            let p12 = d1 + d2, m12 = d1 - d2, p34 = d4 + d3, m43 = d4 - d3, m42 = d4 - d2, m31 = d3 - d1
            storeLanes(dst + i, n, 4 * d0 - 5 * d2 + d4)
            storeLanes(dst + stride + i, n, p34 - 4 * p12)
            storeLanes(dst + 2 * stride + i, n, m43 + 4 * m12)
            storeLanes(dst + 3 * stride + i, n, m42 + 2 * m31)
            storeLanes(dst + 4 * stride + i, n, m42 - 2 * m31)
            storeLanes(dst + 5 * stride + i, n, 4 * d1 - 5 * d3 + d5)
        }
    } else {
        sweep4(src, count: count) { i, n, d0, d1, d2, d3 in
            storeLanes(dst + i, n, d0 - d2)
            storeLanes(dst + stride + i, n, d1 + d2)
            storeLanes(dst + 2 * stride + i, n, d2 - d1)
            storeLanes(dst + 3 * stride + i, n, d1 - d3)
        }
    }
}

/// Aᵀ applied along one axis, plus `bias`: `out_j[i] = Σ_s Aᵀ[j][s] src(s)[i] + bias` (j < m, s < α),
/// out_j at `dst + j·stride`.
@inline(__always)
func outputTransform(m: Int, _ src: (Int) -> UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, stride: Int, count: Int, bias: Float) {
    if m == 4 {
        sweep6(src, count: count) { i, n, m0, m1, m2, m3, m4, m5 in
            let p12 = m1 + m2, d12 = m1 - m2, p34 = m3 + m4, d34 = m3 - m4
            storeLanes(dst + i, n, m0 + p12 + p34 + bias)
            storeLanes(dst + stride + i, n, d12 + 2 * d34 + bias)
            storeLanes(dst + 2 * stride + i, n, p12 + 4 * p34 + bias)
            storeLanes(dst + 3 * stride + i, n, d12 + 8 * d34 + m5 + bias)
        }
    } else {
        sweep4(src, count: count) { i, n, m0, m1, m2, m3 in
            storeLanes(dst + i, n, m0 + m1 + m2 + bias)
            storeLanes(dst + stride + i, n, m1 - m2 - m3 + bias)
        }
    }
}
