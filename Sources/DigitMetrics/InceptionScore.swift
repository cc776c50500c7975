import DigitTensor
import Foundation

/// The rule an Inception Score follows.
public enum InceptionScoreProtocol: String, CaseIterable, Codable, Sendable {
    /// torch-fidelity 0.4.0 `isc_features_to_metric`: rows permuted by
    /// `np.random.RandomState(seed).permutation(N)` (when shuffling), float64 softmax and
    /// log-softmax, `splits` splits at `i*N//splits`, per split `exp(mean KL(p ‖ mean p))`;
    /// result = mean and population std of the split scores.
    case torchFidelity = "torch-fidelity"
    /// openai/guided-diffusion `evaluations/evaluator.py` (`compute_inception_score`): float32
    /// softmax, consecutive chunks of `splitSize` (5000) rows, numpy float32 arithmetic; mean
    /// only (std reported as 0).
    case adm
}

/// Inception Score from (N, 1008) logits (pool3 @ fc.weightᵀ, no bias, as IS uses them).
public struct InceptionScore: Sendable, Equatable {
    public var mean: Double
    public var std: Double
    /// Each split's score, in split order.
    public var perSplit: [Double]

    /// torch-fidelity's rule (see ``InceptionScoreProtocol/torchFidelity``).
    public static func torchFidelity(logits: Tensor, splits: Int = 10, shuffle: Bool = true, seed: UInt32 = 2020) throws -> InceptionScore {
        let (n, c) = try shape(logits)
        guard splits >= 1, n >= splits else { throw MetricsError.notEnoughSamples(what: "Inception Score with \(splits) splits", needed: splits, actual: n) }
        var order = Array(0..<n)
        if shuffle {
            var rng = NumpyRandomState(seed: seed)
            order = rng.permutation(n)
        }
        // Float64 softmax and log-softmax per row (torch: x - max, exp, sum; log p = x - max - log Σ).
        var p = [Double](repeating: 0, count: n * c)
        var logp = [Double](repeating: 0, count: n * c)
        logits.withUnsafeBufferPointer { pl in
            p.withUnsafeMutableBufferPointer { pp in
                logp.withUnsafeMutableBufferPointer { plp in
                    let (pl, pp, plp) = (pl.baseAddress!, pp.baseAddress!, plp.baseAddress!)
                    parallelFor(n, grain: 64) { r in
                        let src = pl + order[r] * c
                        var mx = -Double.infinity
                        for j in 0..<c { mx = max(mx, Double(src[j])) }
                        var s = 0.0
                        for j in 0..<c { s += Foundation.exp(Double(src[j]) - mx) }
                        let logS = Foundation.log(s)
                        for j in 0..<c {
                            let z = Double(src[j]) - mx
                            pp[r * c + j] = Foundation.exp(z) / s
                            plp[r * c + j] = z - logS
                        }
                    }
                }
            }
        }
        var scores: [Double] = []
        for i in 0..<splits {
            let lo = i * n / splits, hi = (i + 1) * n / splits
            var q = [Double](repeating: 0, count: c)
            for r in lo..<hi { for j in 0..<c { q[j] += p[r * c + j] } }
            let logq = q.map { Foundation.log($0 / Double(hi - lo)) }
            var klSum = 0.0
            for r in lo..<hi {
                var kl = 0.0
                for j in 0..<c { kl += p[r * c + j] * (logp[r * c + j] - logq[j]) }
                klSum += kl
            }
            scores.append(Foundation.exp(klSum / Double(hi - lo)))
        }
        let mean = scores.reduce(0, +) / Double(splits)
        let variance = scores.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(splits)
        return InceptionScore(mean: mean, std: variance.squareRoot(), perSplit: scores)
    }

