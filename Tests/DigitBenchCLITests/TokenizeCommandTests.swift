import DigitBench
import Foundation
import Testing
import _DigitTestSupport

/// `tokenize` / `detokenize` end to end through the binary on seeded weights, against the
/// upstream fixtures (fixtures/llamagen_vq, fixtures/digit_tokenizer; tolerances from their READMEs).
@Suite("tokenize / detokenize for every tokenizer")
struct TokenizeCommandTests {
    static func temp() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("digit-bench-tokenize-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("llamagen-vq16: tokenize = upstream's indices, detokenize = upstream's decode_code as uint8 (±1)")
    func llamaGen() throws {
        let dir = try Self.temp()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The fixture photo is already center_crop_arr(256): the ADM crop leaves it unchanged.
        let photo = try Fixtures.url("llamagen_vq", "images/lg_256_coffee.png")
        let tokens = dir.appendingPathComponent("t.npy")
        let r = try CLIBinary.run(["tokenize", "--tokenizer", "llamagen-vq16", "--weights", "seeded", photo.path, "-o", tokens.path])
        #expect(r.status == 0, "\(r.stderr)")
        let ours = try NPY.read(contentsOf: tokens)
        #expect(ours.shape == [1, 16, 16])
        let expected = try Fixtures.npy("llamagen_vq", "vq16/coffee_indices.npy").int64s()
        // Indices exact (README: the near-ties are on the astronaut photo only).
        #expect(ours.int64s() == expected)

        // detokenize the fixture's indices: LlamaGen's uint8 rule clamp(127.5·x + 128, 0, 255) of
        // upstream's decode_code output; float32 differences (README atol 3e-4 → 0.04 levels)
        // may move a value across an integer boundary, so ±1.
        let grid = dir.appendingPathComponent("grid.npy")
        try NPY.write(NPYArray(int64: expected, shape: [1, 16, 16]), to: grid)
        let out = dir.appendingPathComponent("png")
        let d = try CLIBinary.run(["detokenize", "--tokenizer", "llamagen-vq16", "--weights", "seeded", grid.path, "-o", out.path])
        #expect(d.status == 0, "\(d.stderr)")
        let image = try ImageCodec.decode(contentsOf: out.appendingPathComponent("000000.png"))
        let decoded = try Fixtures.npy("llamagen_vq", "vq16/coffee_decoded.npy").floats()   // (1, 3, 256, 256)
        #expect(image.width == 256 && image.height == 256)
        var worst = 0
        for c in 0..<3 {
            for p in 0..<(256 * 256) {
                let ref = Int(min(max(127.5 * decoded[c * 65536 + p] + 128, 0), 255))        // .to(uint8) truncates
                worst = max(worst, abs(Int(image.pixels[p * 3 + c]) - ref))
            }
        }
        #expect(worst <= 1, "max |Δ| \(worst) levels")
    }

    @Test("digit-base-8k: tokenize the original photos = DiGIT's gen256 tokens (near-ties excused); no detokenize")
    func digit() throws {
        let dir = try Self.temp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let photos = try ["astronaut", "chelsea"].map { try Fixtures.url("dinov2", "images/\($0).png").path }
        let tokens = dir.appendingPathComponent("t.npy"), latents = dir.appendingPathComponent("l.npy")
        let r = try CLIBinary.run(["tokenize", "--tokenizer", "digit-base-8k", "--weights", "seeded"] + photos
                                  + ["-o", tokens.path, "--latents", latents.path])
        #expect(r.status == 0, "\(r.stderr)")
        let ours = try NPY.read(contentsOf: tokens)
        #expect(ours.shape == [2, 16, 16])
        #expect(try NPY.read(contentsOf: latents).shape == [2, 768, 16, 16])
        let ref = try Fixtures.npy("digit_tokenizer", "vitb_k8192_tokens_gen256.npy").int64s()
        let margin = try Fixtures.npy("digit_tokenizer", "vitb_k8192_margin_gen256.npy").floats()
        // README: ids equal except where the 2nd − 1st squared-distance margin is < 1e-3.
        let ids = ours.int64s()
        let wrong = ids.indices.filter { ids[$0] != ref[$0] && margin[$0] >= 1e-3 }
        #expect(wrong.isEmpty, "ids differ at margins ≥ 1e-3: \(wrong.prefix(5))")

        let d = try CLIBinary.run(["detokenize", "--tokenizer", "digit-base-8k", "--weights", "seeded", tokens.path, "-o", dir.path])
        #expect(d.status != 0)
        #expect(d.stderr.contains("has no decoder") && d.stderr.contains("--stage2"), "\(d.stderr)")
    }

    @Test("unknown ids list every tokenizer; --no-ema is for lfq only")
    func arguments() throws {
        let r = try CLIBinary.run(["tokenize", "--tokenizer", "llamagen-vq-16", "x.png", "-o", "t.npy"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("llamagen-vq16") && r.stderr.contains("digit-large-16k") && r.stderr.contains("mage-vqgan"), "\(r.stderr)")
        let e = try CLIBinary.run(["tokenize", "--tokenizer", "mage-vqgan", "--no-ema", "x.png", "-o", "t.npy"])
        #expect(e.status != 0 && e.stderr.contains("--no-ema"), "\(e.stderr)")
    }
}
