@testable import DigitBenchCLI
import DigitBench
import Foundation
import Testing
import _DigitTestSupport

/// `reconstruct` on two small fixture photos at 128 px with seeded `lfq-128` (and seeded Inception).
@Suite(.serialized) struct ReconstructCommandTests {
    static let names = ["omv2_128_astronaut.png", "omv2_128_coffee.png"]

    static func tempDir(_ tag: String) throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("recon-\(tag)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    static func imageFolder() throws -> URL {
        let dir = try tempDir("images")
        for n in names { try FileManager.default.copyItem(at: Fixtures.url("lfq", "images/" + n), to: dir.appendingPathComponent(n)) }
        return dir
    }

    static func evaluate(_ args: [String]) throws -> DigitBenchCommand.Reconstruct.Result {
        let cmd = try DigitBenchCommand.parseAsRoot(["reconstruct"] + args)
        let r = try #require(cmd as? DigitBenchCommand.Reconstruct)
        return try ModelTestLock.run { try r.evaluate() }
    }

    static func value(_ r: DigitBenchCommand.Reconstruct.Result, _ key: String) -> Any? {
        ((r.json["metrics"] as? [String: Any])?[key] as? [String: Any])?["value"]
    }

    @Test func identicalImagesGiveInfinitePSNR() throws {
        let img = try ImageCodec.decode(contentsOf: Fixtures.url("lfq", "images/" + Self.names[0]))
        var m = ReconMetrics(protocol: .uint8)
        try m.add(truth: img, recon: img)
        let psnr = m.summary.first { $0.0 == "psnr" }!.2
        #expect(psnr == .infinity)
        #expect(jsonNumber(psnr) as? String == "inf" && formatMetric(psnr) == "inf")
        let ssim = m.summary.first { $0.0 == "ssim" }!.2
        #expect(abs(ssim - 1) < 1e-12)  // SSIM of identical images is 1 up to float64 rounding
    }

    /// PSNR/SSIM reported = DigitMetrics on the saved reconstructions vs outputImages(modelInput(x)).
    @Test func metricsMatchLibraryOnSavedReconstructions() throws {
        let dir = try Self.imageFolder(), out = try Self.tempDir("save")
        defer { try? FileManager.default.removeItem(at: dir); try? FileManager.default.removeItem(at: out) }
        let grid = out.appendingPathComponent("grid.png")
        let r = try Self.evaluate(["--tokenizer", "lfq-128", "--weights", "seeded", "--no-fid", "--data", dir.path,
                                   "--save", out.path, "--grid", grid.path, "--quiet", "--batch", "2"])
        #expect(r.json["seeded"] as? Bool == true)
        let tok = try LFQTokenizer(.lfq128, weights: .seeded())
        var psnr: [Double] = [], ssim: [Double] = []
        for (i, n) in Self.names.enumerated() {
            let src = Preprocess.torchvisionResizeCenterCrop(try ImageCodec.decode(contentsOf: dir.appendingPathComponent(n)), size: 128, filter: .bilinear)
            let truth = tok.outputImages(tok.modelInput(ImageBatch(images: [src]))).image(0)
            let recon = try ImageCodec.decode(contentsOf: out.appendingPathComponent(String(format: "%06d.png", i)))
            psnr.append(try PSNR.uint8(truth.pixels, recon.pixels))
            ssim.append(Double(try SSIM.mean(truth.pixels.map { Float($0) / 255 }, recon.pixels.map { Float($0) / 255 },
                                              height: 128, width: 128, channels: 3, dataRange: 1)))
        }
        // Same uint8 images through the same functions: equal up to summation order (1e-12).
        #expect(abs((Self.value(r, "psnr") as! Double) - psnr.reduce(0, +) / 2) < 1e-12)
        #expect(abs((Self.value(r, "ssim") as! Double) - ssim.reduce(0, +) / 2) < 1e-12)
        #expect(Self.value(r, "bits_per_pixel") as? Double == 18.0 / 64)
        #expect(FileManager.default.fileExists(atPath: grid.path))
    }

