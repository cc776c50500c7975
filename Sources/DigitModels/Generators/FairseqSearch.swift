// Port of DAMO-NLP-SG/DiGIT fairseq_user/image_generation_stage{1,2}/generator.py (PrefixSequenceGenerator._generate)
// @ cd6d8ca30a89d88cd5e4173ed4ec4e5f0d9493a1, with facebookresearch/fairseq fairseq/search.py (BeamSearch at
// beam 1, Sampling with sampling_topk / sampling_topp) and sequence_generator.py (EnsembleModel.forward_decoder,
// finalize_hypos) @ 4a388e64cd646ed7d7ad8de8fae55df2b8eea91d (v0.12.2).
//
// Batch of independent sequences, beam 1. The random draws of `torch.multinomial` are replaced by
// a caller-supplied uniform per (sample, step), so a sample's tokens depend only on its own stream.

import DigitTensor
import Foundation

/// How the next token is chosen from the masked log-probabilities (fairseq-generate's
/// `--beam 1`, `--sampling --sampling-topk K`, `--sampling --sampling-topp P`).
public enum FairseqSearchMethod: Sendable, Equatable, Codable {
    /// `BeamSearch` with beam 1: the argmax.
    case greedy
    /// `Sampling._sample`: `lprobs.topk(k)`, then a draw proportional to `exp` of those k values.
    case topK(Int)
    /// `Sampling._sample_topp`: probabilities sorted descending; keep those whose cumulative sum
    /// is `< p` plus the first that reaches it; draw proportional to the kept probabilities.
    case topP(Float)
}

/// Generation arguments (`fairseq-generate --min-len --max-len-b --temperature`, beam 1).
public struct FairseqGenerationOptions: Sendable, Equatable, Codable {
    /// `</s>` is forbidden while `step < minLength`.
    public var minLength: Int
    /// `max_len = min(max_len_a · src_len + max_len_b, max_positions − 1)`: at `step == maxLength`
    /// only `</s>` is allowed, so a hypothesis has at most `maxLength` tokens before `</s>`.
    public var maxLength: Int
    public var temperature: Float
    public var method: FairseqSearchMethod

    public init(minLength: Int, maxLength: Int, temperature: Float = 1, method: FairseqSearchMethod) {
        self.minLength = minLength
        self.maxLength = maxLength
        self.temperature = temperature
        self.method = method
    }
}

/// A finished hypothesis as `finalize_hypos` reports it.
public struct FairseqHypothesis: Sendable, Equatable {
    /// Generated ids, the trailing `</s>` (2) included; the start token is not included.
    public var tokens: [Int]
    /// The log-probability of each token (differences of the float32 running sum, as upstream).
    public var positionalScores: [Float]
    /// Running sum / number of tokens (`len_penalty` 1, `normalize_scores`).
    public var score: Float

    /// The ids before `</s>` minus the 5 specials: one line of fairseq-generate's `D-` output
    /// (cluster ids for stage 1, VQ codes for stage 2).
    public var codes: [Int] {
        tokens.filter { $0 != FairseqDecoderConfiguration.eos }.map { $0 - FairseqDecoderConfiguration.specialCount }
    }
}

public enum FairseqSearch {
    /// `EnsembleModel.forward_decoder` + DiGIT's masking on one row of logits, in place:
    /// `log_softmax(logits / T)` (float32 exp, Double sum); NaN → −inf; `<pad>`, `<unk>`, `<s>`,
    /// `<n>` → −inf; at `step ≥ maxLength` everything but `</s>` → −inf; at `step < minLength`
    /// `</s>` → −inf.
    public static func maskedLogProbs(_ row: UnsafeMutableBufferPointer<Float>, step: Int, options: FairseqGenerationOptions) {
        let n = row.count, p = row.baseAddress!
        if options.temperature != 1 {
            for i in 0..<n { p[i] /= options.temperature }
        }
        var m = -Float.infinity
        for i in 0..<n where p[i] > m { m = p[i] }
        var s = 0.0
        for i in 0..<n { s += Double(Foundation.exp(p[i] - m)) }
        let lse = Float(Foundation.log(s))
        for i in 0..<n {
            let v = p[i] - m - lse
            p[i] = v.isNaN ? -.infinity : v
        }
        typealias D = FairseqDecoderConfiguration
        for i in [D.pad, D.unk, D.bos, D.newline] where i < n { p[i] = -.infinity }
        if step >= options.maxLength {
            for i in 0..<n where i != D.eos { p[i] = -.infinity }
        } else if step < options.minLength {
            p[D.eos] = -.infinity
        }
    }

