import CKernels
import Foundation

/// 1-D Winograd minimal filtering F(m, r) for convolutions whose kernel is 1×r or r×1 (stride 1,
/// undilated, ungrouped, no padding across the taps): the FID Inception's 1×7 / 7×1 convs
/// (Mixed_6b–6e, 7a) and 1×3 / 3×1 convs (Mixed_7b/7c).
///
/// Along the tap axis the output is cut into tiles of m; each reads α = m + r − 1 inputs. With
/// `V = Bᵀ d` (input tile), `U = G g` (filter, once per layer, float64) and `y = Aᵀ M`, the
/// convolution becomes α products `M_e = U_e · V_e` of (O × C) by (C × tiles): α/m multiplies per
/// output and (c, o) pair instead of r. The matrices are Toom-Cook's for the interpolation points of
/// ``Winograd1DTile`` plus ∞, generated exactly by `tools/winograd1d_matrices.py` (which also
/// measures the float32 error of candidate point sets). Rounding grows with m; `Winograd1DTests`
/// bounds it against a float64 loop (docs/conv-perf.md).
public struct Winograd1DTile: Sendable, Equatable {
    /// Outputs per tile.
    public let m: Int
    /// Taps.
    public let r: Int
    /// Inputs per tile α = m + r − 1.
    public var alpha: Int { m + r - 1 }

    /// The implemented (m, r): F(2, 7), F(3, 7), F(4, 7), F(6, 7), F(2, 3), F(4, 3), F(6, 3).
    public static let supported: [(m: Int, r: Int)] = [(2, 7), (3, 7), (4, 7), (6, 7), (2, 3), (4, 3), (6, 3)]

    public init(m: Int, r: Int) {
        precondition(Self.supported.contains { $0 == (m, r) }, "Winograd F(m, r) is not implemented for m = \(m), r = \(r)")
        self.m = m
        self.r = r
    }

    struct Matrices {
        /// Bᵀ (α × α), Aᵀ (m × α) row-major in float32; G (α × r) in float64.
        let bT: [Float], aT: [Float], g: [Double]
    }

    var matrices: Matrices { Self.tables[alpha * 16 + m]! }

    private static let tables: [Int: Matrices] = {
        var out: [Int: Matrices] = [:]
        for (m, r) in supported {
            let t = table(m: m, r: r)
            func parse(_ rows: [String]) -> [Double] {
                rows.flatMap { row in
                    row.split(separator: " ").map { s -> Double in
                        let q = s.split(separator: "/")
                        return q.count == 2 ? Double(q[0])! / Double(q[1])! : Double(q[0])!
                    }
                }
            }
            let (bT, g, aT) = (parse(t.bT), parse(t.g), parse(t.aT))
            let a = m + r - 1
            precondition(bT.count == a * a && g.count == a * r && aT.count == m * a, "Winograd1D table F(\(m), \(r))")
            out[a * 16 + m] = Matrices(bT: bT.map(Float.init), aT: aT.map(Float.init), g: g)
        }
        return out
    }()
}

/// The filter of a 1×r or r×1 convolution in the Winograd domain: `U_e = (G g)_e` as (α, O, C).
public struct Winograd1DWeights: Sendable {
    public let tile: Winograd1DTile
    public let outChannels: Int, inChannels: Int
    /// (α, O, C)
    public let u: [Float]

    /// - Parameter weight: (O, C, r) row-major — an (O, C, 1, r) or (O, C, r, 1) `nn.Conv2d` weight.
    public init(_ weight: [Float], outChannels o: Int, inChannels c: Int, tile: Winograd1DTile) {
        precondition(weight.count == o * c * tile.r, "Winograd1DWeights: \(weight.count) values for (\(o), \(c), \(tile.r))")
        self.tile = tile
        outChannels = o
        inChannels = c
        let a = tile.alpha, r = tile.r, g = tile.matrices.g
        u = [Float](unsafeUninitializedCapacity: a * o * c) { pu, count in
            weight.withUnsafeBufferPointer { pw in
                g.withUnsafeBufferPointer { pg in
                    let (pu, pw, pg) = (pu.baseAddress!, pw.baseAddress!, pg.baseAddress!)
                    parallelFor(o) { oc in
                        for ci in 0..<c {
                            let w = pw + (oc * c + ci) * r
                            for e in 0..<a {
                                var s = 0.0
                                for k in 0..<r { s += pg[e * r + k] * Double(w[k]) }
                                (pu + (e * o + oc) * c + ci).initialize(to: Float(s))
                            }
                        }
                    }
                }
            }
            count = a * o * c
        }
    }
}

