import DigitCheckpoint
import DigitModels
import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

/// A minimal pickle (protocol 2) writer for cfg trees, so tests can feed the safe unpickler the
/// structures fairseq saves: plain dicts, and omegaconf `DictConfig`/`AnyNode` objects.
indirect enum MiniPickle {
    case int(Int), bool(Bool), str(String), none
    case dict([(String, MiniPickle)])
    /// An instance of `module.name` built by NEWOBJ with `state` applied by BUILD.
    case object(module: String, name: String, state: [(String, MiniPickle)])

    var bytes: [UInt8] { [0x80, 2] + body + [UInt8(ascii: ".")] }

    private var body: [UInt8] {
        func str(_ s: String) -> [UInt8] {
            let u = Array(s.utf8)
            return [UInt8(ascii: "X")] + withUnsafeBytes(of: UInt32(u.count).littleEndian, Array.init) + u
        }
        func items(_ kv: [(String, MiniPickle)]) -> [UInt8] {
            [UInt8(ascii: "}"), UInt8(ascii: "(")] + kv.flatMap { str($0.0) + $0.1.body } + [UInt8(ascii: "u")]
        }
        switch self {
        case let .int(i): return [UInt8(ascii: "J")] + withUnsafeBytes(of: Int32(i).littleEndian, Array.init)
        case let .bool(b): return [b ? 0x88 : 0x89]
        case let .str(s): return str(s)
        case .none: return [UInt8(ascii: "N")]
        case let .dict(kv): return items(kv)
        case let .object(module, name, state):
            return [UInt8(ascii: "c")] + Array("\(module)\n\(name)\n".utf8) + [UInt8(ascii: ")"), 0x81] + items(state) + [UInt8(ascii: "b")]
        }
    }

    func load() throws -> PickleValue {
        try PickleVM(path: "test.pkl").load(ByteBuffer(copying: bytes, path: "test.pkl")).0
    }
}

@Suite("DiGIT configuration and loading")
struct DiGITConfigurationTests {
    static let baseModel: [(String, MiniPickle)] = [
        ("_name", .str("stlm")), ("decoder_layers", .int(16)), ("decoder_embed_dim", .int(1024)),
        ("decoder_ffn_embed_dim", .int(4096)), ("decoder_attention_heads", .int(16)), ("decoder_normalize_before", .bool(false)),
        ("activation_fn", .str("gelu")), ("decoder_learned_pos", .bool(true)), ("share_decoder_input_output_embed", .bool(false)),
        ("no_scale_embedding", .bool(false)), ("max_target_positions", .int(1024)), ("class_conditional", .bool(true)),
        ("decoder_input_dim", .int(1024)), ("decoder_output_dim", .int(1024)),
    ]
    static let baseTask: [(String, MiniPickle)] = [("_name", .str("image_generation_stage1")), ("target_vocab_size", .int(8192)), ("source_vocab_size", .int(-1))]

    @Test("cfg as plain dicts (OmegaConf.to_container)")
    func plainCfg() throws {
        let root = try MiniPickle.dict([("cfg", .dict([("model", .dict(Self.baseModel)), ("task", .dict(Self.baseTask))])), ("args", .none)]).load()
        let c = try FairseqDecoderConfiguration(checkpointRoot: root, defaults: DiGITStage1.configurationDefaults, source: "t")
        var expected = DiGITStage1.configurationDefaults
        expected.classConditional = true
        #expect(c == expected)
    }

    @Test("cfg as pickled omegaconf DictConfig objects; heads read, never assumed")
    func omegaconfCfg() throws {
        func node(_ v: MiniPickle) -> MiniPickle { .object(module: "omegaconf.nodes", name: "AnyNode", state: [("_val", v), ("_parent", .none)]) }
        func dictConfig(_ kv: [(String, MiniPickle)]) -> MiniPickle {
            .object(module: "omegaconf.dictconfig", name: "DictConfig", state: [("_content", .dict(kv.map { ($0.0, node($0.1)) })), ("_parent", .none)])
        }
        var model = Self.baseModel.filter { $0.0 != "decoder_attention_heads" }
        model.append(("decoder_attention_heads", .int(24)))
        model = model.map { $0.0 == "decoder_embed_dim" || $0.0.hasSuffix("put_dim") ? ($0.0, .int(1536)) : $0 }
        let root = try MiniPickle.dict([("cfg", dictConfig([("model", dictConfig(model)), ("task", dictConfig(Self.baseTask))]))]).load()
        let c = try FairseqDecoderConfiguration(checkpointRoot: root, defaults: DiGITStage1.configurationDefaults, source: "t")
        #expect(c.decoderAttentionHeads == 24 && c.decoderEmbedDim == 1536 && c.classConditional)
    }

