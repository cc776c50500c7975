// Port of facebookresearch/fairseq fairseq/models/transformer/transformer_decoder.py (TransformerDecoderBase),
// fairseq/modules/transformer_layer.py (TransformerDecoderLayerBase), fairseq/modules/multihead_attention.py
// and fairseq/modules/learned_positional_embedding.py @ 4a388e64cd646ed7d7ad8de8fae55df2b8eea91d (v0.12.2),
// decoder-only (`no_encoder_attn=True`) as DAMO-NLP-SG/DiGIT builds it for both stages.
//
// One code path serves the full forward, the incremental (KV-cache) forward and the stage-2 prefix
// prefill: new positions are appended to a per-layer cache and attend causally to everything cached.

import DigitCheckpoint
import DigitTensor
import Foundation

/// Errors specific to DiGIT checkpoints and inputs (weights themselves fail with ``ModelLoadError``).
public enum DiGITError: Error, CustomStringConvertible, Equatable {
    /// The checkpoint's `cfg` lacks a field the architecture needs.
    case missingConfiguration(field: String, source: String)
    /// A `cfg` value disagrees with the shape of a stored weight.
    case configurationMismatch(field: String, configured: Int, key: String, shape: [Int], source: String)
    /// A `cfg` value the port does not implement (e.g. `activation_fn: relu`).
    case unsupportedConfiguration(field: String, value: String, source: String)
    /// A token id outside the dictionary or a sequence longer than the position table.
    case invalidInput(String)

    public var description: String {
        switch self {
        case let .missingConfiguration(field, source):
            return "\(source): the checkpoint's cfg has no '\(field)'; is this a DiGIT fairseq checkpoint?"
        case let .configurationMismatch(field, configured, key, shape, source):
            return "\(source): cfg says \(field) = \(configured), but '\(key)' has shape \(shape); the cfg does not describe these weights"
        case let .unsupportedConfiguration(field, value, source):
            return "\(source): cfg \(field) = \(value) is not supported by this port"
        case let .invalidInput(message):
            return "invalid input: \(message)"
        }
    }
}

/// The architecture of a fairseq `TransformerDecoder` as DiGIT configures it, with upstream's
/// field names (`cfg.model.*`, and `cfg.task.*` for the vocabulary sizes).
public struct FairseqDecoderConfiguration: Codable, Sendable, Equatable {
    public var decoderLayers: Int
    public var decoderEmbedDim: Int
    public var decoderFfnEmbedDim: Int
    public var decoderAttentionHeads: Int
    /// Pre-norm (stage 2) when true, post-norm without a final LayerNorm (stage 1) when false.
    public var decoderNormalizeBefore: Bool
    /// Position tables have `max_target_positions + 2` rows (padding_idx 1 + 1).
    public var maxTargetPositions: Int
    public var noScaleEmbedding: Bool
    /// Stage 1 only: 1000 extra `embed_tokens` rows, start token `len(dictionary) + class`.
    public var classConditional: Bool
    /// `cfg.task.target_vocab_size`: the dictionary has this many symbols after 5 specials.
    public var targetVocabSize: Int
    /// `cfg.task.source_vocab_size` (stage 2: the DiGIT clusters; -1 in stage 1).
    public var sourceVocabSize: Int
    public var activationFn: String

    enum CodingKeys: String, CodingKey {
        case decoderLayers = "decoder_layers"
        case decoderEmbedDim = "decoder_embed_dim"
        case decoderFfnEmbedDim = "decoder_ffn_embed_dim"
        case decoderAttentionHeads = "decoder_attention_heads"
        case decoderNormalizeBefore = "decoder_normalize_before"
        case maxTargetPositions = "max_target_positions"
        case noScaleEmbedding = "no_scale_embedding"
        case classConditional = "class_conditional"
        case targetVocabSize = "target_vocab_size"
        case sourceVocabSize = "source_vocab_size"
        case activationFn = "activation_fn"
    }

