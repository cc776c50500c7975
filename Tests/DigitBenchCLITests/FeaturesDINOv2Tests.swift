@testable import DigitBenchCLI
import DigitBench
import Foundation
import Testing
import _DigitTestSupport

/// `features --extractor dinov2-vitb14-reg4` (forwarded to `dino-features`) writes DiGIT's feature
/// (`get_intermediate_layers(x, 3)[0]`, patches row-major, image by image) as upstream computes it
/// on the same seeded weights (shared/fixtures/dinov2/vitb_feat_l3.npy, tolerance 5e-5 from its README).
@Suite(.serialized) struct FeaturesDINOv2Tests {
    @Test func featuresCommandMatchesUpstreamDiGITFeature() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dino-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["astronaut", "chelsea"] {
            try FileManager.default.copyItem(at: Fixtures.url("dinov2", "images/\(name).png"), to: dir.appendingPathComponent("\(name).png"))
        }
        let out = dir.appendingPathComponent("feats.npy")
        var cmd = try #require(try DigitBenchCommand.parseAsRoot(
            ["features", dir.path, "--extractor", "dinov2-vitb14-reg4", "--layer", "-3", "--weights", "seeded", "-o", out.path])
            as? DigitBenchCommand.Features)
        try cmd.run()
        let got = try NPY.read(contentsOf: out)
        #expect(got.shape == [512, 768])
        let ref = try Fixtures.npy("dinov2", "vitb_feat_l3.npy").floats()
        let diff = zip(got.floats(), ref).map { abs($0 - $1) }.max() ?? .infinity
        #expect(diff <= 5e-5, "max abs diff \(diff)")
    }

    @Test func inceptionOnlyOptionsAreChecked() throws {
        #expect(throws: (any Error).self) {
            _ = try DigitBenchCommand.parseAsRoot(["features", "x", "--extractor", "inception-v3", "--sample", "4", "-o", "y.npy"])
        }
        #expect(throws: (any Error).self) {
            _ = try DigitBenchCommand.parseAsRoot(["features", "x", "--extractor", "dinov3", "-o", "y.npy"])
        }
    }
}
