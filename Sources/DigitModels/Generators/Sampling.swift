import DigitTensor

/// How next tokens are drawn from logits (upstream LlamaGen `generate.sample` /
/// `top_k_top_p_filtering`, also used by Open-MAGVIT2 and, with top-k only, DiGIT).
public struct SamplingConfiguration: Sendable, Codable, Equatable {
    /// Divides the logits before filtering (`max(temperature, 1e-5)`, as upstream).
    public var temperature: Float = 1
    /// Keep the `topK` largest logits (ties with the k-th kept); 0 disables.
    public var topK: Int = 0
    /// Nucleus filtering: keep the smallest prefix of sorted tokens whose probability reaches
    /// `topP` (the first token above the threshold is kept); 1 disables.
    public var topP: Float = 1
    /// Classifier-free guidance scale; `uncond + (cond - uncond) * cfgScale` when > 1.
    public var cfgScale: Float = 1
    /// Pick the argmax instead of sampling (`top_k = 1` does the same upstream).
    public var greedy: Bool = false

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, cfgScale: Float = 1, greedy: Bool = false) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.cfgScale = cfgScale
        self.greedy = greedy
    }
}

/// A counter-based random stream: sample `i`'s draws depend only on (seed, i, step), so results
/// do not change with batch size, thread count or sharding.
public struct SampleRNG: Sendable {
    public let seed: UInt64
    public let sample: UInt64

    public init(seed: UInt64, sample: Int) {
        self.seed = seed
        self.sample = UInt64(sample)
    }

    /// A uniform double in [0, 1) for draw `step` (SplitMix64 finaliser over a keyed counter).
    public func uniform(step: Int, stream: UInt64 = 0) -> Double {
        var z = seed &* 0x9E37_79B9_7F4A_7C15 ^ (sample &* 0xD1B5_4A32_D192_ED03) ^ (stream &* 0x94D0_49BB_1331_11EB)
        z = z &+ UInt64(step + 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z = z ^ (z >> 31)
        return Double(z >> 11) * 0x1p-53
    }
}

public enum Sampler {
    /// Classifier-free guidance over a [cond; uncond] pair of logit rows, in place into `cond`:
    /// `uncond + (cond - uncond) * scale` (upstream's operation order, float32).
    public static func guide(cond: UnsafeMutableBufferPointer<Float>, uncond: UnsafeBufferPointer<Float>, scale: Float) {
        for i in 0..<cond.count { cond[i] = uncond[i] + (cond[i] - uncond[i]) * scale }
    }

    /// Draws one token from a row of logits with the given configuration.
    ///
    /// Filtering follows `top_k_top_p_filtering`: temperature, then top-k (`logits < kth` removed),
    /// then top-p on the softmax of the sorted remaining logits; then softmax and a multinomial
    /// draw with `u` (inverse CDF), or the argmax when `greedy`.
    public static func sample(logits row: UnsafeBufferPointer<Float>, config: SamplingConfiguration, u: Double) -> Int {
        let n = row.count
        if config.greedy || config.topK == 1 {
            var best = 0
            for i in 1..<n where row[i] > row[best] { best = i }
            return best
        }
        let t = max(config.temperature, 1e-5)
        var logits = [Float](unsafeUninitializedCapacity: n) { b, c in
            for i in 0..<n { b[i] = row[i] / t }
            c = n
        }
        if config.topK > 0 && config.topK < n {
            var sorted = logits
            sorted.sort(by: >)
            let kth = sorted[config.topK - 1]
            for i in 0..<n where logits[i] < kth { logits[i] = -.infinity }
        }
        if config.topP < 1 {
            let order = (0..<n).sorted { logits[$0] > logits[$1] }
            let m = logits[order[0]]
            var total: Double = 0
            for i in order { total += Double(expf(logits[i] - m)) }
            var cum: Double = 0
            var keep = true
            for i in order {
                if !keep { logits[i] = -.infinity; continue }
                cum += Double(expf(logits[i] - m)) / total
                // The first token whose cumulative probability exceeds top_p is still kept.
                if cum > Double(config.topP) { keep = false }
            }
        }
        // softmax + inverse-CDF draw
        var m = -Float.infinity
        for v in logits where v > m { m = v }
        var total: Double = 0
        var probs = [Double](repeating: 0, count: n)
        for i in 0..<n where logits[i] > -.infinity {
            probs[i] = Double(expf(logits[i] - m))
            total += probs[i]
        }
        let target = u * total
        var acc: Double = 0
        var last = 0
        for i in 0..<n where probs[i] > 0 {
            acc += probs[i]
            last = i
            if acc > target { return i }
        }
        return last
    }
}

#if canImport(Glibc)
    import Glibc
#endif
