@testable import DigitBenchCLI
import DigitBench
import Foundation
import Testing
import _DigitTestSupport

/// `generate` end to end on seeded weights: LlamaGen GPT-B sampled greedily (top-k 1) with CFG 2.0
/// for class 207 must write exactly the image that LlamaGen's VQ-16 decodes from upstream's greedy
/// tokens (shared/fixtures/gpt, `greedy_cfg2_tokens.npy`, made by upstream `generate()` on the same
/// seeded weights), packed into an ADM batch with its label.
@Suite(.serialized) struct GenerateCommandTests {
    static func tempDir(_ tag: String) throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("generate-\(tag)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    static func run(_ args: [String]) throws {
        var cmd = try #require(try DigitBenchCommand.parseAsRoot(["generate"] + args) as? DigitBenchCommand.Generate)
        try cmd.run()
    }

    @Test func llamaGenGreedySampleIsUpstreamsTokensDecoded() throws {
        let out = try Self.tempDir("llamagen")
        defer { try? FileManager.default.removeItem(at: out) }
        let npz = out.appendingPathComponent("samples.npz")
        try Self.run(["--model", "llamagen-gpt-b", "--weights", "seeded", "--num", "1", "--classes", "207",
                      "--cfg", "2.0", "--top-k", "1", "-o", npz.path])
        let arrays = try NPZ.read(contentsOf: npz)
        #expect(arrays.map(\.name) == ["arr_0", "arr_1", "digit_bench_meta"])  // + the shard stamp, which the ADM evaluator ignores
        #expect(arrays[0].array.shape == [1, 256, 256, 3])
        #expect(arrays[1].array.int64s() == [207])

        let tokens = try Fixtures.npy("gpt", "llamagen_gpt_B/greedy_cfg2_tokens.npy").int64s().map { Int($0) }
        let vq = try LlamaGenVQ(config: .vq16, weights: .seeded())
        let expected = vq.outputImages(try vq.decode(TokenGrid(batch: 1, height: 16, width: 16, indices: tokens)))
        let differing = zip(arrays[0].array.data, expected.pixels).filter { $0 != $1 }.count
        // Exact: the greedy tokens match upstream's (min top-2 logit gap 1.04e-3 vs our ≤ 5e-4 error),
        // and the same tokens decode to the same bytes.
        #expect(differing == 0, "\(differing) bytes differ")
    }

    @Test func imageSizesAreChecked() throws {
        let out = try Self.tempDir("sizes")
        defer { try? FileManager.default.removeItem(at: out) }
        #expect(throws: (any Error).self) {
            try Self.run(["--model", "llamagen-gpt-xl", "--weights", "real", "--num", "1", "--image-size", "256", "-o", out.path])
        }
        #expect(throws: (any Error).self) {
            try Self.run(["--model", "openmagvit2-ar-b", "--weights", "seeded", "--num", "1", "--image-size", "384", "-o", out.path])
        }
    }
}
