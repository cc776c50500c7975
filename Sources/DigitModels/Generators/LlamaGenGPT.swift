// Port of FoundationVision/LlamaGen autoregressive/models/gpt.py @ ce98ec41803a74a90ce68c40ababa9eaeffeb4ec
// (Transformer, c2i) and autoregressive/models/generate.py (prefill, decode_one_token, sample).
import DigitNN
import DigitTensor
import Foundation

/// LlamaGen's `ModelArgs`, with upstream's field names.
public struct LlamaGenGPTConfiguration: Codable, Sendable, Equatable {
    public var dim: Int
    public var nLayer: Int
    public var nHead: Int
    public var nKVHead: Int?
    public var multipleOf: Int = 256
    public var ffnDimMultiplier: Double? = nil
    public var ropeBase: Double = 10000
    public var normEps: Float = 1e-5
    public var vocabSize: Int = 16384
    public var numClasses: Int = 1000
    public var clsTokenNum: Int = 1
    /// Number of image tokens: 256 (16x16) for 256-px models, 576 (24x24) for 384-px models.
    public var blockSize: Int = 256

    enum CodingKeys: String, CodingKey {
        case dim, nLayer = "n_layer", nHead = "n_head", nKVHead = "n_kv_head", multipleOf = "multiple_of"
        case ffnDimMultiplier = "ffn_dim_multiplier", ropeBase = "rope_base", normEps = "norm_eps"
        case vocabSize = "vocab_size", numClasses = "num_classes", clsTokenNum = "cls_token_num"
        case blockSize = "block_size"
    }

    public init(dim: Int, nLayer: Int, nHead: Int, nKVHead: Int? = nil, blockSize: Int = 256) {
        self.dim = dim
        self.nLayer = nLayer
        self.nHead = nHead
        self.nKVHead = nKVHead
        self.blockSize = blockSize
    }

    /// The class-conditional presets of `GPT_models` (B, L, XL, XXL, 3B).
    public static func preset(_ name: String, blockSize: Int = 256) -> LlamaGenGPTConfiguration? {
        switch name.uppercased() {
        case "B": LlamaGenGPTConfiguration(dim: 768, nLayer: 12, nHead: 12, blockSize: blockSize)
        case "L": LlamaGenGPTConfiguration(dim: 1024, nLayer: 24, nHead: 16, blockSize: blockSize)
        case "XL": LlamaGenGPTConfiguration(dim: 1280, nLayer: 36, nHead: 20, blockSize: blockSize)
        case "XXL": LlamaGenGPTConfiguration(dim: 1536, nLayer: 48, nHead: 24, blockSize: blockSize)
        case "3B": LlamaGenGPTConfiguration(dim: 3200, nLayer: 24, nHead: 32, blockSize: blockSize)
        default: nil
        }
    }

    public var headDim: Int { dim / nHead }
    public var kvHeads: Int { nKVHead ?? nHead }
    /// Image tokens per side.
    public var gridSize: Int { Int(Double(blockSize).squareRoot().rounded()) }

    /// The shape of each transformer block.
    public var blockShape: LlamaBlockShape {
        LlamaBlockShape(
            dim: dim, heads: nHead, kvHeads: kvHeads,
            ffnHidden: LlamaBlockShape.ffnHidden(dim: dim, multipleOf: multipleOf, multiplier: ffnDimMultiplier),
            normEps: normEps)
    }

    func validate() throws {
        guard dim % nHead == 0, nHead % kvHeads == 0, headDim % 4 == 0 else {
            throw ModelLoadError.invalidConfiguration("dim \(dim) / n_head \(nHead) / n_kv_head \(kvHeads) do not divide")
        }
        guard gridSize * gridSize == blockSize else {
            throw ModelLoadError.invalidConfiguration("block_size \(blockSize) is not a square grid")
        }
    }
}

/// The LlamaGen class-conditional GPT (`Transformer` with `model_type='c2i'`).
public final class LlamaGenGPT: @unchecked Sendable {
    public let config: LlamaGenGPTConfiguration

    let classTable: Tensor  // (numClasses + 1, C): row numClasses is the null class for CFG
    let tokenTable: Tensor  // (V, C)
    let layers: LlamaBlockStack
    let norm: Tensor  // (C)
    let output: Tensor  // (V, C)
    /// Rotary table: (clsTokenNum + blockSize, hd/2, 2), zero rows at the class-token slots.
    let freqs: [Float]

    /// Builds the model from `weights` (a checkpoint's state dict, or seeded), strictly.
    public init(config: LlamaGenGPTConfiguration, weights: Weights) throws {
        try config.validate()
        self.config = config
        let w = weights.root
        let c = config.dim
        classTable = try w.tensor("cls_embedding.embedding_table.weight", shape: [config.numClasses + 1, c])
        tokenTable = try w.tensor("tok_embeddings.weight", shape: [config.vocabSize, c])
        layers = try LlamaBlockStack(w.scope("layers"), count: config.nLayer, shape: config.blockShape)
        norm = try w.tensor("norm.weight", shape: [c])
        output = try w.tensor("output.weight", shape: [config.vocabSize, c])
        try weights.finish()
        freqs = rotaryTable2D(gridSize: config.gridSize, headDim: config.headDim, base: config.ropeBase, clsTokenNum: config.clsTokenNum)
    }

    /// A cache sized for `batch` sequences of up to `capacity` positions (class token included).
    public func makeCache(batch: Int, capacity: Int? = nil) -> TransformerKVCache {
        layers.makeCache(batch: batch, capacity: capacity ?? (config.clsTokenNum + config.blockSize))
    }