/// A layer's lazily computed ``Winograd1DWeights`` (thread-safe; computed on first use, kept per tile).
public final class Winograd1DCache: @unchecked Sendable {
    private var weights: Winograd1DWeights?
    private let lock = NSLock()

    public init() {}

    /// The transformed weight for `tile`, computed by `make` on the first call (or when the tile changes).
    public func weights(tile: Winograd1DTile, _ make: () -> Winograd1DWeights) -> Winograd1DWeights {
        lock.lock()
        defer { lock.unlock() }
        if let w = weights, w.tile == tile { return w }
        let w = make()
        weights = w
        return w
    }
}

/// The axis a 1-D kernel runs along: `.width` for a 1×r kernel, `.height` for r×1.
public enum Winograd1DAxis: Sendable {
    case height, width
}

/// Tuning knob of ``conv2dWinograd1D(_:batch:height:width:layout:axis:weights:padding:epilogue:into:layout:onCallingThread:)``.
public enum Winograd1DTuning {
    /// Target tiles per task (the column count of each of the α sgemms).
    nonisolated(unsafe) public static var targetTiles = 256
}

/// A 1×r (`axis: .width`) or r×1 (`.height`) convolution, stride 1, by Winograd F(m, r), on raw
/// planes: `batch` images of `weights.inChannels` planes `height`×`width` at `x` (placed by
/// `inLayout`) into `weights.outChannels` planes at `out` (placed by `outLayout`). `padding` zero
/// elements on both ends of the tap axis (none across it); reference `F.conv2d` with weight
/// (O, C, 1, r) / (O, C, r, 1) and padding (0, p) / (p, 0).
///
/// Tiles: one "line" is the `across` outputs (a row for `.height`, a column for `.width`) of one
/// tile position along the axis, so each V_e and M_e row holds whole lines, contiguous in the
/// across direction (the transforms run eight lanes of it at a time). A task takes consecutive
/// lines (of consecutive images: the sgemm computes each output column independently of the
/// others, as the FID Inception's im2col path also relies on) of about
/// ``Winograd1DTuning/targetTiles`` tiles. With `onCallingThread` (or a single task) the tasks run in
/// turn on the calling thread (sgemm multi-threaded outside a single-threaded section), else they
/// are handed out over the threads, each with single-threaded BLAS.
public func conv2dWinograd1D(
    _ x: UnsafePointer<Float>, batch n: Int, height h: Int, width w: Int, layout inLayout: PlaneLayout,
    axis: Winograd1DAxis, weights: Winograd1DWeights, padding p: Int, epilogue: WinogradEpilogue,
    into out: UnsafeMutablePointer<Float>, layout outLayout: PlaneLayout, onCallingThread: Bool = false
) {
    let tile = weights.tile, m = tile.m, r = tile.r, a = tile.alpha
    let c = weights.inChannels, o = weights.outChannels
    // Along the taps: input length len, output length outLen; across: A positions.
    let (len, across) = axis == .height ? (h, w) : (w, h)
    let outLen = len + 2 * p - r + 1
    precondition(outLen > 0 && p >= 0, "conv2dWinograd1D: output length \(outLen) for input \(h)x\(w), padding \(p)")
    if n == 0 { return }
    let (oh, ow) = axis == .height ? (outLen, w) : (h, outLen)
    let (scale, shift, bias): ([Float]?, [Float]?, [Float]?)
    switch epilogue {
    case .bias(let b):
        if let b { precondition(b.count == o, "conv2dWinograd1D: \(b.count) biases for \(o) output channels") }
        (scale, shift, bias) = (nil, nil, b)
    case .scaleShiftReLU(let s, let t):
        precondition(s.count == o && t.count == o, "conv2dWinograd1D: \(s.count) scales, \(t.count) shifts for \(o) channels")
        (scale, shift, bias) = (s, t, nil)
    }
    let tiles = (outLen + m - 1) / m
    let lines = n * tiles
    let linesPerTask = max(1, min(lines, (Winograd1DTuning.targetTiles + across - 1) / across))
    let taskCount = (lines + linesPerTask - 1) / linesPerTask
    let maxT = linesPerTask * across
    // Scratch per worker: V (α, C, T), M (α, O, T), the padded input plane P (rows m·tiles + r − 1,
    // the axis, by `across`) and the output rows Q (m·tiles by `across`).
    let padRows = m * tiles + r - 1
    let vSize = a * c * maxT, mSize = a * o * maxT, pSize = padRows * across, qSize = m * tiles * across
    let perWorker = vSize + mSize + pSize + qSize
    let threads = onCallingThread ? 1 : min(Threads.count, taskCount)
    let mats = tile.matrices

    mats.bT.withUnsafeBufferPointer { pbT in
    mats.aT.withUnsafeBufferPointer { paT in
    weights.u.withUnsafeBufferPointer { pu in
    withOptionalPointer(scale) { ps in
    withOptionalPointer(shift) { pt in
    withOptionalPointer(bias) { pb in
        let bT = pbT.baseAddress!, aT = paT.baseAddress!, us = pu.baseAddress!

        /// Task i: lines [g0, g1) of the n·tiles lines (line g = tile g % tiles of image g / tiles).
        func run(task i: Int, scratch: UnsafeMutablePointer<Float>) {
            let g0 = i * linesPerTask, g1 = min(lines, g0 + linesPerTask)
            let t = (g1 - g0) * across
            let v = scratch, mm = v + vSize, pad = mm + mSize, q = pad + pSize
            // Input transform: V[e][ch][(g − g0)·A + j] = Σ_k Bᵀ[e][k] P[m·tile + k][j].
            for ch in 0..<c {
                var g = g0
                while g < g1 {
                    let b = g / tiles, ta = g % tiles, tb = min(tiles, ta + (g1 - g))
                    let plane = x + b * inLayout.imageStride + ch * inLayout.channelStride
                    // P rows m·ta ..< m·tb + r − 1: input index (row − p) along the axis, zero outside.
                    for row in (m * ta)..<(m * tb + r - 1) {
                        let dst = pad + row * across, i = row - p
                        if i < 0 || i >= len {
                            dst.update(repeating: 0, count: across)
                        } else if axis == .height {
                            dst.update(from: plane + i * w, count: across)
                        } else {
                            for j in 0..<across { dst[j] = plane[j * w + i] }
                        }
                    }
                    dbk_w1d_apply(bT, Int64(a), Int64(a), pad + m * ta * across, Int64(across), Int64(m * across),
                                  v + ch * t + (g - g0) * across, Int64(c * t), Int64(across), Int64(tb - ta), Int64(across))
                    g += tb - ta
                }
            }
            // α products M_e = U_e V_e.
            for e in 0..<a {
                Gemm.sgemm(m: o, n: t, k: c, a: us + e * o * c, lda: c, b: v + e * c * t, ldb: t, c: mm + e * o * t, ldc: t)
            }
            // Output transform: Q[m·tile + j] = Σ_e Aᵀ[j][e] M_e[(line)], then the epilogue into the output.
            for oc in 0..<o {
                let sc = ps?[oc] ?? 1, sh = pt?[oc] ?? 0, bv = pb?[oc] ?? 0
                var g = g0
                while g < g1 {
                    let b = g / tiles, ta = g % tiles, tb = min(tiles, ta + (g1 - g))
                    dbk_w1d_apply(aT, Int64(m), Int64(a), mm + oc * t + (g - g0) * across, Int64(o * t), Int64(across),
                                  q + m * ta * across, Int64(across), Int64(m * across), Int64(tb - ta), Int64(across))
                    let plane = out + b * outLayout.imageStride + oc * outLayout.channelStride
                    for i in (m * ta)..<min(m * tb, outLen) {
                        let src = q + i * across
                        if ps != nil {
                            if axis == .height {
                                let row = plane + i * ow
                                for j in 0..<across { row[j] = max(src[j] * sc + sh, 0) }
                            } else {
                                for j in 0..<across { plane[j * ow + i] = max(src[j] * sc + sh, 0) }
                            }
                        } else if axis == .height {
                            let row = plane + i * ow
                            for j in 0..<across { row[j] = src[j] + bv }
                        } else {
                            for j in 0..<across { plane[j * ow + i] = src[j] + bv }
                        }
                    }
                    g += tb - ta
                }
            }
        }

        if threads <= 1 {
            // One task at a time; sgemm may use every thread unless the caller is in a single-threaded section.
            Scratch.with(count: perWorker) { sc in
                for i in 0..<taskCount { run(task: i, scratch: sc) }
            }
        } else {
            Scratch.with(count: threads * perWorker) { sc in
                Threads.withSingleThreadedBLAS {
                    let next = TaskCounter()
                    parallelFor(threads) { worker in
                        while let i = next.take(below: taskCount) { run(task: i, scratch: sc + worker * perWorker) }
                    }
                }
            }
        }
    }}}}}}
}