    public init(
        decoderLayers: Int, decoderEmbedDim: Int, decoderFfnEmbedDim: Int, decoderAttentionHeads: Int,
        decoderNormalizeBefore: Bool, maxTargetPositions: Int = 1024, noScaleEmbedding: Bool = false,
        classConditional: Bool = false, targetVocabSize: Int, sourceVocabSize: Int = -1, activationFn: String = "gelu"
    ) {
        self.decoderLayers = decoderLayers
        self.decoderEmbedDim = decoderEmbedDim
        self.decoderFfnEmbedDim = decoderFfnEmbedDim
        self.decoderAttentionHeads = decoderAttentionHeads
        self.decoderNormalizeBefore = decoderNormalizeBefore
        self.maxTargetPositions = maxTargetPositions
        self.noScaleEmbedding = noScaleEmbedding
        self.classConditional = classConditional
        self.targetVocabSize = targetVocabSize
        self.sourceVocabSize = sourceVocabSize
        self.activationFn = activationFn
    }

    /// fairseq's `Dictionary` specials: `<s>` 0, `<pad>` 1, `</s>` 2, `<unk>` 3, and DiGIT's `<n>` 4.
    public static let specialCount = 5
    public static let bos = 0, pad = 1, eos = 2, unk = 3, newline = 4

    /// `len(task.target_dictionary)`.
    public var targetDictionarySize: Int { targetVocabSize + Self.specialCount }
    /// `len(task.source_dictionary)` (0 when there is none).
    public var sourceDictionarySize: Int { sourceVocabSize > 0 ? sourceVocabSize + Self.specialCount : 0 }
    /// Rows of the learned position tables.
    public var positionRows: Int { maxTargetPositions + Self.pad + 1 }
    /// `embed_scale`: sqrt(d) rounded to float32, or 1 with `no_scale_embedding`.
    public var embedScale: Float { noScaleEmbedding ? 1 : Float(Double(decoderEmbedDim).squareRoot()) }

    /// Reads the configuration from a fairseq checkpoint's `cfg` (`cfg.model`, `cfg.task`; plain
    /// dicts as `OmegaConf.to_container` saves them, or pickled omegaconf `DictConfig`s), falling
    /// back to the flat `args` namespace of older checkpoints. Fields fairseq gives a default are
    /// optional here with the same default (`defaults` holds the DiGIT model dataclass's values);
    /// the four size fields are required.
    public init(checkpointRoot root: PickleValue, defaults: FairseqDecoderConfiguration, source: String) throws {
        let sections: [PickleValue] = {
            var s: [PickleValue] = []
            if let cfg = root["cfg"].map(omegaConfPlain), case .dict = cfg {
                if let m = cfg["model"].map(omegaConfPlain) { s.append(m) }
                if let t = cfg["task"].map(omegaConfPlain) { s.append(t) }
            }
            if let args = root["args"], case .object = args { s.append(args) }
            return s
        }()
        func lookup(_ key: CodingKeys) -> PickleValue? {
            for section in sections {
                if let v = section[key.rawValue].map(omegaConfPlain), !v.isNone { return v }
            }
            return nil
        }
        func int(_ key: CodingKeys, _ fallback: Int?) throws -> Int {
            guard let v = lookup(key) else {
                guard let fallback else { throw DiGITError.missingConfiguration(field: key.rawValue, source: source) }
                return fallback
            }
            guard let i = v.intValue else {
                throw DiGITError.unsupportedConfiguration(field: key.rawValue, value: v.typeName, source: source)
            }
            return Int(i)
        }
        func bool(_ key: CodingKeys, _ fallback: Bool) throws -> Bool {
            guard let v = lookup(key) else { return fallback }
            if case let .bool(b) = v { return b }
            throw DiGITError.unsupportedConfiguration(field: key.rawValue, value: v.typeName, source: source)
        }
        self.init(
            decoderLayers: try int(.decoderLayers, nil), decoderEmbedDim: try int(.decoderEmbedDim, nil),
            decoderFfnEmbedDim: try int(.decoderFfnEmbedDim, nil), decoderAttentionHeads: try int(.decoderAttentionHeads, nil),
            decoderNormalizeBefore: try bool(.decoderNormalizeBefore, defaults.decoderNormalizeBefore),
            maxTargetPositions: try int(.maxTargetPositions, defaults.maxTargetPositions),
            noScaleEmbedding: try bool(.noScaleEmbedding, defaults.noScaleEmbedding),
            classConditional: try bool(.classConditional, defaults.classConditional),
            targetVocabSize: try int(.targetVocabSize, defaults.targetVocabSize),
            sourceVocabSize: try int(.sourceVocabSize, defaults.sourceVocabSize),
            activationFn: lookup(.activationFn)?.stringValue ?? defaults.activationFn)
        for (field, on) in [("share_decoder_input_output_embed", true), ("layernorm_embedding", true), ("decoder_learned_pos", false)] {
            if let v = sections.lazy.compactMap({ $0[field].map(omegaConfPlain) }).first, case let .bool(b) = v, b == on {
                throw DiGITError.unsupportedConfiguration(field: field, value: String(b), source: source)
            }
        }
        for field in ["decoder_input_dim", "decoder_output_dim"] {
            if let v = sections.lazy.compactMap({ $0[field].map(omegaConfPlain)?.intValue }).first, Int(v) != decoderEmbedDim {
                throw DiGITError.unsupportedConfiguration(field: field, value: "\(v) (≠ decoder_embed_dim \(decoderEmbedDim))", source: source)
            }
        }
        try validate(source: source)
    }

