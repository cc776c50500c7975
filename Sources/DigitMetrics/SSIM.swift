/// Structural similarity with scikit-image's semantics (`skimage.metrics.structural_similarity`
/// with its defaults: 7×7 uniform window, K1 = 0.01, K2 = 0.03, `use_sample_covariance=True`,
/// i.e. variances scaled by NP/(NP−1) = 49/48, no Gaussian weights).
///
/// Port of skimage/metrics/_structural_similarity.py and the scipy.ndimage `uniform_filter`
/// it calls (scipy/ndimage/src/ni_filters.c `NI_UniformFilter1D`: per axis, axis 0 first, a
/// running sum in double over a line extended by `reflect` (d c b a | a b c d | d c b a), each
/// pass's output stored in the working type). The working type `T` is what skimage uses for the
/// input's dtype: Double for uint8/float64 images, Float for float32 images (Open-MAGVIT2).
public enum SSIM {
    /// Mean SSIM of one (H, W, C) image pair (`channel_axis=-1`: per channel, then the mean of
    /// the channel values in `T`), cropped by (win−1)/2 at every border before averaging in
    /// float64, as skimage does.
    ///
    /// - Parameters:
    ///   - a, b: the images in the working type, HWC row-major.
    ///   - dataRange: skimage's `data_range` (255 for uint8, 1 for images in [0, 1]).
    public static func mean<T: BinaryFloatingPoint>(
        _ a: [T], _ b: [T], height: Int, width: Int, channels: Int, dataRange: Double, windowSize: Int = 7
    ) throws -> T {
        guard a.count == height * width * channels, b.count == a.count else {
            throw MetricsError.shapeMismatch(what: "SSIM images", expected: [height, width, channels], actual: [a.count, b.count])
        }
        guard windowSize % 2 == 1, height >= windowSize, width >= windowSize else {
            throw MetricsError.invalidArgument(name: "SSIM window", value: "\(windowSize)", reason: "must be odd and fit in the \(height)×\(width) image")
        }
        var perChannel: [T] = []
        for ch in 0..<channels {
            let x = (0..<(height * width)).map { a[$0 * channels + ch] }
            let y = (0..<(height * width)).map { b[$0 * channels + ch] }
            perChannel.append(T(channelSSIM(x, y, h: height, w: width, dataRange: dataRange, win: windowSize)))
        }
        var s: T = 0
        for v in perChannel { s += v }
        return s / T(channels)
    }

    /// SSIM of one (H, W) channel: mean over the cropped SSIM map, accumulated in float64.
    static func channelSSIM<T: BinaryFloatingPoint>(_ x: [T], _ y: [T], h: Int, w: Int, dataRange: Double, win: Int) -> Double {
        let np = Double(win * win)
        let covNorm = T(np / (np - 1))
        let ux = uniformFilter(x, h: h, w: w, size: win)
        let uy = uniformFilter(y, h: h, w: w, size: win)
        let uxx = uniformFilter(zip(x, x).map { $0 * $1 }, h: h, w: w, size: win)
        let uyy = uniformFilter(zip(y, y).map { $0 * $1 }, h: h, w: w, size: win)
        let uxy = uniformFilter(zip(x, y).map { $0 * $1 }, h: h, w: w, size: win)
        let c1 = T((0.01 * dataRange) * (0.01 * dataRange))
        let c2 = T((0.03 * dataRange) * (0.03 * dataRange))
        let pad = (win - 1) / 2
        var total = 0.0
        for i in pad..<(h - pad) {
            for j in pad..<(w - pad) {
                let k = i * w + j
                let vx = covNorm * (uxx[k] - ux[k] * ux[k])
                let vy = covNorm * (uyy[k] - uy[k] * uy[k])
                let vxy = covNorm * (uxy[k] - ux[k] * uy[k])
                let a1 = 2 * ux[k] * uy[k] + c1
                let a2 = 2 * vxy + c2
                let b1 = ux[k] * ux[k] + uy[k] * uy[k] + c1
                let b2 = vx + vy + c2
                let d = b1 * b2
                let s = (a1 * a2) / d
                total += Double(s)
            }
        }
        return total / Double((h - 2 * pad) * (w - 2 * pad))
    }

    /// scipy.ndimage.uniform_filter(mode='reflect') of an (h, w) array: 1-D passes along axis 0
    /// then axis 1, each a running mean in double stored back as `T`.
    static func uniformFilter<T: BinaryFloatingPoint>(_ input: [T], h: Int, w: Int, size: Int) -> [T] {
        var tmp = input
        var line = [Double](repeating: 0, count: max(h, w) + size)
        var out = [Double](repeating: 0, count: max(h, w))
        // Axis 0 (columns).
        for j in 0..<w {
            filterLine(h, size: size, line: &line, out: &out) { tmp[$0 * w + j] }
            for i in 0..<h { tmp[i * w + j] = T(out[i]) }
        }
        // Axis 1 (rows).
        for i in 0..<h {
            filterLine(w, size: size, line: &line, out: &out) { tmp[i * w + $0] }
            for j in 0..<w { tmp[i * w + j] = T(out[j]) }
        }
        return tmp
    }

    /// `NI_UniformFilter1D` on one line of length n read through `value`.
    private static func filterLine<T: BinaryFloatingPoint>(_ n: Int, size: Int, line: inout [Double], out: inout [Double], _ value: (Int) -> T) {
        let size1 = size / 2, size2 = size - size1 - 1
        // Extended line: size1 values before, size2 after, `reflect` (half-sample symmetric).
        func reflect(_ i: Int) -> Int {
            var k = i
            let period = 2 * n
            k = ((k % period) + period) % period
            return k < n ? k : period - 1 - k
        }
        for t in 0..<(n + size1 + size2) { line[t] = Double(value(reflect(t - size1))) }
        var acc = 0.0
        for t in 0..<size { acc += line[t] }
        acc /= Double(size)
        out[0] = acc
        if n > 1 {
            for t in 1..<n { acc += (line[t + size - 1] - line[t - 1]) / Double(size); out[t] = acc }
        }
    }
}
