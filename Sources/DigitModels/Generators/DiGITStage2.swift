// Port of DAMO-NLP-SG/DiGIT fairseq_user/image_generation_stage2/model.py (ST2VTTransformerLanguageModel, "st2vtlm",
// decoder TransformerDecoder2pos; prepare_incremental_state) @ cd6d8ca30a89d88cd5e4173ed4ec4e5f0d9493a1,
// on fairseq v0.12.2's TransformerDecoder (FairseqDecoder.swift).

import DigitCheckpoint
import DigitTensor
import Foundation

/// DiGIT's autoregressive stage-2 pixel decoder: a pre-norm fairseq decoder (final LayerNorm) that
/// generates MAGE-VQGAN codes after a causal prefix of DiGIT cluster tokens.
///
/// Ids: the target dictionary (VQ code v = id v+5, 1029 entries) comes first in `embed_tokens`;
/// cluster k is row `len(tgt_dict) + k + 5` = 1034+k. The prefix token i uses
/// `embed_positions_1` row i+2; `</s>` and the VQ tokens use `embed_positions` rows 2, 3, ….
/// One causal mask covers the whole sequence, prefix included.
public final class DiGITStage2: @unchecked Sendable {
    public let configuration: FairseqDecoderConfiguration
    let decoder: FairseqTransformerDecoder
    let embedPositions1: Embedding

    /// Checkpoint entries that belong to the tokenizer (DINOv2 + K-means) and the MAGE VQGAN.
    public static let otherModelKeyPrefixes = DiGITStage1.tokenizerKeyPrefixes + ["vqgan"]

    /// The `cfg.model` / `cfg.task` defaults of `ST2VTLMConfig` and the stage-2 task.
    public static let configurationDefaults = FairseqDecoderConfiguration(
        decoderLayers: 16, decoderEmbedDim: 1024, decoderFfnEmbedDim: 4096, decoderAttentionHeads: 16,
        decoderNormalizeBefore: true, maxTargetPositions: 1024, targetVocabSize: 1024, sourceVocabSize: 8192)

    /// Builds `decoder.*` (then `decoder.embed_positions_1`, registered last upstream). With
    /// `acknowledgeOthers`, the tensors of the models sharing the checkpoint (`vqgan.*`,
    /// `pretrained_encoder.*`, `centroids`, `centroid_norm`) are acknowledged unread.
    public init(_ weights: Weights, configuration c: FairseqDecoderConfiguration, acknowledgeOthers: Bool = true) throws {
        guard c.decoderNormalizeBefore else {
            throw DiGITError.unsupportedConfiguration(field: "decoder_normalize_before", value: "false (stage 2 is pre-norm)", source: weights.sourceName)
        }
        guard c.sourceVocabSize > 0 else {
            throw DiGITError.unsupportedConfiguration(field: "source_vocab_size", value: "\(c.sourceVocabSize)", source: weights.sourceName)
        }
        try c.validate(source: weights.sourceName)
        configuration = c
        let embedRows = c.targetDictionarySize + c.sourceDictionarySize
        if case let .stateDict(sd) = weights.origin {
            try c.check(against: sd, embedRows: embedRows, outputRows: c.targetDictionarySize)
        }
        if acknowledgeOthers { acknowledgeForeignKeys(weights, prefixes: Self.otherModelKeyPrefixes) }
        let w = weights.scope("decoder")
        decoder = try FairseqTransformerDecoder(w, configuration: c, embedRows: embedRows, outputRows: c.targetDictionarySize)
        embedPositions1 = try Embedding(w.scope("embed_positions_1"), count: c.positionRows, dim: c.decoderEmbedDim)
    }

    /// Loads a fairseq checkpoint (`model` holds the tensors, `cfg` the architecture), strictly.
    public static func load(contentsOf url: URL) throws -> DiGITStage2 {
        let checkpoint = try Checkpoint.open(url)
        let sd = try checkpoint.stateDict(select: "model")
        let c = try FairseqDecoderConfiguration(checkpointRoot: checkpoint.root, defaults: configurationDefaults, source: url.path)
        let weights = Weights(stateDict: sd)
        let model = try DiGITStage2(weights, configuration: c)
        try weights.finish()
        return model
    }

    /// `len(tgt_dict)`: the logits' width.
    public var vocabularySize: Int { configuration.targetDictionarySize }

    /// Decoder caches plus the length of the DiGIT prefix they hold.
    public struct State: Sendable {
        public internal(set) var decoder: FairseqDecoderState
        public internal(set) var prefixLength: Int
        /// Target positions (`</s>`, VQ tokens) cached so far.
        public var targetLength: Int { decoder.length - prefixLength }
    }

    /// Empty caches for `batch` sequences: a prefix plus up to `maxTargetLength` target positions.
    public func makeState(batch: Int, prefixLength: Int, maxTargetLength: Int) -> State {
        State(decoder: decoder.makeState(batch: batch, maxLength: prefixLength + maxTargetLength), prefixLength: 0)
    }