    /// Checks the numbers that no weight shape can check.
    public func validate(source: String) throws {
        guard activationFn == "gelu" else {
            throw DiGITError.unsupportedConfiguration(field: "activation_fn", value: activationFn, source: source)
        }
        guard decoderAttentionHeads > 0, decoderEmbedDim % decoderAttentionHeads == 0 else {
            throw DiGITError.unsupportedConfiguration(
                field: "decoder_attention_heads", value: "\(decoderAttentionHeads) (does not divide \(decoderEmbedDim))", source: source)
        }
    }

    /// Compares the configuration with the shapes in a state dict before loading, so that a `cfg`
    /// that does not describe the weights fails naming the field rather than a later key.
    func check(against sd: StateDict, embedRows: Int, outputRows: Int) throws {
        let source = sd.source ?? "state dict"
        func dim(_ key: String, _ axis: Int) -> (Int, [Int])? {
            guard let s = sd[key]?.shape, s.count > axis else { return nil }
            return (s[axis], s)
        }
        let checks: [(String, Int, String, Int)] = [
            ("decoder_embed_dim", decoderEmbedDim, "decoder.embed_tokens.weight", 1),
            ("decoder_ffn_embed_dim", decoderFfnEmbedDim, "decoder.layers.0.fc1.weight", 0),
            ("max_target_positions", positionRows, "decoder.embed_positions.weight", 0),
            ("target_vocab_size", outputRows, "decoder.output_projection.weight", 0),
            (classConditional ? "class_conditional (+1000 rows)" : "target_vocab_size", embedRows, "decoder.embed_tokens.weight", 0),
        ]
        for (field, value, key, axis) in checks {
            if let (actual, shape) = dim(key, axis), actual != value {
                let shown = field == "max_target_positions" ? value - Self.pad - 1 : field == "target_vocab_size" ? value - Self.specialCount : value
                throw DiGITError.configurationMismatch(field: field, configured: shown, key: key, shape: shape, source: source)
            }
        }
        let stored = Set(sd.keys.compactMap { k -> Int? in
            guard k.hasPrefix("decoder.layers.") else { return nil }
            return Int(k.dropFirst("decoder.layers.".count).prefix { $0 != "." })
        })
        if let top = stored.max(), top + 1 != decoderLayers {
            throw DiGITError.configurationMismatch(
                field: "decoder_layers", configured: decoderLayers, key: "decoder.layers.\(top).*", shape: [top + 1], source: source)
        }
        if decoderNormalizeBefore != (sd["decoder.layer_norm.weight"] != nil) {
            throw DiGITError.configurationMismatch(
                field: "decoder_normalize_before", configured: decoderNormalizeBefore ? 1 : 0, key: "decoder.layer_norm.weight",
                shape: sd["decoder.layer_norm.weight"]?.shape ?? [], source: source)
        }
    }
}