    @Test func batchSizeInvarianceWithSeededInception() throws {
        let dir = try Self.imageFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try Self.evaluate(["--tokenizer", "lfq-128", "--weights", "seeded", "--data", dir.path, "--quiet", "--batch", "1"])
        let b = try Self.evaluate(["--tokenizer", "lfq-128", "--weights", "seeded", "--data", dir.path, "--quiet", "--batch", "2"])
        for key in ["psnr", "ssim", "bits_per_pixel", "codebook_usage", "codebook_perplexity"] {
            #expect(Self.value(a, key) as? Double == Self.value(b, key) as? Double, "\(key)")
        }
        // rFID: per-image features do not depend on batching; statistics may differ by summation order.
        let fa = try #require(Self.value(a, "rfid") as? Double), fb = try #require(Self.value(b, "rfid") as? Double)
        #expect(fa.isFinite && abs(fa - fb) <= 1e-6 * max(1, abs(fa)), "\(fa) vs \(fb)")
        #expect((a.json["weights"] as? String ?? "").contains("SEEDED"))
    }

    @Test func jpegQualityOrdersPSNR() throws {
        let dir = try Self.tempDir("jpeg")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: Fixtures.url("inception", "images/rocket_crop256.png"), to: dir.appendingPathComponent("rocket.png"))
        let hi = try Self.evaluate(["--tokenizer", "jpeg-q90", "--no-fid", "--data", dir.path, "--quiet"])
        let lo = try Self.evaluate(["--tokenizer", "jpeg-q10", "--no-fid", "--data", dir.path, "--quiet"])
        let p90 = try #require(Self.value(hi, "psnr") as? Double), p10 = try #require(Self.value(lo, "psnr") as? Double)
        #expect(p90.isFinite && p90 > p10, "q90 \(p90) dB vs q10 \(p10) dB")
        let b90 = try #require(Self.value(hi, "bits_per_pixel") as? Double), b10 = try #require(Self.value(lo, "bits_per_pixel") as? Double)
        #expect(b90 > b10 && b10 > 0)
    }

    @Test func missingWeightsNameTheFile() throws {
        let home = try Self.tempDir("home")
        defer { try? FileManager.default.removeItem(at: home) }
        do {
            _ = try ReconCodec.load("lfq-128", checkpoint: nil, seeded: false, environment: ["DIGIT_BENCH_HOME": home.path])
            Issue.record("expected a missing-weights error")
        } catch {
            #expect("\(error)".contains("imagenet_128_B.ckpt"), "\(error)")
        }
        do {
            _ = try ReconCodec.load("lfq-128", checkpoint: home.appendingPathComponent("nope.ckpt").path, seeded: false)
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("nope.ckpt"))
        }
    }
}

/// `reconstruct --tokenizer digit-base-8k`: codebook statistics of the DiGIT tokens (generation path)
/// of the images, and rFID/PSNR/SSIM reported as not applicable rather than invented.
@Suite(.serialized) struct ReconstructDiGITTests {
    @Test func digitTokenizerReportsCodebookStatisticsOnly() throws {
        let dir = try ReconstructCommandTests.imageFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try ReconstructCommandTests.evaluate(["--tokenizer", "digit-base-8k", "--weights", "seeded", "--data", dir.path, "--quiet"])
        let metrics = try #require(r.json["metrics"] as? [String: Any])
        #expect(Set(metrics.keys) == ["codebook_usage", "codebook_perplexity", "codebook_entropy_bits"])
        #expect((r.json["not_applicable"] as? [String]) == ["rfid", "psnr", "ssim"])
        // The same tokens from the library (its tokens are checked against upstream in DigitModelsTests).
        let tokenizer = try DiGITTokenizer.seeded(.base8k)
        let images = try ReconstructCommandTests.names.map { try ImageCodec.decode(contentsOf: dir.appendingPathComponent($0)) }
        var histogram = [Int](repeating: 0, count: tokenizer.codebookSize)
        for ids in tokenizer.encode(images: images, path: .gen256) { for i in ids { histogram[i] += 1 } }
        let u = CodebookUsage(histogram: histogram)
        #expect((metrics["codebook_usage"] as? [String: Any])?["used"] as? Int == u.used)
        #expect((metrics["codebook_perplexity"] as? [String: Any])?["value"] as? Double == u.perplexity)
    }
}
