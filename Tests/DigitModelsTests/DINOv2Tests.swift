import DigitCheckpoint
import DigitImage
import DigitModels
import DigitNN
import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

/// DINOv2-reg4 with seeded weights against DiGIT's own code (fixtures/dinov2, README there).
/// Tolerances are the README's: ≈10× the measured float32-vs-float64 error of upstream.
@Suite("DINOv2 ViT-B/L 14 reg4 (DiGIT's copy)")
struct DINOv2Tests {
    @Test("state-dict keys and shapes equal the manifests, in order", arguments: [DINOv2Model.vitb14reg4, .vitl14reg4])
    func keys(_ model: DINOv2Model) throws {
        let name = model == .vitb14reg4 ? "dinov2_vitb14_reg4.json" : "dinov2_vitl14_reg4.json"
        let manifest = try #require(try Fixtures.json("manifests", name) as? [String: Any])
        let entries = try #require(manifest["entries"] as? [[String: Any]])
        let expected = entries.map { "\($0["key"] as! String) \($0["shape"] as! [Int])" }
        // The shared seeded models record what they requested (the same code path loads a checkpoint).
        _ = try (model == .vitb14reg4 ? DINOFixture.vitb : DINOFixture.vitl).get()
        let w = model == .vitb14reg4 ? DINOFixture.vitbWeights : DINOFixture.vitlWeights
        #expect(w.requested.map { "\($0.key) \($0.shape)" } == expected)
    }

    @Test("position embedding resampled as DiGIT does (scale 37/16.1, no antialias)")
    func posEmbedDigit() throws {
        let ours = try DINOFixture.vitb.get().positionEmbedding(gridHeight: 16, gridWidth: 16)   // (257, 768)
        let ref = try Fixtures.npy("dinov2", "vitb_pos_embed_digit.npy")
        #expect(ref.shape == [257, 768] && ours.shape == [257, 768])
        // atol 1e-7 (README: max |f32 − f64| 8.7e-9 on values ≤ 0.0035; the hub variant is 3.3e-3 away).
        let cmp = compare(ours.scalars, ref.floats())
        #expect(cmp.maxAbsDiff <= 1e-7, "\(cmp)")
    }

    @Test("ViT-L position embedding (channels 0–127)")
    func posEmbedDigitLarge() throws {
        let ours = try DINOFixture.vitl.get().positionEmbedding(gridHeight: 16, gridWidth: 16)
        let ref = try Fixtures.npy("dinov2", "vitl_pos_embed_digit_c128.npy")
        let cmp = compare(DINOFixture.channels(ours, 128), ref.floats())
        #expect(cmp.maxAbsDiff <= 1e-7, "\(cmp)")   // atol 1e-7 as for ViT-B
    }

    @Test("hub variant (size 16, antialias) is available and differs from DiGIT's")
    func posEmbedHub() throws {
        let ours = try DINOFixture.vitb.get().positionEmbedding(gridHeight: 16, gridWidth: 16, interpolation: .hub)
        let ref = try Fixtures.npy("dinov2", "vitb_pos_embed_hub_c128.npy")
        // atol 1e-7: torch's antialiased bicubic has float32 weights, ours Pillow's double ones
        // (values ≤ 0.0035, so relative 3e-5 of slack).
        let cmp = compare(DINOFixture.channels(ours, 128), ref.floats())
        #expect(cmp.maxAbsDiff <= 1e-7, "\(cmp)")
        let digit = try Fixtures.npy("dinov2", "vitb_pos_embed_digit.npy")
        #expect(compare(ours.scalars, digit.floats()).maxAbsDiff > 1e-3)
    }