/// Unwraps omegaconf containers pickled as objects (`DictConfig` → its `_content`, value nodes →
/// their `_val`); plain values are returned as they are.
func omegaConfPlain(_ v: PickleValue) -> PickleValue {
    var v = v
    for _ in 0..<8 {
        guard case .object = v else { return v }
        if let c = v["_content"] { v = c } else if let c = v["_val"] { v = c } else { return v }
    }
    return v
}

extension PickleValue {
    var isNone: Bool { if case .none = self { true } else { false } }
}

/// fairseq `TransformerDecoderLayerBase` without encoder attention: self-attention with separate
/// q/k/v/out projections (all with bias, q scaled by `head_dim^-0.5` after its bias), then
/// `fc2(gelu(fc1(x)))`, each wrapped in a residual and a LayerNorm (eps 1e-5) that comes before
/// (`normalize_before`) or after the residual.
public struct FairseqDecoderLayer: Sendable {
    let kProj: Linear, vProj: Linear, qProj: Linear, outProj: Linear
    let selfAttnLayerNorm: LayerNorm
    let fc1: Linear, fc2: Linear
    let finalLayerNorm: LayerNorm
    let heads: Int
    let normalizeBefore: Bool

    /// Requests `self_attn.{k,v,q,out}_proj`, `self_attn_layer_norm`, `fc1`, `fc2`,
    /// `final_layer_norm` (upstream's `state_dict()` order).
    init(_ w: WeightScope, configuration c: FairseqDecoderConfiguration) throws {
        let d = c.decoderEmbedDim
        let attn = w.scope("self_attn")
        kProj = try Linear(attn.scope("k_proj"), in: d, out: d)
        vProj = try Linear(attn.scope("v_proj"), in: d, out: d)
        qProj = try Linear(attn.scope("q_proj"), in: d, out: d)
        outProj = try Linear(attn.scope("out_proj"), in: d, out: d)
        selfAttnLayerNorm = try LayerNorm(w.scope("self_attn_layer_norm"), dim: d, eps: 1e-5)
        fc1 = try Linear(w.scope("fc1"), in: d, out: c.decoderFfnEmbedDim)
        fc2 = try Linear(w.scope("fc2"), in: c.decoderFfnEmbedDim, out: d)
        finalLayerNorm = try LayerNorm(w.scope("final_layer_norm"), dim: d, eps: 1e-5)
        heads = c.decoderAttentionHeads
        normalizeBefore = c.decoderNormalizeBefore
    }

    /// (B, T, C) new positions → (B, T, C); their keys and values are appended to `cache`, and
    /// each attends causally to every cached position before it (fairseq's `buffered_future_mask`
    /// in the full forward, the whole `prev_key` cache in incremental mode).
    func callAsFunction(_ x: Tensor, cache: inout KVCache) -> Tensor {
        let b = x.dim(0), t = x.dim(1), d = x.dim(2), hd = d / heads
        // Self-attention block.
        var residual = x
        let h = normalizeBefore ? selfAttnLayerNorm(x) : x
        var q = project(h, qProj)  // (B, T, C)
        q *= Float(pow(Double(hd), -0.5))  // fairseq: `q *= self.scaling` after the bias
        let k = project(h, kProj), v = project(h, vProj)  // (B, T, C)
        func split(_ y: Tensor) -> Tensor { y.reshaped([b, t, heads, hd]).permuted([0, 2, 1, 3]) }  // (B, H, T, hd)
        cache.append(keys: split(k), values: split(v))
        let a = cache.attention(split(q), causal: true, scale: 1)  // (B, H, T, hd), softmax in float32
        var y = project(a.permuted([0, 2, 1, 3]).reshaped([b, t, d]), outProj)  // (B, T, C)
        y = residual.adding(y)
        if !normalizeBefore { y = selfAttnLayerNorm(y) }
        // Feed-forward block.
        residual = y
        var f = normalizeBefore ? finalLayerNorm(y) : y
        f = project(gelu(project(f, fc1)), fc2)  // (B, T, FFN) → (B, T, C); exact erf GELU
        f = residual.adding(f)
        if !normalizeBefore { f = finalLayerNorm(f) }
        return f
    }
}