    /// Runs `embeddings` (B, S, C) at positions `cache.length ..< cache.length + S`, appending to
    /// the cache, and returns the logits (B, S, V) (`self.output(self.norm(h))`).
    public func forward(embeddings x: Tensor, cache: TransformerKVCache, onLayer: ((Int, Tensor) -> Void)? = nil) -> Tensor {
        let rows = Array(cache.length..<(cache.length + x.dim(1)))
        let h = layers(x, rope: freqs, ropeRows: rows, cache: cache, onLayer: onLayer)
        return headLogits(h, rowInvariant: x.dim(1) == 1)  // row-invariant for decoding steps (S = 1), as the blocks
    }

    /// `self.output(self.norm(h))`: the logits (B, S, V) of the last block's hidden states (B, S, C).
    public func headLogits(_ h: Tensor, rowInvariant: Bool = false) -> Tensor {
        linear(rmsNorm(h, weight: norm, eps: config.normEps), weight: output, rowInvariant: rowInvariant)
    }

    /// The causal pass over [class, tokens] (B, 1 + T, C) through the first `depth` blocks (all
    /// when nil), calling `onLayer(i, h)` with block i's output; returns the last block's output.
    /// After all blocks this is the state ``headLogits(_:)`` turns into ``logits(classes:tokens:)``.
    public func hiddenStates(classes: [Int], tokens: [[Int]], depth: Int? = nil, onLayer: ((Int, Tensor) -> Void)? = nil) -> Tensor {
        let x = (tokens.first?.isEmpty ?? true)
            ? classEmbeddings(classes) : concat([classEmbeddings(classes), tokenEmbeddings(tokens)], axis: 1)  // (B, 1 + T, C)
        let cache = makeCache(batch: classes.count, capacity: x.dim(1))
        return layers(x, rope: freqs, ropeRows: Array(0..<x.dim(1)), cache: cache, depth: depth, onLayer: onLayer)
    }

    // MARK: - Entry points

    /// Class-token embeddings (B, 1, C) for class ids (`numClasses` is the null class).
    public func classEmbeddings(_ classes: [Int]) -> Tensor {
        embedding(classTable, indices: classes, shape: [classes.count, 1])
    }

    /// Token embeddings (B, S, C).
    public func tokenEmbeddings(_ tokens: [[Int]]) -> Tensor {
        let s = tokens.first?.count ?? 0
        return embedding(tokenTable, indices: tokens.flatMap { $0 }, shape: [tokens.count, s])
    }

    /// Teacher-forced logits (B, 1 + T, V) for [class, tokens]: row t predicts image token t.
    public func logits(classes: [Int], tokens: [[Int]]) -> Tensor {
        headLogits(hiddenStates(classes: classes, tokens: tokens))
    }

    /// Samples `blockSize` image tokens per class as upstream `generate` does: prefill the class
    /// token, then one token at a time with the KV cache; with `cfgScale > 1` the batch is
    /// [cond; uncond] with the null class and logits are `uncond + (cond - uncond) * scale`.
    ///
    /// - Parameters:
    ///   - forcedTokens: if given, these tokens are fed instead of the sampled ones (teacher
    ///     forcing through the incremental path); `onLogits` still sees every step's logits.
    ///   - onLogits: called with (step, guided logits (B, V)) before sampling.
    public func generate(
        classes: [Int], sampling: SamplingConfiguration, rngs: [SampleRNG], steps: Int? = nil,
        forcedTokens: [[Int]]? = nil, onLogits: ((Int, Tensor) -> Void)? = nil
    ) -> [[Int]] {
        let n = classes.count, v = config.vocabSize
        let steps = steps ?? config.blockSize
        let cfg = sampling.cfgScale > 1
        let batch = cfg ? 2 * n : n
        let cache = makeCache(batch: batch, capacity: config.clsTokenNum + steps)
        var out = [[Int]](repeating: [], count: n)
        var x = classEmbeddings(cfg ? classes + Array(repeating: config.numClasses, count: n) : classes)
        for step in 0..<steps {
            let logits = forward(embeddings: x, cache: cache)  // (batch, S, V)
            let sLen = logits.dim(1)
            var guided = Tensor(zeros: [n, v])  // (B, V): last position, guided
            logits.withUnsafeBufferPointer { lp in
                guided.withUnsafeMutableBufferPointer { gp in
                    for i in 0..<n {
                        let dst = UnsafeMutableBufferPointer(start: gp.baseAddress! + i * v, count: v)
                        dst.baseAddress!.update(from: lp.baseAddress! + (i * sLen + sLen - 1) * v, count: v)
                        if cfg {
                            let unc = UnsafeBufferPointer(start: lp.baseAddress! + ((n + i) * sLen + sLen - 1) * v, count: v)
                            Sampler.guide(cond: dst, uncond: unc, scale: sampling.cfgScale)
                        }
                    }
                }
            }
            onLogits?(step, guided)
            var next = [Int](repeating: 0, count: n)
            guided.withUnsafeBufferPointer { gp in
                for i in 0..<n {
                    if let forced = forcedTokens {
                        next[i] = forced[i][step]
                    } else {
                        let row = UnsafeBufferPointer(start: gp.baseAddress! + i * v, count: v)
                        next[i] = Sampler.sample(logits: row, config: sampling, u: rngs[i].uniform(step: step))
                    }
                    out[i].append(next[i])
                }
            }
            if step + 1 < steps {
                x = tokenEmbeddings((cfg ? next + next : next).map { [$0] })
            }
        }
        return out
    }
}