    /// `lprobs.topk(k)`: the k largest entries, in descending order (ties by lower index).
    public static func topK(_ row: UnsafeBufferPointer<Float>, k: Int) -> [(index: Int, value: Float)] {
        let k = min(k, row.count)
        // A min-heap of the k best seen so far; its root is the weakest kept entry.
        var heap: [(index: Int, value: Float)] = []
        heap.reserveCapacity(k)
        func weaker(_ a: (index: Int, value: Float), _ b: (index: Int, value: Float)) -> Bool {
            a.value < b.value || (a.value == b.value && a.index > b.index)
        }
        func siftDown(_ i0: Int) {
            var i = i0
            while true {
                let l = 2 * i + 1, r = l + 1
                var w = i
                if l < heap.count && weaker(heap[l], heap[w]) { w = l }
                if r < heap.count && weaker(heap[r], heap[w]) { w = r }
                if w == i { return }
                heap.swapAt(i, w)
                i = w
            }
        }
        for i in 0..<row.count {
            let e = (index: i, value: row[i])
            if heap.count < k {
                heap.append(e)
                var c = heap.count - 1
                while c > 0 {
                    let parent = (c - 1) / 2
                    if !weaker(heap[c], heap[parent]) { break }
                    heap.swapAt(c, parent)
                    c = parent
                }
            } else if k > 0 && weaker(heap[0], e) {
                heap[0] = e
                siftDown(0)
            }
        }
        return heap.sorted { weaker($1, $0) }
    }

    /// `Sampling._sample_topp`'s kept set: (index, probability) in descending probability, the
    /// cumulative sums accumulated in Double and compared in float32 as torch's `cumsum` / `lt`.
    public static func topP(_ row: UnsafeBufferPointer<Float>, p: Float) -> [(index: Int, value: Float)] {
        let order = (0..<row.count).sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
        var kept: [(index: Int, value: Float)] = []
        var cumulative = 0.0
        for i in order {
            let prob = Foundation.exp(row[i])
            kept.append((i, prob))
            cumulative += Double(prob)
            if !(Float(cumulative) < p) { break }  // the first entry that reaches p is included
        }
        return kept
    }

    /// Picks the next token from masked log-probs; returns the token and its log-prob.
    /// `u` in [0, 1) drives the draw (inverse CDF over the candidates in their listed order).
    public static func choose(_ row: UnsafeBufferPointer<Float>, method: FairseqSearchMethod, u: Double) -> (token: Int, logProb: Float) {
        switch method {
        case .greedy:
            var best = 0
            for i in 1..<row.count where row[i] > row[best] { best = i }
            return (best, row[best])
        case let .topK(k):
            let c = topK(row, k: k).map { (index: $0.index, value: Foundation.exp($0.value)) }
            let j = draw(c.map(\.value), u: u)
            return (c[j].index, row[c[j].index])
        case let .topP(p):
            let c = topP(row, p: p)
            let j = draw(c.map(\.value), u: u)
            return (c[j].index, row[c[j].index])
        }
    }

    /// Index drawn with probability proportional to `weights` (non-negative; zeros never drawn).
    static func draw(_ weights: [Float], u: Double) -> Int {
        let total = weights.reduce(0.0) { $0 + Double($1) }
        let target = u * total
        var acc = 0.0, last = 0
        for (i, w) in weights.enumerated() where w > 0 {
            acc += Double(w)
            last = i
            if acc > target { return i }
        }
        return last
    }

    /// The generation loop for a batch of sequences that advance together, each finishing when it
    /// emits `</s>` (forced at `step == maxLength`).
    ///
    /// - Parameters:
    ///   - batch: number of sequences.
    ///   - step: given the previous token of every sequence (the start token at step 0), returns the
    ///     next-token logits (B, V) of the decoder, whose state it advances by one position.
    ///   - uniform: the uniform draw in [0, 1) for (sequence index, step).
    public static func generate(
        batch: Int, startTokens: [Int], options: FairseqGenerationOptions,
        step decode: (_ previous: [Int], _ step: Int) throws -> Tensor,
        uniform: (_ sequence: Int, _ step: Int) -> Double
    ) rethrows -> [FairseqHypothesis] {
        precondition(startTokens.count == batch, "one start token per sequence")
        var previous = startTokens
        var tokens = [[Int]](repeating: [], count: batch)
        var cumulative = [[Float]](repeating: [], count: batch)
        var finished = [Bool](repeating: false, count: batch)
        for s in 0...options.maxLength {
            var logits = try decode(previous, s)  // (B, V)
            let v = logits.dim(-1)
            logits.withUnsafeMutableBufferPointer { buf in
                for b in 0..<batch where !finished[b] {
                    let row = UnsafeMutableBufferPointer(rebasing: buf[(b * v)..<((b + 1) * v)])
                    maskedLogProbs(row, step: s, options: options)
                    let (token, lp) = choose(UnsafeBufferPointer(row), method: options.method, u: uniform(b, s))
                    tokens[b].append(token)
                    cumulative[b].append((cumulative[b].last ?? 0) + lp)
                    previous[b] = token
                    if token == FairseqDecoderConfiguration.eos { finished[b] = true }
                }
            }
            if !finished.contains(false) { break }
        }
        return (0..<batch).map { b in
            let c = cumulative[b]
            let positional = c.indices.map { $0 == 0 ? c[0] : c[$0] - c[$0 - 1] }
            return FairseqHypothesis(tokens: tokens[b], positionalScores: positional, score: (c.last ?? 0) / Float(max(c.count, 1)))
        }
    }
}
