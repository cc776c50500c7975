// Port of TencentARC/SEED-Voken taming/modules/transformer/gpt.py @ 6515009bf786db5af56c54ae565736d4be5b6618
// (GPT with token_factorization, generate_context, decode_subtoken, sample, sample_from_logits) and
// taming/models/cond_transformer_gpt.py (Net2NetTransformer: the `transformer.` prefix).
import DigitNN
import DigitTensor
import Foundation

/// The `transformer_config.params` of Open-MAGVIT2's `imagenet_conditional_llama_{B,L,XL}.yaml`.
public struct OpenMAGVIT2ARConfiguration: Codable, Sendable, Equatable {
    public var dim: Int
    public var nHead: Int
    public var spatialNLayer: Int
    public var factorizedNLayer: Int
    public var factorizedBits: [Int] = [6, 12]
    public var blockSize: Int = 256
    public var classNum: Int = 1000
    public var clsTokenNum: Int = 1
    public var ropeBase: Double = 10000
    public var normEps: Float = 1e-5
    public var multipleOf: Int = 256
    public var ffnDimMultiplier: Double? = nil
    public var nKVHead: Int? = nil

    enum CodingKeys: String, CodingKey {
        case dim, nHead = "n_head", spatialNLayer = "spatial_n_layer", factorizedNLayer = "factorized_n_layer"
        case factorizedBits = "factorized_bits", blockSize = "block_size", classNum = "class_num"
        case clsTokenNum = "cls_token_num", ropeBase = "rope_base", normEps = "norm_eps", multipleOf = "multiple_of"
        case ffnDimMultiplier = "ffn_dim_multiplier", nKVHead = "n_kv_head"
    }

    public init(dim: Int, nHead: Int, spatialNLayer: Int, factorizedNLayer: Int) {
        self.dim = dim
        self.nHead = nHead
        self.spatialNLayer = spatialNLayer
        self.factorizedNLayer = factorizedNLayer
    }

    /// AR_256_B / L / XL.
    public static func preset(_ name: String) -> OpenMAGVIT2ARConfiguration? {
        switch name.uppercased() {
        case "B": OpenMAGVIT2ARConfiguration(dim: 1024, nHead: 16, spatialNLayer: 24, factorizedNLayer: 2)
        case "L": OpenMAGVIT2ARConfiguration(dim: 1280, nHead: 20, spatialNLayer: 36, factorizedNLayer: 3)
        case "XL": OpenMAGVIT2ARConfiguration(dim: 1536, nHead: 24, spatialNLayer: 48, factorizedNLayer: 4)
        default: nil
        }
    }

    public var headDim: Int { dim / nHead }
    public var gridSize: Int { Int(Double(blockSize).squareRoot().rounded()) }
    public var blockShape: LlamaBlockShape {
        LlamaBlockShape(
            dim: dim, heads: nHead, kvHeads: nKVHead ?? nHead,
            ffnHidden: LlamaBlockShape.ffnHidden(dim: dim, multipleOf: multipleOf, multiplier: ffnDimMultiplier),
            normEps: normEps)
    }
}

/// Open-MAGVIT2's class-conditional AR transformer with factorised sub-tokens: each 18-bit LFQ
/// token is predicted as `pre` (the first `factorized_bits[0]` bits) then `post` (the rest) by a
/// small "factorized" transformer run on [spatial context, pre embedding].
public final class OpenMAGVIT2AR: @unchecked Sendable {
    public let config: OpenMAGVIT2ARConfiguration
    let preEmb: Tensor  // (2^bits0, C)
    let postEmb: Tensor  // (2^bits1, C)
    let classTable: Tensor  // (classNum + 1, C)
    let spatial: LlamaBlockStack
    let factorized: LlamaBlockStack
    let norm: Tensor  // (C)
    let heads: [Tensor]  // [(2^bits0, C), (2^bits1, C)]
    let freqs: [Float]

    /// Builds the transformer from the keys under `prefix` (`transformer` in AR_256_*.ckpt).
    /// Call `weights.finish()` after building the first-stage model from the same weights.
    public init(config: OpenMAGVIT2ARConfiguration, weights: Weights, prefix: String = "transformer") throws {
        guard config.factorizedBits.count == 2 else {
            throw ModelLoadError.invalidConfiguration("factorized_bits must have two entries, got \(config.factorizedBits)")
        }
        self.config = config
        let w = prefix.isEmpty ? weights.root : weights.scope(prefix)
        let c = config.dim
        let (v0, v1) = (1 << config.factorizedBits[0], 1 << config.factorizedBits[1])
        preEmb = try w.tensor("pre_emb.weight", shape: [v0, c])
        postEmb = try w.tensor("post_emb.weight", shape: [v1, c])
        classTable = try w.tensor("class_emb.embedding_table.weight", shape: [config.classNum + 1, c])
        spatial = try LlamaBlockStack(w.scope("spatial_blocks"), count: config.spatialNLayer, shape: config.blockShape)
        factorized = try LlamaBlockStack(w.scope("factorized_blocks"), count: config.factorizedNLayer, shape: config.blockShape)
        norm = try w.tensor("norm.weight", shape: [c])
        heads = [
            try w.scope("head").tensor("0.weight", shape: [v0, c]),
            try w.scope("head").tensor("1.weight", shape: [v1, c]),
        ]
        freqs = rotaryTable2D(gridSize: config.gridSize, headDim: config.headDim, base: config.ropeBase, clsTokenNum: config.clsTokenNum)
    }