    @Test("normalised dump224 input matches the tensor fed to the ViT")
    func input() throws {
        let exp = try #require(try Fixtures.json("dinov2", "expected.json") as? [String: Any])
        let images = try #require(exp["images"] as? [[String: Any]])
        let x = DINOv2Input.normalized(try DINOFixture.batch("_r224c224"))
        for (i, info) in images.enumerated() {
            let s = try #require(info["input_tensor_summary"] as? [String: Any])
            let img = x.select(axis: 0, i)
            // Identical float32 formula ((u8/255 − mean)/std): first values exact, the float64 sum to 1e-6.
            #expect(Array(img.scalars.prefix(4)) == (s["first"] as! [Double]).map { Float($0) })
            #expect(abs(img.sum64() - (s["sum"] as! Double)) < 1e-6)
            #expect(img.scalars.min()! == Float(s["min"] as! Double) && img.scalars.max()! == Float(s["max"] as! Double))
        }
    }

    @Test("patch embedding (channels 0–127)")
    func patchEmbed() throws {
        let x = DINOv2Input.normalized(try DINOFixture.batch("_r224c224"))
        let ours = try DINOFixture.vitb.get().patchEmbed(x)                       // (2, 256, 768)
        let ref = try Fixtures.npy("dinov2", "vitb_patch_embed_c128.npy")
        // atol 2e-4 (README; max |f32 − f64| 1.3e-5 on |values| ≤ 13.8), rtol 1e-4.
        let r = DINOFixture.allClose(DINOFixture.channels(ours, 128), ref.floats(), atol: 2e-4, rtol: 1e-4)
        #expect(r.ok, "worst \(r.worst) at \(r.at)")
    }

    @Test("DiGIT feature: norm(block 9)[:, 5:], all channels, both photos in one batch")
    func featureVitB() throws {
        let ours = try DINOFixture.vitbDump224.get()
        #expect(ours.shape == [2, 256, 768])
        let ref = try Fixtures.npy("dinov2", "vitb_feat_l3.npy")
        // atol 5e-5, rtol 1e-4 (README: max |f32 − f64| 4.6e-6; the hub interpolation is 6.5e-3 away).
        let r = DINOFixture.allClose(ours.scalars, ref.floats(), atol: 5e-5, rtol: 1e-4)
        #expect(r.ok, "worst \(r.worst) at \(r.at): \(compare(ours.scalars, ref.floats()))")
    }

    @Test("forward_features: norm(block 11) for cls, registers and patches (channels 0–127), batch-invariant")
    func finalNorm() throws {
        let vitb = try DINOFixture.vitb.get()
        let x = DINOv2Input.normalized(try DINOFixture.batch("_r224c224", photos: ["chelsea"]))
        let ours = vitb.forwardFeatures(x)                                         // (1, 261, 768)
        let ref = try Fixtures.npy("dinov2", "vitb_final_norm_c128.npy").tensor().select(axis: 0, 1)
        let r = DINOFixture.allClose(DINOFixture.channels(ours, 128), ref.scalars, atol: 5e-5, rtol: 1e-4)  // README atol
        #expect(r.ok, "worst \(r.worst) at \(r.at)")
    }

    @Test("ViT-L DiGIT feature: norm(block 21)[:, 5:] (channels 0–127, astronaut)")
    func featureVitL() throws {
        let ours = try DINOFixture.vitlDump224Photo0.get()                        // (1, 256, 1024)
        let ref = try Fixtures.npy("dinov2", "vitl_feat_l3_c128.npy").tensor().select(axis: 0, 0)
        let r = DINOFixture.allClose(DINOFixture.channels(ours, 128), ref.scalars, atol: 5e-5, rtol: 1e-4)  // README atol
        #expect(r.ok, "worst \(r.worst) at \(r.at)")
    }

    @Test("wrong checkpoint keys are reported by name")
    func strictLoading() throws {
        var sd = StateDict(source: "tiny.pth")
        sd["cls_token"] = StoredTensor(Tensor(zeros: [1, 1, 768]))
        sd["pos_embed"] = StoredTensor(Tensor(zeros: [1, 1370, 768]))
        sd["register_tokens"] = StoredTensor(Tensor(zeros: [1, 3, 768]))
        #expect(throws: ModelLoadError.shapeMismatch(key: "register_tokens", expected: [1, 4, 768], actual: [1, 3, 768], source: "tiny.pth")) {
            try DINOv2(.vitb14reg4, weights: Weights(stateDict: sd))
        }
    }
}
