import DigitCheckpoint
import DigitModels
import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

/// Parity of the Open-MAGVIT2 AR-B port with upstream on seeded weights
/// (shared/fixtures/gpt/README.md, section 2; tolerances from its table).
@Suite("Open-MAGVIT2 AR-B vs upstream (seeded weights)", .serialized)
struct OpenMAGVIT2ARTests {
    static let weights = Weights.seeded()
    static let model: OpenMAGVIT2Generator = try! OpenMAGVIT2Generator(config: .preset("B")!, weights: weights)
    static let classID = 207

    func ints(_ name: String) throws -> [Int] {
        try Fixtures.npy("gpt", "omv2_ar_B/\(name)").int64s().map { Int($0) }
    }

    @Test("requested keys and shapes equal the upstream manifest (transformer and first stage)")
    func manifest() throws {
        _ = Self.model
        let m = try Fixtures.json("manifests", "omv2_ar_B.json") as! [String: Any]
        let entries = (m["entries"] as! [[String: Any]]).map { ($0["key"] as! String, $0["shape"] as! [Int]) }
        let requested = Dictionary(Self.weights.requested.map { ($0.key, $0.shape) }, uniquingKeysWith: { a, _ in a })
        for (k, s) in entries where !k.hasSuffix("num_batches_tracked") {
            #expect(requested[k] == s, "\(k): requested \(requested[k] ?? []) vs manifest \(s)")
        }
        let manifestKeys = Set(entries.map(\.0))
        let extra = requested.keys.filter { !manifestKeys.contains($0) && !$0.hasPrefix("first_stage_model.model_ema") && !$0.contains("model_ema") }
        #expect(extra.isEmpty, "keys requested but not in the manifest: \(extra.prefix(5))")
    }

    @Test("teacher-forced pre/post logits: atol 5e-4 (upstream f32 vs f64: 1.7e-5 / 2.6e-5)")
    func teacherForced() throws {
        let pre = try ints("prefix_pre.npy"), post = try ints("prefix_post.npy")
        let (lp, lq) = Self.model.transformer.logits(classes: [Self.classID], pre: [pre], post: [post])
        let cp = compare(lp.scalars, try Fixtures.npy("gpt", "omv2_ar_B/logits_pre_teacher_forced.npy").floats())
        let cq = compare(lq.scalars, try Fixtures.npy("gpt", "omv2_ar_B/logits_post_teacher_forced.npy").floats())
        #expect(lp.shape == [1, 20, 64] && lq.shape == [1, 20, 4096])
        #expect(cp.maxAbsDiff <= 5e-4, "pre: \(cp)")
        #expect(cq.maxAbsDiff <= 5e-4, "post: \(cq)")
    }

    @Test("incremental (KV cache) logits without and with CFG [1.9, 2.0]: atol 5e-4 / 1e-3", arguments: [false, true])
    func incremental(cfg: Bool) throws {
        let pre = try ints("prefix_pre.npy"), post = try ints("prefix_post.npy")
        var rows: [[Float]] = [[], []]
        let sampling = [SamplingConfiguration(cfgScale: cfg ? 1.9 : 1), SamplingConfiguration(cfgScale: cfg ? 2.0 : 1)]
        _ = Self.model.transformer.generate(
            classes: [Self.classID], sampling: sampling, rngs: [SampleRNG(seed: 0, sample: 0)], steps: 20,
            forced: ([pre], [post]), onLogits: { _, i, l in rows[i] += l.scalars })
        let tag = cfg ? "cfg" : "kv_cache"
        let cp = compare(rows[0], try Fixtures.npy("gpt", "omv2_ar_B/logits_pre_\(tag).npy").floats())
        let cq = compare(rows[1], try Fixtures.npy("gpt", "omv2_ar_B/logits_post_\(tag).npy").floats())
        let tol = cfg ? 1e-3 : 5e-4
        #expect(cp.maxAbsDiff <= tol, "pre: \(cp)")
        #expect(cq.maxAbsDiff <= tol, "post: \(cq)")
    }

    @Test("decode_to_img from an 8x8 pre/post grid: atol 5e-4")
    func decodeToImage() throws {
        let img = try Self.model.decodeToImage(pre: [try ints("decode_pre8x8.npy")], post: [try ints("decode_post8x8.npy")], height: 8, width: 8)
        let ref = try Fixtures.npy("gpt", "omv2_ar_B/decode_to_img8x8.npy")
        #expect(img.shape == ref.shape)
        let c = compare(img.scalars, ref.floats())
        #expect(c.maxAbsDiff <= 5e-4, "\(c)")
    }
}