    /// Class-token embeddings (B, 1, C).
    func classEmbeddings(_ classes: [Int]) -> Tensor { embedding(classTable, indices: classes, shape: [classes.count, 1]) }

    /// `pre_emb(pre) + post_emb(post)` (B, S, C).
    func tokenEmbeddings(pre: [[Int]], post: [[Int]]) -> Tensor {
        let s = pre.first?.count ?? 0
        return embedding(preEmb, indices: pre.flatMap { $0 }, shape: [pre.count, s])
            + embedding(postEmb, indices: post.flatMap { $0 }, shape: [post.count, s])
    }

    /// The factorised sub-token pass on [context h_t, pre_emb(pre_t)] for every position of the
    /// spatial blocks' output `h` (B, S, C): returns (pre logits (B, S, 2^b0), post logits (B, S, 2^b1)).
    public func subtokenLogits(context h: Tensor, preTokens: [[Int]]) -> (Tensor, Tensor) {
        let b = h.dim(0), s = h.dim(1), c = config.dim
        // factorized_ctx = stack([h, pre_emb(pre)], dim=-2).view(B*N, 2, D)
        let pre = embedding(preEmb, indices: preTokens.flatMap { $0 }, shape: [b * s, 1])
        let ctx = concat([h.reshaped([b * s, 1, c]), pre], axis: 1)  // (B*S, 2, C)
        let cache = factorized.makeCache(batch: b * s, capacity: 2)
        let out = rmsNorm(factorized(ctx, rope: freqs, ropeRows: [0, 1], cache: cache), weight: norm, eps: config.normEps)
        let h0 = out.slice(axis: 1, 0..<1).reshaped([b, s, c])
        let h1 = out.slice(axis: 1, 1..<2).reshaped([b, s, c])
        return (linear(h0, weight: heads[0]), linear(h1, weight: heads[1]))
    }

    /// Teacher-forced logits as `GPT.forward((pre, post, cls))`: input [cls, emb_0 … emb_{N-2}];
    /// row t of each output predicts sub-token t. Returns (pre (B, N, 2^b0), post (B, N, 2^b1)).
    public func logits(classes: [Int], pre: [[Int]], post: [[Int]]) -> (pre: Tensor, post: Tensor) {
        let n = pre.first?.count ?? 0
        let h = hiddenStates(classes: classes, pre: pre.map { Array($0.prefix(max(n - 1, 0))) }, post: post.map { Array($0.prefix(max(n - 1, 0))) })
        let (lp, lq) = subtokenLogits(context: h, preTokens: pre)  // h: (B, N, C)
        return (lp, lq)
    }

    /// The causal spatial pass over [class, emb_0 … emb_{T−1}] (B, 1 + T, C), emb = pre_emb + post_emb,
    /// through the first `depth` spatial blocks (all when nil), calling `onLayer(i, h)` with block
    /// i's output; returns the last block's output — after all blocks, the context
    /// ``subtokenLogits(context:preTokens:)`` reads.
    public func hiddenStates(classes: [Int], pre: [[Int]], post: [[Int]], depth: Int? = nil,
                             onLayer: ((Int, Tensor) -> Void)? = nil) -> Tensor {
        var x = classEmbeddings(classes)
        if !(pre.first?.isEmpty ?? true) { x = concat([x, tokenEmbeddings(pre: pre, post: post)], axis: 1) }
        let cache = spatial.makeCache(batch: classes.count, capacity: x.dim(1))
        return spatial(x, rope: freqs, ropeRows: Array(0..<x.dim(1)), cache: cache, depth: depth, onLayer: onLayer)
    }

