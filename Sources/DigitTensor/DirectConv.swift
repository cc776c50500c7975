import CKernels

/// Direct 3×3 stride-2 unpadded convolution of a few input channels with a folded BatchNorm + ReLU
/// (`max(s · scale[o] + shift[o], 0)`), for layers where im2col's K = 9·C is too short for sgemm
/// (the FID Inception's Conv2d_1a: 3→32 at 299×299, ~15 GFLOP/s through im2col). CKernels'
/// AVX-512 kernel: each output is one fused multiply-add chain over (c, ky, kx) in order, so an
/// image's result does not depend on its batch.
public enum DirectConv3x3Stride2 {
    /// Whether this CPU has the kernel (AVX-512); callers fall back to im2col otherwise.
    public static let isAvailable: Bool = dbk_conv3x3s2_bnrelu(nil, 0, 0, 0, 3, 3, nil, 0, nil, nil, nil, 0, 0, 0, 0) != 0

    /// `batch` images of `c` planes h×w at `x` (placed by `inLayout`), weight (o, c, 3, 3), into o
    /// planes of ((h − 3) / 2 + 1) × ((w − 3) / 2 + 1) at `out` (placed by `outLayout`). Rows are
    /// split over threads unless `onCallingThread`. Returns false (nothing written) without AVX-512.
    @discardableResult
    public static func run(
        _ x: UnsafePointer<Float>, batch: Int, channels c: Int, height h: Int, width w: Int, layout inLayout: PlaneLayout,
        weight: UnsafePointer<Float>, outChannels o: Int, scale: UnsafePointer<Float>, shift: UnsafePointer<Float>,
        into out: UnsafeMutablePointer<Float>, layout outLayout: PlaneLayout, onCallingThread: Bool
    ) -> Bool {
        guard isAvailable, h >= 3, w >= 3 else { return false }
        let rows = batch * ((h - 3) / 2 + 1)
        let chunks = onCallingThread ? 1 : min(rows, 4 * Threads.count)
        parallelFor(chunks) { i in
            _ = dbk_conv3x3s2_bnrelu(
                x, Int64(c), Int64(inLayout.imageStride), Int64(inLayout.channelStride), Int64(h), Int64(w), weight, Int64(o),
                scale, shift, out, Int64(outLayout.imageStride), Int64(outLayout.channelStride),
                Int64(rows * i / chunks), Int64(rows * (i + 1) / chunks))
        }
        return true
    }
}
