import DigitImage
import DigitModels
import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

/// DINOv2 behind the FeatureExtractor protocol: from the original photos (its own Pillow-exact
/// crop) to the upstream tokens of fixtures/dinov2, at the README's tolerance (atol 5e-5,
/// rtol 1e-4); rows independent of the batch.
@Suite("DINOv2 FeatureExtractor")
struct DINOv2ExtractorTests {
    @Test("dump224 from the original photo: patch_tokens of block -3 = DiGIT's feature, cls of the last block = forward_features' token 0")
    func matchesUpstream() throws {
        let vitb = try DINOFixture.vitb.get()
        // chelsea is 300×451: the extractor resizes and crops it itself (fixture crop offset (0, 56)).
        let photo = ImageBatch(images: [try DINOFixture.image("chelsea")])

        let l3 = try DINOv2FeatureExtractor(network: vitb, inputPath: .dump224, block: -3)
        #expect(l3.id == .dinov2VitB14Reg4)
        #expect(l3.block == 9)
        let tokens = try l3.extractFeatures(photo, names: ["patch_tokens"])["patch_tokens"]!
        #expect(tokens.shape == [1, 256 * 768])
        let ref = try Fixtures.npy("dinov2", "vitb_feat_l3.npy").floats()           // (2, 256, 768), chelsea = row 1
        let r = DINOFixture.allClose(tokens.scalars, Array(ref[(256 * 768)...]), atol: 5e-5, rtol: 1e-4)
        #expect(r.ok, "patch_tokens: worst \(r.worst) at \(r.at)")

        let last = try DINOv2FeatureExtractor(network: vitb, inputPath: .dump224)
        let cls = try last.extractFeatures(photo, names: ["cls"])["cls"]!
        #expect(cls.shape == [1, 768])
        let norm = try Fixtures.npy("dinov2", "vitb_final_norm_c128.npy").floats()  // (2, 261, 128)
        let clsRef = Array(norm[(261 * 128)..<(261 * 128 + 128)])
        let r2 = DINOFixture.allClose(Array(cls.scalars.prefix(128)), clsRef, atol: 5e-5, rtol: 1e-4)
        #expect(r2.ok, "cls: worst \(r2.worst) at \(r2.at)")
    }

    @Test("rows do not depend on the batch; unknown names and blocks are clear errors")
    func batchInvarianceAndErrors() throws {
        let vitb = try DINOFixture.vitb.get()
        let e = try DINOv2FeatureExtractor(network: vitb)                         // lp224, last block
        let a = try DINOFixture.image("astronaut")
        let pair = try e.extractFeatures(ImageBatch(images: [a, a]), names: ["patch_mean", "cls"])
        let one = try e.extractFeatures(ImageBatch(images: [a]), names: ["patch_mean", "cls"])
        for name in ["patch_mean", "cls"] {
            let p = pair[name]!.scalars, o = one[name]!.scalars
            #expect(Array(p.prefix(768)) == o && Array(p.suffix(768)) == o, "\(name) differs across the batch")
        }
        #expect(e.availableFeatures.map(\.name) == ["cls", "patch_mean", "patch_tokens"])
        #expect(throws: DINOv2ExtractorError.unknownFeature("pool3", valid: ["cls", "patch_mean", "patch_tokens"])) {
            try e.extractFeatures(ImageBatch(images: [a]), names: ["pool3"])
        }
        #expect(throws: DINOv2ExtractorError.blockOutOfRange(12, depth: 12)) { try DINOv2FeatureExtractor(network: vitb, block: 12) }
        #expect(throws: DINOv2ExtractorError.unsupportedInputPath("gen256")) { try DINOv2FeatureExtractor(network: vitb, inputPath: .gen256) }
        #expect(try FeatureExtractorID.parse("dinov2-vitl14-reg4") == .dinov2VitL14Reg4)
    }
}
