// Port of DAMO-NLP-SG/DiGIT fairseq_user/image_generation_stage1/model.py (STTransformerLanguageModel, "stlm")
// and model_linearprobe.py (STTransformerLanguageModelLinearProbe, "stlm_linearprobe")
// @ cd6d8ca30a89d88cd5e4173ed4ec4e5f0d9493a1, on fairseq v0.12.2's TransformerDecoder (FairseqDecoder.swift).

import DigitCheckpoint
import DigitTensor
import Foundation

/// DiGIT's stage-1 GPT over discriminative tokens (`digit-base`, `digit-large` and their
/// class-conditional `-cls` variants): a post-norm fairseq decoder without a final LayerNorm.
///
/// Dictionary: `<s> <pad> </s> <unk> <n>` = 0…4, cluster k = id k+5. The first input token is
/// `</s>` (2), or `len(dictionary) + class` for class-conditional models; token t sits at position
/// row t+2. `output_projection` covers the dictionary only, so a class is never predicted.
public final class DiGITStage1: @unchecked Sendable {
    public let configuration: FairseqDecoderConfiguration
    let decoder: FairseqTransformerDecoder
    /// `linear_classifiers.classifier_{n}_blocks` (n = 0 … layers−1) of the linear-probe model.
    let linearClassifiers: [Linear]
    /// Checkpoint entries that belong to the DiGIT tokenizer (DINOv2 + K-means), not the GPT.
    public static let tokenizerKeyPrefixes = ["centroids", "centroid_norm", "pretrained_encoder"]
    /// Classes of the probe heads and of class-conditional start tokens (ImageNet).
    public static let classCount = 1000

    /// The `cfg.model` / `cfg.task` defaults of `STLMConfig` and `ImagePretrainingStage1Config`.
    public static let configurationDefaults = FairseqDecoderConfiguration(
        decoderLayers: 16, decoderEmbedDim: 1024, decoderFfnEmbedDim: 4096, decoderAttentionHeads: 16,
        decoderNormalizeBefore: false, maxTargetPositions: 1024, classConditional: false, targetVocabSize: 8192, sourceVocabSize: -1)

    /// Builds the decoder from `decoder.*` (and, with `linearProbe`, the probe heads from
    /// `linear_classifiers.*`). With `acknowledgeTokenizer`, the tokenizer's tensors in the same
    /// checkpoint (`pretrained_encoder.*`, `centroids`, `centroid_norm`) are acknowledged unread.
    public init(
        _ weights: Weights, configuration c: FairseqDecoderConfiguration, linearProbe: Bool = false, acknowledgeTokenizer: Bool = true
    ) throws {
        guard !c.decoderNormalizeBefore else {
            throw DiGITError.unsupportedConfiguration(field: "decoder_normalize_before", value: "true (stage 1 is post-norm)", source: weights.sourceName)
        }
        try c.validate(source: weights.sourceName)
        configuration = c
        let embedRows = c.targetDictionarySize + (c.classConditional ? Self.classCount : 0)
        if case let .stateDict(sd) = weights.origin {
            try c.check(against: sd, embedRows: embedRows, outputRows: c.targetDictionarySize)
        }
        if acknowledgeTokenizer { acknowledgeForeignKeys(weights, prefixes: Self.tokenizerKeyPrefixes) }
        decoder = try FairseqTransformerDecoder(
            weights.scope("decoder"), configuration: c, embedRows: embedRows, outputRows: c.targetDictionarySize)
        let probe = weights.scope("linear_classifiers")
        linearClassifiers = linearProbe
            ? try (0..<c.decoderLayers).map { try Linear(probe.scope("classifier_\($0)_blocks"), in: c.decoderEmbedDim, out: Self.classCount) }
            : []
    }

    /// Loads a fairseq checkpoint (`model` holds the tensors, `cfg` the architecture), strictly.
    public static func load(contentsOf url: URL, linearProbe: Bool = false) throws -> DiGITStage1 {
        let checkpoint = try Checkpoint.open(url)
        let sd = try checkpoint.stateDict(select: "model")
        let c = try FairseqDecoderConfiguration(checkpointRoot: checkpoint.root, defaults: configurationDefaults, source: url.path)
        let weights = Weights(stateDict: sd)
        let model = try DiGITStage1(weights, configuration: c, linearProbe: linearProbe)
        try weights.finish()
        return model
    }

    /// `len(dictionary)`: the logits' width.
    public var vocabularySize: Int { configuration.targetDictionarySize }

    /// The first input token: `</s>`, or `len(dictionary) + class` for class-conditional models.
    public func startToken(classLabel: Int?) throws -> Int {
        switch (configuration.classConditional, classLabel) {
        case (false, nil): return FairseqDecoderConfiguration.eos
        case let (true, c?) where (0..<Self.classCount).contains(c): return vocabularySize + c
        case (true, nil): throw DiGITError.invalidInput("the class-conditional model needs a class label")
        case let (true, c?): throw DiGITError.invalidInput("class \(c) outside 0..<\(Self.classCount)")
        case (false, _?): throw DiGITError.invalidInput("the unconditional model takes no class label")
        }
    }

    /// Empty caches for `batch` sequences of up to `maxLength` positions.
    public func makeState(batch: Int, maxLength: Int) -> FairseqDecoderState {
        decoder.makeState(batch: batch, maxLength: maxLength)
    }

