import Foundation

/// How reconstructions are compared pixel-wise (PSNR/SSIM protocols differ between papers).
public enum ReconstructionProtocol: String, CaseIterable, Codable, Sendable {
    /// Per image on uint8 values (float64 math): PSNR = 10 log10(255² / MSE), SSIM with
    /// data_range 255; mean over images.
    case uint8
    /// Open-MAGVIT2 / SEED-Voken `evaluation_image.py` (pre-2025 releases): uint8 images
    /// converted to float32 /255, skimage `peak_signal_noise_ratio` (data range 1, float32
    /// squares averaged in float64) and `structural_similarity(data_range=1.0, channel_axis=-1)`
    /// in float32; per-image values averaged within batches of 4, then over batches (the last,
    /// partial batch weighs as much as a full one).
    case openMAGVIT2 = "open-magvit2"
}

/// Quantises model outputs in [-1, 1] to uint8 the way each reference does.
public enum Quantize {
    /// `round((clamp(x, -1, 1) + 1) * 127.5)` (round half to even, as numpy/PIL pipelines do).
    public static func roundFromSigned(_ x: Float) -> UInt8 {
        let v = (min(max(x, -1), 1) + 1) * 127.5
        return UInt8(v.rounded(.toNearestOrEven))
    }

    /// Open-MAGVIT2: `((clamp(x, -1, 1) + 1) / 2 * 255).to(torch.uint8)` — truncation toward 0.
    public static func truncateFromSigned(_ x: Float) -> UInt8 {
        let v = ((min(max(x, -1), 1) + 1) / 2) * 255
        return UInt8(v.rounded(.towardZero))
    }
}

/// Peak signal-to-noise ratio.
public enum PSNR {
    /// PSNR of one pair of uint8 images (same size), in dB: `10 log10(255² / mean((a−b)²))`,
    /// float64 (`skimage.metrics.peak_signal_noise_ratio` on uint8 inputs). `+inf` if identical.
    public static func uint8(_ a: [UInt8], _ b: [UInt8]) throws -> Double {
        guard a.count == b.count, !a.isEmpty else { throw MetricsError.shapeMismatch(what: "PSNR images", expected: [a.count], actual: [b.count]) }
        var s = 0.0
        for i in 0..<a.count {
            let d = Double(a[i]) - Double(b[i])
            s += d * d
        }
        let mse = s / Double(a.count)
        return 10 * log10(255 * 255 / mse)
    }

    /// Open-MAGVIT2's per-image PSNR: images as float32 `/255`, squared differences in float32,
    /// averaged in float64, data range 1.
    public static func openMAGVIT2(_ a: [UInt8], _ b: [UInt8]) throws -> Double {
        guard a.count == b.count, !a.isEmpty else { throw MetricsError.shapeMismatch(what: "PSNR images", expected: [a.count], actual: [b.count]) }
        var s = 0.0
        for i in 0..<a.count {
            let d = Float(a[i]) / 255 - Float(b[i]) / 255
            s += Double(d * d)
        }
        let mse = s / Double(a.count)
        return 10 * log10(1 / mse)
    }
}

/// Mean of per-image values under a protocol's averaging rule.
public func averagePerImage(_ values: [Double], protocol proto: ReconstructionProtocol, batchSize: Int = 4) -> Double {
    guard !values.isEmpty else { return .nan }
    switch proto {
    case .uint8:
        return values.reduce(0, +) / Double(values.count)
    case .openMAGVIT2:
        var total = 0.0, batches = 0
        for start in stride(from: 0, to: values.count, by: batchSize) {
            let chunk = values[start..<min(values.count, start + batchSize)]
            total += chunk.reduce(0, +) / Double(chunk.count)
            batches += 1
        }
        return total / Double(batches)
    }
}

/// Codebook usage of a tokenizer over a dataset, from the histogram of token ids.
public struct CodebookUsage: Sendable, Equatable {
    public var codebookSize: Int
    /// Tokens counted.
    public var tokens: Int
    /// Distinct codes used at least once.
    public var used: Int
    /// `used / codebookSize` (Open-MAGVIT2's "utilization").
    public var fraction: Double
    /// Entropy of the empirical code distribution, in bits.
    public var entropyBits: Double
    /// `2^entropyBits` (= exp of the entropy in nats).
    public var perplexity: Double

    /// Usage from a histogram (`counts[i]` = occurrences of code i).
    public init(histogram counts: [Int]) {
        codebookSize = counts.count
        tokens = counts.reduce(0, +)
        used = counts.filter { $0 > 0 }.count
        fraction = codebookSize > 0 ? Double(used) / Double(codebookSize) : 0
        var h = 0.0
        let n = Double(tokens)
        for c in counts where c > 0 {
            let p = Double(c) / n
            h -= p * log2(p)
        }
        entropyBits = h
        perplexity = exp2(h)
    }

    /// Usage of `tokens` (ids in `0..<codebookSize`); throws on an id outside the codebook.
    public init(tokens ids: some Sequence<Int>, codebookSize: Int) throws {
        var counts = [Int](repeating: 0, count: codebookSize)
        for t in ids {
            guard t >= 0 && t < codebookSize else {
                throw MetricsError.invalidArgument(name: "token id", value: "\(t)", reason: "outside the codebook of \(codebookSize)")
            }
            counts[t] += 1
        }
        self.init(histogram: counts)
    }

    public var result: MetricResult {
        MetricResult(
            id: .codebookUsage, protocolName: "histogram",
            values: [MetricKey.codebookUsage: fraction, MetricKey.codebookPerplexity: perplexity, MetricKey.codebookEntropyBits: entropyBits])
    }
}