    @Test("missing or unsupported cfg fields fail clearly")
    func badCfg() throws {
        let noHeads = try MiniPickle.dict([("cfg", .dict([("model", .dict(Self.baseModel.filter { $0.0 != "decoder_attention_heads" }))]))]).load()
        #expect(throws: DiGITError.missingConfiguration(field: "decoder_attention_heads", source: "t")) {
            try FairseqDecoderConfiguration(checkpointRoot: noHeads, defaults: DiGITStage1.configurationDefaults, source: "t")
        }
        let relu = try MiniPickle.dict([("cfg", .dict([("model", .dict(Self.baseModel.map { $0.0 == "activation_fn" ? ($0.0, .str("relu")) : $0 }))]))]).load()
        #expect(throws: DiGITError.unsupportedConfiguration(field: "activation_fn", value: "relu", source: "t")) {
            try FairseqDecoderConfiguration(checkpointRoot: relu, defaults: DiGITStage1.configurationDefaults, source: "t")
        }
    }

    // MARK: - A tiny decoder in a state dict (fast)

    static let tiny = FairseqDecoderConfiguration(
        decoderLayers: 2, decoderEmbedDim: 16, decoderFfnEmbedDim: 24, decoderAttentionHeads: 4, decoderNormalizeBefore: false,
        maxTargetPositions: 12, targetVocabSize: 7, sourceVocabSize: -1)

    /// A state dict holding exactly what a seeded build of `c` requests, plus tokenizer tensors.
    static func stateDict(_ c: FairseqDecoderConfiguration, extra: [String: [Int]] = [:]) throws -> StateDict {
        let recorder = Weights.seeded()
        _ = try DiGITStage1(recorder, configuration: c)
        var sd = StateDict(source: "tiny.pt")
        for (key, shape) in recorder.requested {
            let v = key == "decoder.version" ? [Float(3)] : SeededWeights.values(key: key, shape: shape)
            sd[key] = StoredTensor(Tensor(shape: shape, scalars: v))
        }
        for (key, shape) in [("centroids", [16, 10]), ("centroid_norm", [1, 10]), ("pretrained_encoder.norm.weight", [16])] {
            sd[key] = StoredTensor(Tensor(zeros: shape))
        }
        for (key, shape) in extra { sd[key] = StoredTensor(Tensor(zeros: shape)) }
        return sd
    }

    @Test("a cfg that disagrees with the weights' shapes names the field")
    func mismatch() throws {
        let sd = try Self.stateDict(Self.tiny)
        var wide = Self.tiny
        wide.decoderEmbedDim = 32
        #expect(throws: DiGITError.configurationMismatch(field: "decoder_embed_dim", configured: 32, key: "decoder.embed_tokens.weight", shape: [12, 16], source: "tiny.pt")) {
            try DiGITStage1(Weights(stateDict: sd), configuration: wide)
        }
        var deep = Self.tiny
        deep.decoderLayers = 3
        #expect(throws: DiGITError.configurationMismatch(field: "decoder_layers", configured: 3, key: "decoder.layers.1.*", shape: [2], source: "tiny.pt")) {
            try DiGITStage1(Weights(stateDict: sd), configuration: deep)
        }
        var cls = Self.tiny
        cls.classConditional = true
        #expect(throws: DiGITError.self) { try DiGITStage1(Weights(stateDict: sd), configuration: cls) }
        // Strict: tokenizer tensors are acknowledged, anything else unknown is rejected.
        let w = Weights(stateDict: sd)
        _ = try DiGITStage1(w, configuration: Self.tiny)
        try w.finish()
        let w2 = Weights(stateDict: try Self.stateDict(Self.tiny, extra: ["decoder.layer_norm.weight": [16], "stray": [1]]))
        #expect(throws: DiGITError.self) { try DiGITStage1(w2, configuration: Self.tiny) }
        let w3 = Weights(stateDict: try Self.stateDict(Self.tiny, extra: ["stray": [1]]))
        _ = try DiGITStage1(w3, configuration: Self.tiny)
        #expect(throws: ModelLoadError.unusedKeys(keys: ["stray"], source: "tiny.pt")) { try w3.finish() }
    }

    @Test("every non-decoder entry of the real checkpoints is routed to the tokenizer / VQGAN", arguments: [
        ("stage1_base_uncond", DiGITStage1.tokenizerKeyPrefixes), ("stage1_large_cls", DiGITStage1.tokenizerKeyPrefixes),
        ("stage2_base", DiGITStage2.otherModelKeyPrefixes),
    ])
    func foreignKeys(variant: String, prefixes: [String]) throws {
        let m = try Fixtures.json("manifests", "digit_gpt.json") as! [String: Any]
        let keys = (((m["variants"] as! [String: Any])[variant] as! [String: Any])["keys"] as! [[Any]]).map { $0[0] as! String }
        let others = keys.filter { !$0.hasPrefix("decoder.") }
        #expect(!others.isEmpty && others.allSatisfy { k in prefixes.contains { k == $0 || k.hasPrefix($0 + ".") } })
        let stage1 = try Fixtures.json("manifests", "digit_stage1_non_decoder.json") as! [String: Any]
        let counts = stage1["prefix_counts"] as! [String: Int]
        if variant == "stage1_base_uncond" { #expect(others.count == counts.values.reduce(0, +)) }
    }

    @Test("tiny decoder: incremental and chunked forwards equal the full forward; bad ids are rejected")
    func tinyConsistency() throws {
        let w = Weights(stateDict: try Self.stateDict(Self.tiny))
        let model = try DiGITStage1(w, configuration: Self.tiny)
        let tokens = [2, 5, 9, 11, 6, 8, 10, 7]
        let full = try model.forward([tokens, tokens.reversed()])
        var state = model.makeState(batch: 2, maxLength: tokens.count)
        var rows: [Tensor] = []
        rows.append(try model.forward([Array(tokens.prefix(3)), Array(tokens.reversed().prefix(3))], state: &state))
        for t in 3..<tokens.count { rows.append(try model.forward([[tokens[t]], [tokens.reversed()[t]]], state: &state)) }
        let incr = concat(rows, axis: 1)
        let c = compare(incr.scalars, full.scalars)
        #expect(c.maxAbsDiff <= 1e-5, "\(c)")
        #expect(throws: DiGITError.self) { try model.forward([[2, 12]]) }
        #expect(throws: DiGITError.self) { try model.startToken(classLabel: 3) }
    }
}