/// `layer(x)` (`x Wᵀ + b` over the last dimension) for the decoder's projections, x (B, T, C).
/// One position per sequence (T = 1: every incremental decoding step) uses the row-invariant
/// kernel (``linear(_:weight:bias:rowInvariant:)``): it streams each weight once, which is what
/// memory-bound decoding needs, and a sample's result does not depend on the batch it shares.
/// Longer inputs (prefill, teacher forcing) use one sgemm. The choice depends on T, never on B.
func project(_ x: Tensor, _ layer: Linear) -> Tensor {
    linear(x, weight: layer.weight, bias: layer.bias, rowInvariant: x.rank >= 2 && x.dim(-2) == 1)
}

/// Per-layer key/value caches of a batch of sequences (fairseq's `incremental_state`).
public struct FairseqDecoderState: Sendable {
    public internal(set) var caches: [KVCache]
    /// Positions cached so far (all sequences of the batch advance together).
    public var length: Int { caches.first?.length ?? 0 }
    public var batch: Int { caches.first?.batch ?? 0 }
    public var capacity: Int { caches.first?.maxLength ?? 0 }
}

/// fairseq `TransformerDecoderBase` (decoder-only): `embed_tokens` scaled by sqrt(d) plus learned
/// positions, the layer stack, the final `layer_norm` for pre-norm models, and an untied
/// `output_projection` without bias. Keys are requested in `state_dict()` order under `decoder.`.
public struct FairseqTransformerDecoder: Sendable {
    public let configuration: FairseqDecoderConfiguration
    let embedTokens: Embedding
    let embedPositions: Embedding
    let layers: [FairseqDecoderLayer]
    let layerNorm: LayerNorm?
    let outputProjection: Linear

    /// - Parameters:
    ///   - w: the `decoder` scope.
    ///   - embedRows: rows of `embed_tokens` (dictionary plus class or source rows).
    ///   - outputRows: rows of `output_projection` (the target dictionary).
    init(_ w: WeightScope, configuration c: FairseqDecoderConfiguration, embedRows: Int, outputRows: Int) throws {
        configuration = c
        // `decoder.version` is a float buffer (3.0 from fairseq ≥ 0.10); ≤ 2 would make upstream
        // drop the final LayerNorm, so such a pre-norm checkpoint is refused.
        w.acknowledge("version", shape: [1])
        if case let .stateDict(sd) = w.weights.origin, let stored = sd[w.key("version")] {
            let value = try stored.load().scalars.first ?? 0
            if value <= 2 && c.decoderNormalizeBefore {
                throw DiGITError.unsupportedConfiguration(
                    field: "decoder.version", value: "\(value) (fairseq < 0.10 checkpoint without a final LayerNorm)",
                    source: w.weights.sourceName)
            }
        }
        embedTokens = try Embedding(w.scope("embed_tokens"), count: embedRows, dim: c.decoderEmbedDim)
        embedPositions = try Embedding(w.scope("embed_positions"), count: c.positionRows, dim: c.decoderEmbedDim)
        layers = try (0..<c.decoderLayers).map { try FairseqDecoderLayer(w.scope("layers").scope($0), configuration: c) }
        layerNorm = c.decoderNormalizeBefore ? try LayerNorm(w.scope("layer_norm"), dim: c.decoderEmbedDim, eps: 1e-5) : nil
        outputProjection = try Linear(w.scope("output_projection"), in: c.decoderEmbedDim, out: outputRows, bias: false)
    }

