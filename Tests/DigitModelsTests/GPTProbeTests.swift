import DigitCheckpoint
import DigitModels
import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

/// Linear-probe features of the LlamaGen and Open-MAGVIT2 GPTs (GPTProbe.swift) on seeded weights:
/// the per-layer states the probe pools are the ones the models' forward turns into logits (checked
/// against the upstream teacher-forced fixtures, shared/fixtures/gpt/README.md), and the pooled
/// LlamaGen features match an independent torch port (tools/make_gpt_probe_reference.py).
@Suite("GPT linear-probe features (seeded weights)", .serialized)
struct GPTProbeTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent("gpt_probe")

    func local(_ name: String) throws -> NPYArray { try NPY.read(contentsOf: Self.fixtures.appendingPathComponent(name)) }

    func ints(_ path: String) throws -> [Int] { try Fixtures.npy("gpt", path).int64s().map { Int($0) } }

    /// Block outputs (B, S, C) of one hidden-state pass, by layer index.
    final class Recorder: @unchecked Sendable {
        var states: [Int: Tensor] = [:]
        func callAsFunction(_ i: Int, _ h: Tensor) { states[i] = h }
    }

    @Test("LlamaGen: the last block's states through norm + output are upstream's teacher-forced logits (atol 5e-4)")
    func llamaGenStatesGiveUpstreamLogits() throws {
        let gpt = LlamaGenGPTTests.model
        let prefix = try ints("llamagen_gpt_B/prefix.npy")
        let rec = Recorder()
        let h = gpt.hiddenStates(classes: [207], tokens: [prefix], onLayer: rec.callAsFunction)  // (1, 21, 768)
        #expect(h.shape == [1, 21, 768] && rec.states.count == 12)
        #expect(rec.states[11]!.scalars == h.scalars)
        let logits = gpt.headLogits(rec.states[11]!)
        let c = compare(logits.scalars, try Fixtures.npy("gpt", "llamagen_gpt_B/logits_teacher_forced.npy").floats())
        print("GPT probe, LlamaGen states → logits vs upstream: \(c)")
        #expect(c.maxAbsDiff <= 5e-4, "\(c)")  // the fixture's tolerance (upstream f32 vs f64: 1.9e-5)

        // The probe pools exactly those states: `last` is row 20, `mean` their float64 average,
        // for any layer order; a truncated pass (layers ≤ 4 only) gives the same states.
        let last = gpt.probeFeatures(tokens: [prefix], layers: [11, 4], pool: .last, classID: 207)  // (1, 2, 768)
        #expect(last.shape == [1, 2, 768])
        #expect(Array(last.scalars[0..<768]) == Array(h.scalars[(20 * 768)..<(21 * 768)]))
        #expect(Array(last.scalars[768...]) == Array(rec.states[4]!.scalars[(20 * 768)..<(21 * 768)]))
        let mean = gpt.probeFeatures(tokens: [prefix], layers: [4], pool: .mean, classID: 207)
        let s4 = rec.states[4]!.scalars
        let expected = (0..<768).map { k in Float((0..<21).reduce(0.0) { $0 + Double(s4[$1 * 768 + k]) } / 21) }
        #expect(mean.scalars == expected)
    }

    @Test("LlamaGen: pooled features of [null class, 256 tokens] equal the torch port's (atol 1e-4 mean, 5e-4 last)")
    func llamaGenMatchesTorchPort() throws {
        let gpt = LlamaGenGPTTests.model
        let t = try local("llamagen_B_tokens.npy").int64s().map { Int($0) }
        let tokens = [Array(t[0..<256]), Array(t[256..<512])]
        let mean = gpt.probeFeatures(tokens: tokens, layers: Array(0..<12), pool: .mean)  // (2, 12, 768), null class
        let cm = compare(mean.scalars, try local("llamagen_B_mean.npy").floats())
        #expect(mean.shape == [2, 12, 768])
        #expect(cm.maxAbsDiff <= 1e-4, "mean: \(cm)")  // values up to 8.0 (rms 1.6)
        let last = gpt.probeFeatures(tokens: tokens, layers: [11], pool: .last)
        let cl = compare(last.scalars, try local("llamagen_B_last.npy").floats())
        print("GPT probe, LlamaGen vs torch port: mean \(cm); last \(cl)")
        #expect(cl.maxAbsDiff <= 5e-4, "last: \(cl)")  // values up to 25 (rms 6.9)
    }

    @Test("Open-MAGVIT2: the last spatial block's states through the factorized heads are upstream's teacher-forced logits (atol 5e-4)")
    func openMAGVIT2StatesGiveUpstreamLogits() throws {
        let ar = OpenMAGVIT2ARTests.model.transformer
        let pre = try ints("omv2_ar_B/prefix_pre.npy"), post = try ints("omv2_ar_B/prefix_post.npy")
        let rec = Recorder()
        // [cls, emb_0 … emb_18]: 20 positions, row t predicts sub-tokens t.
        let h = ar.hiddenStates(classes: [207], pre: [Array(pre.prefix(19))], post: [Array(post.prefix(19))], onLayer: rec.callAsFunction)
        #expect(h.shape == [1, 20, 1024] && rec.states.count == 24)
        let (lp, lq) = ar.subtokenLogits(context: rec.states[23]!, preTokens: [pre])
        let cp = compare(lp.scalars, try Fixtures.npy("gpt", "omv2_ar_B/logits_pre_teacher_forced.npy").floats())
        let cq = compare(lq.scalars, try Fixtures.npy("gpt", "omv2_ar_B/logits_post_teacher_forced.npy").floats())
        print("GPT probe, Open-MAGVIT2 states → logits vs upstream: pre \(cp); post \(cq)")
        #expect(cp.maxAbsDiff <= 5e-4, "pre: \(cp)")  // upstream f32 vs f64: 1.7e-5
        #expect(cq.maxAbsDiff <= 5e-4, "post: \(cq)")  // 2.6e-5

        // The probe takes full v2 indices (pre + 64·post) and pools exactly those states.
        let indices = zip(pre.prefix(19), post.prefix(19)).map { $0 + 64 * $1 }
        let split = ar.splitIndices([indices])
        #expect(split.pre == [Array(pre.prefix(19))] && split.post == [Array(post.prefix(19))])
        let last = ar.probeFeatures(indices: [indices], layers: [23, 2], pool: .last, classID: 207)
        #expect(Array(last.scalars[0..<1024]) == Array(h.scalars[(19 * 1024)..<(20 * 1024)]))
        #expect(Array(last.scalars[1024...]) == Array(rec.states[2]!.scalars[(19 * 1024)..<(20 * 1024)]))
        let mean = ar.probeFeatures(indices: [indices], layers: [2], pool: .mean, classID: 207)
        let s2 = rec.states[2]!.scalars
        #expect(mean.scalars == (0..<1024).map { k in Float((0..<20).reduce(0.0) { $0 + Double(s2[$1 * 1024 + k]) } / 20) })
    }
}