    /// The ADM evaluator's rule (see ``InceptionScoreProtocol/adm``). Not verified against the
    /// ADM evaluator itself (it needs TensorFlow); its float32 numpy steps are emulated: softmax
    /// in float32, the column mean summed row after row (numpy's axis-0 reduction), row sums of
    /// KL and the mean of a chunk by numpy's pairwise summation.
    public static func adm(logits: Tensor, splitSize: Int = 5000) throws -> InceptionScore {
        let (n, c) = try shape(logits)
        guard n >= 1 else { throw MetricsError.notEnoughSamples(what: "Inception Score", needed: 1, actual: n) }
        var p = [Float](repeating: 0, count: n * c)
        logits.withUnsafeBufferPointer { pl in
            p.withUnsafeMutableBufferPointer { pp in
                let (pl, pp) = (pl.baseAddress!, pp.baseAddress!)
                parallelFor(n, grain: 64) { r in
                    let src = pl + r * c
                    var mx = -Float.infinity
                    for j in 0..<c { mx = max(mx, src[j]) }
                    var s: Float = 0
                    for j in 0..<c {
                        let e = Foundation.exp(src[j] - mx)
                        pp[r * c + j] = e
                        s += e
                    }
                    for j in 0..<c { pp[r * c + j] /= s }
                }
            }
        }
        var scores: [Double] = []
        var start = 0
        while start < n {
            let end = min(n, start + splitSize)
            let rows = end - start
            var colSum = [Float](repeating: 0, count: c)
            for r in start..<end { for j in 0..<c { colSum[j] += p[r * c + j] } }
            let logq = colSum.map { Foundation.log($0 / Float(rows)) }
            var rowKL = [Float](repeating: 0, count: rows)
            var term = [Float](repeating: 0, count: c)
            for r in start..<end {
                for j in 0..<c {
                    let pv = p[r * c + j]
                    term[j] = pv * (Foundation.log(pv) - logq[j])
                }
                rowKL[r - start] = numpyPairwiseSum(term)
            }
            let kl = numpyPairwiseSum(rowKL) / Float(rows)
            scores.append(Double(Foundation.exp(kl)))
            start = end
        }
        let mean = Double(Float(scores.reduce(0, +) / Double(scores.count)))
        return InceptionScore(mean: mean, std: 0, perSplit: scores)
    }

    private static func shape(_ logits: Tensor) throws -> (Int, Int) {
        guard logits.rank == 2 else { throw MetricsError.shapeMismatch(what: "Inception Score logits (N, classes)", expected: [-1, 1008], actual: logits.shape) }
        return (logits.dim(0), logits.dim(1))
    }
}

/// `np.add.reduce` of a contiguous float32 array: numpy's pairwise summation (`pairwise_sum` in
/// numpy/core/src/umath/loops_utils.h.src: blocks of 128, 8 accumulators unrolled), checked
/// against numpy's row sums in tools-side experiments and by the KID float32 fixtures.
func numpyPairwiseSum(_ a: [Float]) -> Float {
    a.withUnsafeBufferPointer { numpyPairwiseSum($0) }
}

func numpyPairwiseSum(_ a: UnsafeBufferPointer<Float>) -> Float {
    guard let base = a.baseAddress else { return 0 }
    return pairwise(base, a.count)
}

private func pairwise(_ a: UnsafePointer<Float>, _ n: Int) -> Float {
    if n < 8 {
        var res: Float = 0
        for i in 0..<n { res += a[i] }
        return res
    } else if n <= 128 {
        var r = (0..<8).map { a[$0] }
        var i = 8
        while i < n - (n % 8) {
            for k in 0..<8 { r[k] += a[i + k] }
            i += 8
        }
        var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n { res += a[i]; i += 1 }
        return res
    } else {
        var n2 = n / 2
        n2 -= n2 % 8
        return pairwise(a, n2) + pairwise(a + n2, n - n2)
    }
}

/// Inception Score as a ``Metric``: logits → statistics (the logits themselves: IS is not
/// mergeable across shards, its splits depend on the whole set) → value.
public struct InceptionScoreMetric: Metric {
    public static let id = MetricID.inceptionScore
    public var rule: InceptionScoreProtocol
    public var splits: Int
    public init(protocol rule: InceptionScoreProtocol = .torchFidelity, splits: Int = 10) {
        self.rule = rule
        self.splits = splits
    }
    public func statistics(_ input: Tensor) throws -> Tensor { input }
    public func value(_ logits: Tensor) throws -> MetricResult {
        let s = try rule == .adm ? InceptionScore.adm(logits: logits) : InceptionScore.torchFidelity(logits: logits, splits: splits)
        return MetricResult(id: .inceptionScore, protocolName: rule.rawValue, values: [MetricKey.isMean: s.mean, MetricKey.isStd: s.std])
    }
}