    /// `prepare_incremental_state`: pushes the cluster ids (B × L, values 0 … source_vocab_size−1)
    /// through every layer with a causal mask to fill the caches. Returns the prefix features'
    /// inner states through `innerState` if given.
    public func prefill(clusterIDs: [[Int]], state: inout State, innerState: ((Int, Tensor) -> Void)? = nil) throws {
        guard state.decoder.length == 0 else { throw DiGITError.invalidInput("the prefix must come first") }
        let l = try uniformLength(clusterIDs)
        let k = configuration.sourceVocabSize
        if let bad = clusterIDs.joined().first(where: { !(0..<k).contains($0) }) {
            throw DiGITError.invalidInput("cluster id \(bad) outside 0..<\(k)")
        }
        guard l <= configuration.maxTargetPositions else { throw DiGITError.invalidInput("prefix of \(l) exceeds the position table") }
        let offset = vocabularySize + FairseqDecoderConfiguration.specialCount  // 1034 for the base config
        let x = decoder.embed(
            ids: clusterIDs.joined().map { $0 + offset }, positionTable: embedPositions1,
            rows: Array(repeatElement((0..<l).map(FairseqTransformerDecoder.positionRow), count: clusterIDs.count).joined()),
            batch: clusterIDs.count)  // (B, L, C)
        _ = decoder.features(x, state: &state.decoder, innerState: innerState)
        state.prefixLength = l
    }

    /// Appends target ids (`</s>` first, then VQ ids v+5) to a prefilled state and returns their
    /// logits (B, T, V) — the rows upstream keeps (`logits[:, prefix:]`).
    public func forward(
        targets: [[Int]], state: inout State, lastPositionOnly: Bool = false, innerState: ((Int, Tensor) -> Void)? = nil
    ) throws -> Tensor {
        let t = try uniformLength(targets)
        // Like upstream's embedding, any `embed_tokens` row is accepted (generation only produces
        // target-dictionary ids < len(tgt_dict)).
        let rows = decoder.embedTokens.weight.dim(0)
        if let bad = targets.joined().first(where: { !(0..<rows).contains($0) }) {
            throw DiGITError.invalidInput("target id \(bad) outside embed_tokens' \(rows) rows")
        }
        let offset = state.targetLength
        guard offset + t <= configuration.maxTargetPositions else { throw DiGITError.invalidInput("target exceeds the position table") }
        let x = decoder.embed(
            ids: Array(targets.joined()), positionTable: decoder.embedPositions,
            rows: Array(repeatElement((0..<t).map { FairseqTransformerDecoder.positionRow(offset + $0) }, count: targets.count).joined()),
            batch: targets.count)  // (B, T, C)
        var h = decoder.features(x, state: &state.decoder, innerState: innerState)  // (B, T, C), after the final LayerNorm
        if lastPositionOnly { h = FairseqTransformerDecoder.lastPosition(h) }
        return decoder.logits(h)  // (B, T, V)
    }

    /// The full forward `model.decoder(cat([1034 + k…], [</s>, v+5 …]))[:, L:]` on a fresh state:
    /// logits (B, T, V) of the target positions. `innerState(n, h)` receives `inner_states[n]` of
    /// the target positions only (B, T, C).
    public func forward(clusterIDs: [[Int]], targets: [[Int]], innerState: ((Int, Tensor) -> Void)? = nil) throws -> Tensor {
        let l = try uniformLength(clusterIDs), t = try uniformLength(targets)
        var state = makeState(batch: clusterIDs.count, prefixLength: l, maxTargetLength: t)
        try prefill(clusterIDs: clusterIDs, state: &state)
        return try forward(targets: targets, state: &state, innerState: innerState)
    }

    func uniformLength(_ rows: [[Int]]) throws -> Int {
        let n = rows.first?.count ?? 0
        guard n > 0, rows.allSatisfy({ $0.count == n }) else { throw DiGITError.invalidInput("rows must be non-empty and of equal length") }
        return n
    }

    // MARK: - Generation

    /// `PrefixSequenceGenerator._generate` for one sequence per prefix. Released settings:
    /// `--sampling --sampling-topp 0.8 --temperature 1.0 --min-len 256 --max-len-b 600`; the first
    /// 256 codes (`codes.prefix(256)`) form the 16×16 grid the VQGAN decodes.
    public func generate(
        clusterIDs: [[Int]], options: FairseqGenerationOptions, uniform: (_ sequence: Int, _ step: Int) -> Double
    ) throws -> [FairseqHypothesis] {
        let l = try uniformLength(clusterIDs)
        var state = makeState(batch: clusterIDs.count, prefixLength: l, maxTargetLength: options.maxLength + 1)
        try prefill(clusterIDs: clusterIDs, state: &state)
        let starts = [Int](repeating: FairseqDecoderConfiguration.eos, count: clusterIDs.count)
        return try FairseqSearch.generate(batch: starts.count, startTokens: starts, options: options, step: { previous, _ in
            try forward(targets: previous.map { [$0] }, state: &state).reshaped([previous.count, vocabularySize])  // (B, V)
        }, uniform: uniform)
    }
}