    /// Empty caches for `batch` sequences of up to `maxLength` positions.
    public func makeState(batch: Int, maxLength: Int) -> FairseqDecoderState {
        let c = configuration
        let cache = KVCache(batch: batch, heads: c.decoderAttentionHeads, maxLength: maxLength, headDim: c.decoderEmbedDim / c.decoderAttentionHeads)
        return FairseqDecoderState(caches: Array(repeating: cache, count: layers.count))
    }

    /// `embed_scale · embed_tokens[ids] + table[rows]`: (B, T, C) for `ids` and `rows` given as
    /// B·T row-major lists.
    func embed(ids: [Int], positionTable table: Embedding, rows: [Int], batch: Int) -> Tensor {
        let d = configuration.decoderEmbedDim, n = ids.count, scale = configuration.embedScale
        precondition(rows.count == n && n % batch == 0, "embed: \(n) ids, \(rows.count) position rows, batch \(batch)")
        return Tensor(shape: [batch, n / batch, d]) { out in
            embedTokens.weight.withUnsafeBufferPointer { e in
                table.weight.withUnsafeBufferPointer { p in
                    for i in 0..<n {
                        let o = out.baseAddress! + i * d, er = e.baseAddress! + ids[i] * d, pr = p.baseAddress! + rows[i] * d
                        for j in 0..<d { (o + j).initialize(to: scale * er[j] + pr[j]) }
                    }
                }
            }
        }
    }

    /// The positions row `padding_idx + 1 + p` of the learned table for absolute position `p`.
    static func positionRow(_ p: Int) -> Int { p + FairseqDecoderConfiguration.pad + 1 }

    /// The layer stack over new positions `x` (B, T, C), appended to `state`. Returns the
    /// features `output_projection` sees (after the final LayerNorm when there is one).
    /// `innerState(n, h)` receives fairseq's `inner_states[n]` for n = 0 … layers (n = 0 is `x`;
    /// n ≥ 1 the output of layer n−1, before the final LayerNorm), as (B, T, C).
    func features(_ x: Tensor, state: inout FairseqDecoderState, innerState: ((Int, Tensor) -> Void)? = nil) -> Tensor {
        precondition(state.caches.count == layers.count && state.batch == x.dim(0), "decoder state does not match the batch")
        precondition(state.length + x.dim(1) <= state.capacity, "decoder state holds \(state.capacity) positions; \(state.length + x.dim(1)) needed")
        var h = x
        innerState?(0, h)
        for (i, layer) in layers.enumerated() {
            h = layer(h, cache: &state.caches[i])
            innerState?(i + 1, h)
        }
        if let layerNorm { h = layerNorm(h) }
        return h
    }

    /// `output_projection(x)`: (…, C) → (…, V).
    func logits(_ x: Tensor) -> Tensor { project(x, outputProjection) }

    /// The last position of each sequence: (B, T, C) → (B, 1, C).
    static func lastPosition(_ x: Tensor) -> Tensor {
        x.dim(1) == 1 ? x : x.slice(axis: 1, (x.dim(1) - 1)..<x.dim(1))
    }
}

/// Acknowledges, without loading, every key of a state dict under `prefixes` (the parts of a
/// DiGIT checkpoint another model owns: `pretrained_encoder.*`, `centroids`, `vqgan.*`), so a
/// strict load of the generator alone does not reject them. Returns how many were acknowledged.
@discardableResult
func acknowledgeForeignKeys(_ weights: Weights, prefixes: [String]) -> Int {
    guard case let .stateDict(sd) = weights.origin else { return 0 }
    var n = 0
    for (key, t) in sd.items where prefixes.contains(where: { key == $0 || key.hasPrefix($0 + ".") }) {
        weights.acknowledge(key, shape: t.shape)
        n += 1
    }
    return n
}