/// ``conv2dWinograd1D(_:batch:height:width:layout:axis:weights:padding:epilogue:into:layout:onCallingThread:)``
/// on an (N, C, H, W) tensor with an optional bias: weight (O, C, 1, r) for `.width`, (O, C, r, 1) for `.height`.
public func conv2dWinograd1D(_ x: Tensor, weights: Winograd1DWeights, axis: Winograd1DAxis, padding p: Int, bias: Tensor? = nil) -> Tensor {
    precondition(x.rank == 4 && x.dim(1) == weights.inChannels, "conv2dWinograd1D: x \(x.shape) for \(weights.inChannels) input channels")
    let (n, h, w, o) = (x.dim(0), x.dim(2), x.dim(3), weights.outChannels)
    let outLen = (axis == .height ? h : w) + 2 * p - weights.tile.r + 1
    let (oh, ow) = axis == .height ? (outLen, w) : (h, outLen)
    return Tensor(shape: [n, o, oh, ow]) { out in
        x.withUnsafeBufferPointer { px in
            conv2dWinograd1D(
                px.baseAddress!, batch: n, height: h, width: w, layout: .nchw(channels: weights.inChannels, height: h, width: w),
                axis: axis, weights: weights, padding: p, epilogue: .bias(bias?.scalars),
                into: out.baseAddress!, layout: .nchw(channels: o, height: oh, width: ow))
        }
    }
}