    /// Samples `steps` tokens per class as upstream `sample()`: the spatial transformer runs one
    /// position at a time with its KV cache; per position the factorised transformer (fresh cache)
    /// predicts `pre` from the context, then `post` from `pre_emb(pre)`; CFG per sub-token with
    /// the batch [cond; uncond]. Returns (pre, post) token lists; index = pre + 2^b0 * post.
    ///
    /// - Parameters:
    ///   - sampling: one configuration per sub-token (cfg scale, temperature, top-k, top-p).
    ///   - forced: feed these (pre, post) tokens instead of sampling (for parity checks).
    ///   - onLogits: called with (step, sub-token 0/1, guided logits (B, V)).
    public func generate(
        classes: [Int], sampling: [SamplingConfiguration], rngs: [SampleRNG], steps: Int? = nil,
        forced: (pre: [[Int]], post: [[Int]])? = nil, onLogits: ((Int, Int, Tensor) -> Void)? = nil
    ) -> (pre: [[Int]], post: [[Int]]) {
        precondition(sampling.count == 2, "one sampling configuration per sub-token")
        let n = classes.count, steps = steps ?? config.blockSize
        let cfg = sampling[0].cfgScale > 1
        let batch = cfg ? 2 * n : n
        let cache = spatial.makeCache(batch: batch, capacity: config.clsTokenNum + steps)
        var outPre = [[Int]](repeating: [], count: n), outPost = outPre
        var x = classEmbeddings(cfg ? classes + Array(repeating: config.classNum, count: n) : classes)
        for step in 0..<steps {
            let h = spatial(x, rope: freqs, ropeRows: [cache.length], cache: cache)  // (batch, 1, C)
            let fcache = factorized.makeCache(batch: batch, capacity: 2)
            var sub = h
            var chosen: [[Int]] = []
            for i in 0..<2 {
                let o = rmsNorm(factorized(sub, rope: freqs, ropeRows: [i], cache: fcache), weight: norm, eps: config.normEps)
                let logits = linear(o, weight: heads[i], rowInvariant: true)  // (batch, 1, V_i), batch-invariant
                let guided = Self.guide(logits, n: n, scale: sampling[i].cfgScale, cfgBatch: cfg)
                onLogits?(step, i, guided)
                let v = guided.dim(1)
                var next = [Int](repeating: 0, count: n)
                guided.withUnsafeBufferPointer { gp in
                    for r in 0..<n {
                        if let forced {
                            next[r] = (i == 0 ? forced.pre : forced.post)[r][step]
                        } else {
                            next[r] = Sampler.sample(
                                logits: UnsafeBufferPointer(start: gp.baseAddress! + r * v, count: v),
                                config: sampling[i], u: rngs[r].uniform(step: step, stream: UInt64(i)))
                        }
                    }
                }
                chosen.append(next)
                if i == 0 { sub = embedding(preEmb, indices: cfg ? next + next : next, shape: [batch, 1]) }
            }
            for r in 0..<n {
                outPre[r].append(chosen[0][r])
                outPost[r].append(chosen[1][r])
            }
            let pre = (cfg ? chosen[0] + chosen[0] : chosen[0]).map { [$0] }
            let post = (cfg ? chosen[1] + chosen[1] : chosen[1]).map { [$0] }
            x = tokenEmbeddings(pre: pre, post: post)
        }
        return (outPre, outPost)
    }

    /// Last-position logits (n, V), guided as `uncond + (cond - uncond) * scale` when the batch is
    /// [cond; uncond] and scale > 1 (upstream divides the temperature afterwards, in sampling).
    static func guide(_ logits: Tensor, n: Int, scale: Float, cfgBatch: Bool) -> Tensor {
        let v = logits.dim(-1)
        var out = Tensor(zeros: [n, v])
        logits.withUnsafeBufferPointer { lp in
            out.withUnsafeMutableBufferPointer { op in
                op.baseAddress!.update(from: lp.baseAddress!, count: n * v)
                if cfgBatch && scale > 1 {
                    for r in 0..<n {
                        Sampler.guide(
                            cond: UnsafeMutableBufferPointer(start: op.baseAddress! + r * v, count: v),
                            uncond: UnsafeBufferPointer(start: lp.baseAddress! + (n + r) * v, count: v), scale: scale)
                    }
                }
            }
        }
        return out
    }
}

/// A released Open-MAGVIT2 AR checkpoint (`AR_256_{B,L,XL}.ckpt`): the transformer under
/// `transformer.*` and its first-stage tokenizer (the v2 256-px LFQ, raw weights, no EMA) under
/// `first_stage_model.*`, loaded strictly together.
public final class OpenMAGVIT2Generator: @unchecked Sendable {
    public let transformer: OpenMAGVIT2AR
    public let tokenizer: LFQTokenizer
    public let usesSeededWeights: Bool

    public init(config: OpenMAGVIT2ARConfiguration, weights: Weights) throws {
        transformer = try OpenMAGVIT2AR(config: config, weights: weights, prefix: "transformer")
        var first = LFQTokenizerID.lfq256L.configuration
        first.useEMA = false  // the AR checkpoints carry the tokenizer's raw weights only
        tokenizer = try LFQTokenizer(
            id: "openmagvit2-ar-first-stage", configuration: first, weights: weights, useEMA: false,
            keyPrefix: "first_stage_model", finish: false)
        try weights.finish()
        usesSeededWeights = weights.isSeeded
    }

    /// `decode_to_img((pre, post), zshape)`: pre supplies LFQ channels 0..<b0 and post the rest,
    /// each least-significant bit first, i.e. the full v2 index `pre + 2^b0 * post`; decoded by
    /// the first-stage decoder to images in [-1, 1] (unclamped), (B, 3, 16h, 16w).
    public func decodeToImage(pre: [[Int]], post: [[Int]], height: Int, width: Int) throws -> Tensor {
        let shift = 1 << transformer.config.factorizedBits[0]
        let indices = zip(pre.joined(), post.joined()).map { $0 + shift * $1 }
        return try tokenizer.decode(TokenGrid(batch: pre.count, height: height, width: width, indices: indices))
    }
}