@Suite("fairseq search")
struct FairseqSearchTests {
    @Test("masking follows DiGIT's generator: specials always, </s> before min_len, only </s> at max_len")
    func masking() {
        let options = FairseqGenerationOptions(minLength: 2, maxLength: 3, method: .greedy)
        var rng = TestRNG(seed: 3)
        let base = rng.tensor([20], -3, 3).scalars
        for (step, expected) in [(0, [0, 1, 2, 3, 4]), (1, [0, 1, 2, 3, 4]), (2, [0, 1, 3, 4])] {
            var row = base
            row.withUnsafeMutableBufferPointer { FairseqSearch.maskedLogProbs($0, step: step, options: options) }
            #expect(row.indices.filter { row[$0] == -.infinity } == expected)
            // log_softmax over all 20 entries before masking (float64 reference).
            let m = base.map(Double.init).max()!, lse = m + log(base.reduce(0.0) { $0 + exp(Double($1) - m) })
            #expect(abs(Double(row[7]) - (Double(base[7]) - lse)) < 1e-6)
        }
        var row = base
        row.withUnsafeMutableBufferPointer { FairseqSearch.maskedLogProbs($0, step: 3, options: options) }
        #expect(row.indices.filter { row[$0].isFinite } == [2])
        // A NaN logit makes torch's log_softmax NaN everywhere; NaN → −inf then masks the whole row.
        row = base
        row[9] = .nan
        row.withUnsafeMutableBufferPointer { FairseqSearch.maskedLogProbs($0, step: 0, options: options) }
        #expect(row.allSatisfy { $0 == -.infinity })
    }

    @Test("top-k equals a full sort; top-p equals fairseq's _sample_topp mask construction")
    func topKtopP() {
        var rng = TestRNG(seed: 11)
        for trial in 0..<20 {
            let n = 50 + trial * 13
            let logits = rng.tensor([n], -4, 4).scalars
            let m = logits.max()!
            let lse = Float(log(logits.reduce(0.0) { $0 + exp(Double($1 - m)) })) + m
            var lp = logits.map { $0 - lse }
            for i in 0..<5 { lp[i] = -.infinity }
            let sorted = lp.indices.sorted { lp[$0] > lp[$1] }
            let k = 1 + trial * 3
            #expect(lp.withUnsafeBufferPointer { FairseqSearch.topK($0, k: k) }.map(\.index) == Array(sorted.prefix(k)))
            // _sample_topp: mask = cumsum(sorted probs) < p; last_included = mask.sum clamped to n−1;
            // keep indices 0 … last_included.
            for p: Float in [0.3, 0.8, 0.95] {
                var cum = 0.0
                let mask = sorted.map { i -> Bool in cum += Double(exp(lp[i])); return Float(cum) < p }
                let last = min(mask.filter { $0 }.count, n - 1)
                let expected = Array(sorted.prefix(last + 1))
                #expect(lp.withUnsafeBufferPointer { FairseqSearch.topP($0, p: p) }.map(\.index) == expected)
            }
        }
    }

    @Test("draws are inverse-CDF over the candidates; zero weights are never drawn")
    func draws() {
        let lp: [Float] = [-.infinity, log(0.5), log(0.3), log(0.2)]
        let pick = { (u: Double) in lp.withUnsafeBufferPointer { FairseqSearch.choose($0, method: .topK(3), u: u).token } }
        #expect(pick(0) == 1 && pick(0.49) == 1 && pick(0.51) == 2 && pick(0.79) == 2 && pick(0.81) == 3 && pick(0.9999) == 3)
        let greedy = lp.withUnsafeBufferPointer { FairseqSearch.choose($0, method: .greedy, u: 0.7) }
        #expect(greedy.token == 1 && greedy.logProb == log(0.5))
    }
}
