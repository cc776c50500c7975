import DigitBench
import Foundation
import Testing
import _DigitTestSupport

/// `reconstruct --tokenizer digit-base-8k --stage2` on seeded weights: the saved reconstruction is
/// exactly the composition of the pieces tested against upstream elsewhere — the tokenizer's
/// generation-path tokens (fixtures/digit_tokenizer), stage 2's search after that prefix
/// (fixtures/digit_stage2) and the MAGE VQGAN decode (fixtures/vqgan) — with image i drawing from
/// SampleRNG(seed, i) as `generate` does.
@Suite(.serialized) struct DiGITReconstructTests {
    @Test func stage2ReconstructionIsTheComposition() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("digit-recon-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = root.appendingPathComponent("data"), save = root.appendingPathComponent("recon")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let photo = try Fixtures.url("inception", "images/chelsea_300x451.png")
        try FileManager.default.copyItem(at: photo, to: data.appendingPathComponent("chelsea.png"))
        let r = try CLIBinary.run(["reconstruct", "--tokenizer", "digit-base-8k", "--stage2", "--stage2-greedy", "--weights", "seeded",
                                   "--no-fid", "--data", data.path, "--save", save.path, "--json", "--quiet"])
        try #require(r.status == 0, "reconstruct failed: \(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
        let metrics = try #require(json["metrics"] as? [String: Any])
        #expect(metrics["psnr"] != nil && metrics["ssim"] != nil, "\(metrics.keys.sorted())")

        // The same image through the library pieces.
        let crop = DiGITTokenizer.crop(try ImageCodec.decode(contentsOf: photo), path: .gen256)
        let tokenizer = try DiGITTokenizer.seeded(.base8k)
        let clusters = tokenizer.encode(images: [crop], path: .gen256)
        let generator = try DiGITGenerator.seeded(id: .digitBase)
        let decoded = try generator.decode(clusters: clusters, rngs: [SampleRNG(seed: 0, sample: 0)], sampling: SamplingConfiguration(greedy: true))
        let expected = generator.vqgan.outputImages(decoded).image(0)
        let saved = try ImageCodec.decode(contentsOf: save.appendingPathComponent("000000.png"))
        #expect(saved.width == 256 && saved.height == 256)
        #expect(saved.pixels == expected.pixels)  // bit for bit
        // PSNR of that reconstruction against the 256² crop, as the metric code computes it (tested vs scikit-image).
        let psnr = try #require((metrics["psnr"] as? [String: Any])?["value"] as? Double)
        #expect(abs(psnr - (try PSNR.uint8(crop.pixels, expected.pixels))) <= 1e-9 * abs(psnr))
    }
}
