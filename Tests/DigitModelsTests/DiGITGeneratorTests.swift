import DigitModels
import DigitNN
import Foundation
import Testing
import _DigitTestSupport

/// DiGIT's two-stage generator: the published sampling settings reach fairseq's search as the
/// scripts pass them, and the pipeline's stage 1 continues upstream's greedy run
/// (shared/fixtures/digit_gpt/generate.json).
@Suite(.serialized) struct DiGITGeneratorTests {
    /// scripts/generate_*.sh: `--sampling --sampling-topk 200|400|300` for stage 1 and
    /// `--sampling --sampling-topp 0.8` for stage 2, temperature 1, `--min-len 256`.
    @Test func publishedSettingsBecomeFairseqSearches() {
        let expected: [(GeneratorID, Int)] = [(.digitBase, 200), (.digitLarge, 400), (.digitBaseCls, 300), (.digitLargeCls, 300)]
        for (id, k) in expected {
            let s = id.publishedSampling
            #expect(s.count == 2)
            let o1 = DiGITGenerator.searchOptions(s[0]), o2 = DiGITGenerator.searchOptions(s[1])
            #expect(o1.method == .topK(k) && o1.minLength == 256 && o1.maxLength == 256 && o1.temperature == 1, "\(id)")
            #expect(o2.method == .topP(0.8) && o2.minLength == 256 && o2.maxLength == 256, "\(id)")
            #expect(s.allSatisfy { $0.cfgScale == 1 }, "DiGIT samples without CFG")
        }
        #expect(!GeneratorID.digitBase.isClassConditional && GeneratorID.digitBaseCls.isClassConditional)
    }

    @Test func conditioningMustMatchTheCheckpoint() throws {
        #expect(throws: DiGITError.self) { try DiGITGenerator.checkConditioning(id: .digitBase, stage1ClassConditional: true) }
        #expect(throws: DiGITError.self) { try DiGITGenerator.checkConditioning(id: .digitLargeCls, stage1ClassConditional: false) }
        try DiGITGenerator.checkConditioning(id: .digitBaseCls, stage1ClassConditional: true)
        #expect(throws: DiGITError.self) { _ = try DiGITGenerator.seeded(id: .digitLarge) }
    }

    /// 256 + 256 decoding steps of the base models: with DIGIT_BENCH_FULL_PARITY=1 only.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["DIGIT_BENCH_FULL_PARITY"] == "1"))
    func greedyPipelineContinuesUpstreamAndIsBatchInvariant() throws {
        let gen = try DiGITGenerator.seeded(id: .digitBase)
        let greedy = SamplingConfiguration(greedy: true)
        let rngs = [SampleRNG(seed: 0, sample: 0), SampleRNG(seed: 0, sample: 1)]
        let clusters = try gen.clusters(classes: [nil], rngs: [rngs[0]], sampling: greedy)
        let json = try Fixtures.json("digit_gpt", "generate.json") as! [String: Any]
        let dLine = ((json["uncond_greedy"] as! [String: Any])["D_line_hypothesis"] as! String).split(separator: " ").map { Int($0)! }
        // Upstream's greedy run stopped at 16 tokens (max_len 16); its first 16 steps see the same masks.
        #expect(Array(clusters[0].prefix(dLine.count)) == dLine)
        #expect(clusters[0].count == 256)
        // Sampled images: sample i depends only on its RNG, not on the batch it is generated in.
        let published = GeneratorID.digitBase.publishedSampling
        let both = try gen.generate(classes: [0, 0], rngs: rngs, sampling: published)
        let second = try gen.generate(classes: [0], rngs: [rngs[1]], sampling: published)
        #expect(both.count == 2 && both.height == 256 && both.width == 256)
        let n = 256 * 256 * 3
        #expect(Array(both.pixels[n..<(2 * n)]) == second.pixels)
    }
}