    /// Appends `tokens` (B sequences of T ids each) to `state` and returns their logits (B, T, V):
    /// `model.decoder(tokens)` for an empty state, one incremental step for T = 1.
    /// `innerState(n, h)` receives `inner_states[n]` (B, T, C) for n = 0 … layers.
    public func forward(
        _ tokens: [[Int]], state: inout FairseqDecoderState, lastPositionOnly: Bool = false,
        innerState: ((Int, Tensor) -> Void)? = nil
    ) throws -> Tensor {
        let x = try embed(tokens, offset: state.length)  // (B, T, C)
        var h = decoder.features(x, state: &state, innerState: innerState)  // (B, T, C)
        if lastPositionOnly { h = FairseqTransformerDecoder.lastPosition(h) }
        return decoder.logits(h)  // (B, T, V)
    }

    /// The full-sequence forward on a fresh state: logits (B, T, V).
    public func forward(_ tokens: [[Int]], innerState: ((Int, Tensor) -> Void)? = nil) throws -> Tensor {
        var state = makeState(batch: tokens.count, maxLength: tokens.first?.count ?? 0)
        return try forward(tokens, state: &state, innerState: innerState)
    }

    /// `32·embed_tokens[id] + embed_positions[t + 2]` for the tokens at positions offset, offset+1, …
    func embed(_ tokens: [[Int]], offset: Int) throws -> Tensor {
        let t = tokens.first?.count ?? 0
        guard !tokens.isEmpty, t > 0, tokens.allSatisfy({ $0.count == t }) else {
            throw DiGITError.invalidInput("token rows must be non-empty and of equal length")
        }
        let rows = decoder.embedTokens.weight.dim(0)
        if let bad = tokens.joined().first(where: { !(0..<rows).contains($0) }) {
            throw DiGITError.invalidInput("token id \(bad) outside embed_tokens' \(rows) rows")
        }
        guard offset + t <= configuration.maxTargetPositions else {
            throw DiGITError.invalidInput("\(offset + t) positions exceed max_target_positions \(configuration.maxTargetPositions)")
        }
        let positions = (0..<t).map { FairseqTransformerDecoder.positionRow(offset + $0) }
        return decoder.embed(
            ids: Array(tokens.joined()), positionTable: decoder.embedPositions,
            rows: Array(repeatElement(positions, count: tokens.count).joined()), batch: tokens.count)
    }

    // MARK: - Linear probe (issue #11)

    /// The linear-probe features of `model_linearprobe.py`: for images tokenised to `clusterIDs`
    /// (B × 256 cluster ids k, not token ids), the decoder input `[</s>, k+5 …]` (class-conditional
    /// models start with the class token instead, which needs `classLabels`), and
    /// `inner_states[n].mean over all positions` (the start token included) for n = 0 … layers:
    /// (B, layers + 1, C). Upstream probes n = 0 … layers−1.
    public func linearProbeFeatures(clusterIDs: [[Int]], classLabels: [Int]? = nil) throws -> Tensor {
        let b = clusterIDs.count, d = configuration.decoderEmbedDim, depth = configuration.decoderLayers + 1
        let inputs = try clusterIDs.enumerated().map { i, ids in
            [try startToken(classLabel: classLabels?[i])] + ids.map { $0 + FairseqDecoderConfiguration.specialCount }
        }
        var features = [Float](repeating: 0, count: b * depth * d)
        _ = try forward(inputs) { n, h in
            // (B, T, C) → mean over T, accumulated in Double
            let t = h.dim(1)
            h.withUnsafeBufferPointer { p in
                for bi in 0..<b {
                    var acc = [Double](repeating: 0, count: d)
                    for ti in 0..<t {
                        let row = p.baseAddress! + (bi * t + ti) * d
                        for j in 0..<d { acc[j] += Double(row[j]) }
                    }
                    for j in 0..<d { features[(bi * depth + n) * d + j] = Float(acc[j] / Double(t)) }
                }
            }
        }
        return Tensor(shape: [b, depth, d], scalars: features)
    }

    /// The probe heads on features (B, ≥ layers, C): `classifier_{n}_blocks(features[:, n])` →
    /// (B, layers, 1000). Needs a model built with `linearProbe: true`.
    public func linearProbeLogits(_ features: Tensor) throws -> Tensor {
        guard !linearClassifiers.isEmpty else { throw DiGITError.invalidInput("the model was built without linear_classifiers") }
        let b = features.dim(0), layers = linearClassifiers.count
        let heads = linearClassifiers.enumerated().map { n, head in
            head(features.select(axis: 1, n))  // (B, 1000)
        }
        return concat(heads.map { $0.reshaped([b, 1, Self.classCount]) }, axis: 1).reshaped([b, layers, Self.classCount])
    }

    // MARK: - Generation

    /// `PrefixSequenceGenerator` at beam 1 for one sequence per entry of `classLabels` (nil entries
    /// for the unconditional model). Released settings: `--min-len 256 --max-len-b 300`, top-k 200
    /// (base) / 400 (large) / 300 (class-conditional), temperature 1.
    public func generate(
        classLabels: [Int?], options: FairseqGenerationOptions, uniform: (_ sequence: Int, _ step: Int) -> Double
    ) throws -> [FairseqHypothesis] {
        let starts = try classLabels.map { try startToken(classLabel: $0) }
        var state = makeState(batch: starts.count, maxLength: options.maxLength + 2)
        return try FairseqSearch.generate(batch: starts.count, startTokens: starts, options: options, step: { previous, _ in
            try forward(previous.map { [$0] }, state: &state).reshaped([previous.count, vocabularySize])  // (B, V)
        }, uniform: uniform)
    }
}
