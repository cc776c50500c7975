@testable import DigitBenchCLI
import DigitBench
import Foundation
import Testing

/// Argument handling of `tokenize` / `detokenize` (the model itself is tested in DigitModelsTests).
@Suite struct LFQCommandTests {
    @Test func unknownTokenizerSuggests() {
        do {
            _ = try DigitBenchCommand.parseAsRoot(["tokenize", "--tokenizer", "lfq256", "x.png", "-o", "t.npy"])
            Issue.record("expected a validation error")
        } catch {
            let message = DigitBenchCommand.message(for: error)
            #expect(message.contains("Did you mean: lfq-256"), "\(message)")
        }
    }

    @Test func parsesOptions() throws {
        let cmd = try DigitBenchCommand.parseAsRoot(
            ["detokenize", "--tokenizer", "lfq-256-l", "--weights", "seeded", "--no-ema", "t.npy", "-o", "out"])
        let d = try #require(cmd as? DigitBenchCommand.Detokenize)
        #expect(d.options.tokenizer == "lfq-256-l" && d.options.noEMA && d.options.weights == "seeded" && d.output == "out")
        #expect(throws: (any Error).self) {
            try DigitBenchCommand.parseAsRoot(["detokenize", "--tokenizer", "lfq-256", "--weights", "fake", "t.npy", "-o", "o"])
        }
    }

    @Test func detokenizeRejectsNonIntegerTokens() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lfq-cli-\(UUID().uuidString).npy")
        defer { try? FileManager.default.removeItem(at: url) }
        try NPY.write(NPYArray(float32: [1, 2, 3, 4], shape: [2, 2]), to: url)
        var cmd = try DigitBenchCommand.parseAsRoot(["detokenize", "--tokenizer", "lfq-128", "--weights", "seeded", url.path, "-o", "/tmp/x"])
        #expect(throws: (any Error).self) { try cmd.run() }
    }
}