extension Winograd1DTile {
    /// Bᵀ, G, Aᵀ as rows of exact rationals (`tools/winograd1d_matrices.py swift`).
    fileprivate static func table(m: Int, r: Int) -> (bT: [String], g: [String], aT: [String]) {
        switch (m, r) {
        // F(2, 7): points 0, 1, -1, 2, -2, 1/2, -1/2, ∞
        case (2, 7): (
            bT: [
                "-1 0 21/4 0 -21/4 0 1 0",
                "0 1 1 -17/4 -17/4 1 1 0",
                "0 -1 1 17/4 -17/4 -1 1 0",
                "0 1/2 1/4 -5/2 -5/4 2 1 0",
                "0 -1/2 1/4 5/2 -5/4 -2 1 0",
                "0 2 4 -5/2 -5 1/2 1 0",
                "0 -2 4 5/2 -5 -1/2 1 0",
                "0 -1 0 21/4 0 -21/4 0 1",
            ],
            g: [
                "-1 0 0 0 0 0 0",
                "-2/9 -2/9 -2/9 -2/9 -2/9 -2/9 -2/9",
                "-2/9 2/9 -2/9 2/9 -2/9 2/9 -2/9",
                "1/90 1/45 2/45 4/45 8/45 16/45 32/45",
                "1/90 -1/45 2/45 -4/45 8/45 -16/45 32/45",
                "32/45 16/45 8/45 4/45 2/45 1/45 1/90",
                "32/45 -16/45 8/45 -4/45 2/45 -1/45 1/90",
                "0 0 0 0 0 0 1",
            ],
            aT: [
                "1 1 1 1 1 1 1 0",
                "0 1 -1 2 -2 1/2 -1/2 1",
            ])
        // F(3, 7): points 0, 1, -1, 2, -2, 1/2, -1/2, 3/2, ∞
        case (3, 7): (
            bT: [
                "3/2 -1 -63/8 21/4 63/8 -21/4 -3/2 1 0",
                "0 -3/2 -1/2 59/8 17/8 -23/4 -1/2 1 0",
                "0 3/2 -5/2 -43/8 85/8 -11/4 -5/2 1 0",
                "0 -3/4 1/8 4 -5/8 -17/4 1/2 1 0",
                "0 3/4 -7/8 -7/2 35/8 7/4 -7/2 1 0",
                "0 -3 -4 31/4 5 -23/4 -1 1 0",
                "0 3 -8 1/4 10 -17/4 -2 1 0",
                "0 -1 0 21/4 0 -21/4 0 1 0",
                "0 3/2 -1 -63/8 21/4 63/8 -21/4 -3/2 1",
            ],
            g: [
                "2/3 0 0 0 0 0 0",
                "4/9 4/9 4/9 4/9 4/9 4/9 4/9",
                "4/45 -4/45 4/45 -4/45 4/45 -4/45 4/45",
                "1/45 2/45 4/45 8/45 16/45 32/45 64/45",
                "-1/315 2/315 -4/315 8/315 -16/315 32/315 -64/315",
                "-32/45 -16/45 -8/45 -4/45 -2/45 -1/45 -1/90",
                "-16/45 8/45 -4/45 2/45 -1/45 1/90 -1/180",
                "-16/105 -8/35 -12/35 -18/35 -27/35 -81/70 -243/140",
                "0 0 0 0 0 0 1",
            ],
            aT: [
                "1 1 1 1 1 1 1 1 0",
                "0 1 -1 2 -2 1/2 -1/2 3/2 0",
                "0 1 1 4 4 1/4 1/4 9/4 1",
            ])
        // F(4, 7): points 0, 1, -1, 2, -2, 1/2, -1/2, 3/4, -3/4, ∞
        case (4, 7): (
            bT: [
                "9/16 0 -253/64 0 525/64 0 -93/16 0 1 0",
                "0 -9/16 -9/16 217/64 217/64 -77/16 -77/16 1 1 0",
                "0 9/16 -9/16 -217/64 217/64 77/16 -77/16 -1 1 0",
                "0 -9/32 -9/64 61/32 61/64 -29/8 -29/16 2 1 0",
                "0 9/32 -9/64 -61/32 61/64 29/8 -29/16 -2 1 0",
                "0 -9/8 -9/4 109/32 109/16 -89/32 -89/16 1/2 1 0",
                "0 9/8 -9/4 -109/32 109/16 89/32 -89/16 -1/2 1 0",
                "0 -3/4 -1 63/16 21/4 -63/16 -21/4 3/4 1 0",
                "0 3/4 -1 -63/16 21/4 63/16 -21/4 -3/4 1 0",
                "0 9/16 0 -253/64 0 525/64 0 -93/16 0 1",
            ],
            g: [
                "16/9 0 0 0 0 0 0",
                "-32/63 -32/63 -32/63 -32/63 -32/63 -32/63 -32/63",
                "-32/63 32/63 -32/63 32/63 -32/63 32/63 -32/63",
                "8/2475 16/2475 32/2475 64/2475 128/2475 256/2475 512/2475",
                "8/2475 -16/2475 32/2475 -64/2475 128/2475 -256/2475 512/2475",
                "-512/225 -256/225 -128/225 -64/225 -32/225 -16/225 -8/225",
                "-512/225 256/225 -128/225 64/225 -32/225 16/225 -8/225",
                "32768/17325 8192/5775 2048/1925 1536/1925 1152/1925 864/1925 648/1925",
                "32768/17325 -8192/5775 2048/1925 -1536/1925 1152/1925 -864/1925 648/1925",
                "0 0 0 0 0 0 1",
            ],
            aT: [
                "1 1 1 1 1 1 1 1 1 0",
                "0 1 -1 2 -2 1/2 -1/2 3/4 -3/4 0",
                "0 1 1 4 4 1/4 1/4 9/16 9/16 0",
                "0 1 -1 8 -8 1/8 -1/8 27/64 -27/64 1",
            ])
        // F(6, 7): points 0, 1, -1, 2, -2, 1/2, -1/2, 4/3, -4/3, 3/4, -3/4, ∞
        case (6, 7): (
            bT: [
                "-1 0 1093/144 0 -3559/192 0 3559/192 0 -1093/144 0 1 0",
                "0 1 1 -949/144 -949/144 6881/576 6881/576 -949/144 -949/144 1 1 0",
                "0 -1 1 949/144 -949/144 -6881/576 6881/576 949/144 -949/144 -1 1 0",
                "0 1/2 1/4 -1057/288 -1057/576 2405/288 2405/576 -517/72 -517/144 2 1 0",
                "0 -1/2 1/4 1057/288 -1057/576 -2405/288 2405/576 517/72 -517/144 -2 1 0",
                "0 2 4 -517/72 -517/36 2405/288 2405/144 -1057/288 -1057/144 1/2 1 0",
                "0 -2 4 517/72 -517/36 -2405/288 2405/144 1057/288 -1057/144 -1/2 1 0",
                "0 3/4 9/16 -253/48 -253/64 175/16 525/64 -31/4 -93/16 4/3 1 0",
                "0 -3/4 9/16 253/48 -253/64 -175/16 525/64 31/4 -93/16 -4/3 1 0",
                "0 4/3 16/9 -31/4 -31/3 175/16 175/12 -253/48 -253/36 3/4 1 0",
                "0 -4/3 16/9 31/4 -31/3 -175/16 175/12 253/48 -253/36 -3/4 1 0",
                "0 -1 0 1093/144 0 -3559/192 0 3559/192 0 -1093/144 0 1",
            ],
            g: [
                "-1 0 0 0 0 0 0",
                "32/49 32/49 32/49 32/49 32/49 32/49 32/49",
                "32/49 -32/49 32/49 -32/49 32/49 -32/49 32/49",
                "2/1375 4/1375 8/1375 16/1375 32/1375 64/1375 128/1375",
                "2/1375 -4/1375 8/1375 -16/1375 32/1375 -64/1375 128/1375",
                "2048/1375 1024/1375 512/1375 256/1375 128/1375 64/1375 32/1375",
                "2048/1375 -1024/1375 512/1375 -256/1375 128/1375 -64/1375 32/1375",
                "-59049/673750 -39366/336875 -52488/336875 -69984/336875 -93312/336875 -124416/336875 -165888/336875",
                "-59049/673750 39366/336875 -52488/336875 69984/336875 -93312/336875 124416/336875 -165888/336875",
                "-524288/336875 -393216/336875 -294912/336875 -221184/336875 -165888/336875 -124416/336875 -93312/336875",
                "-524288/336875 393216/336875 -294912/336875 221184/336875 -165888/336875 124416/336875 -93312/336875",
                "0 0 0 0 0 0 1",
            ],
            aT: [
                "1 1 1 1 1 1 1 1 1 1 1 0",
                "0 1 -1 2 -2 1/2 -1/2 4/3 -4/3 3/4 -3/4 0",
                "0 1 1 4 4 1/4 1/4 16/9 16/9 9/16 9/16 0",
                "0 1 -1 8 -8 1/8 -1/8 64/27 -64/27 27/64 -27/64 0",
                "0 1 1 16 16 1/16 1/16 256/81 256/81 81/256 81/256 0",
                "0 1 -1 32 -32 1/32 -1/32 1024/243 -1024/243 243/1024 -243/1024 1",
            ])
        // F(2, 3): points 0, 1, -1, ∞
        case (2, 3): (
            bT: [
                "-1 0 1 0",
                "0 1 1 0",
                "0 -1 1 0",
                "0 -1 0 1",
            ],
            g: [
                "-1 0 0",
                "1/2 1/2 1/2",
                "1/2 -1/2 1/2",
                "0 0 1",
            ],
            aT: [
                "1 1 1 0",
                "0 1 -1 1",
            ])
        // F(4, 3): points 0, 1, -1, 2, -2, ∞
        case (4, 3): (
            bT: [
                "4 0 -5 0 1 0",
                "0 -4 -4 1 1 0",
                "0 4 -4 -1 1 0",
                "0 -2 -1 2 1 0",
                "0 2 -1 -2 1 0",
                "0 4 0 -5 0 1",
            ],
            g: [
                "1/4 0 0",
                "-1/6 -1/6 -1/6",
                "-1/6 1/6 -1/6",
                "1/24 1/12 1/6",
                "1/24 -1/12 1/6",
                "0 0 1",
            ],
            aT: [
                "1 1 1 1 1 0",
                "0 1 -1 2 -2 0",
                "0 1 1 4 4 0",
                "0 1 -1 8 -8 1",
            ])
        // F(6, 3): points 0, 1, -1, 2, -2, 1/2, -1/2, ∞
        case (6, 3): (
            bT: table(m: 2, r: 7).bT,
            g: [
                "-1 0 0",
                "-2/9 -2/9 -2/9",
                "-2/9 2/9 -2/9",
                "1/90 1/45 2/45",
                "1/90 -1/45 2/45",
                "32/45 16/45 8/45",
                "32/45 -16/45 8/45",
                "0 0 1",
            ],
            aT: [
                "1 1 1 1 1 1 1 0",
                "0 1 -1 2 -2 1/2 -1/2 0",
                "0 1 1 4 4 1/4 1/4 0",
                "0 1 -1 8 -8 1/8 -1/8 0",
                "0 1 1 16 16 1/16 1/16 0",
                "0 1 -1 32 -32 1/32 -1/32 1",
            ])
        default: preconditionFailure("no Winograd table for F(\(m), \(r))")
        }
    }
}
