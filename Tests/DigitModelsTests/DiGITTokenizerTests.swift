import DigitCheckpoint
import DigitImage
import DigitModels
import DigitNN
import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

/// DiGIT's `prepare_semantic` on seeded weights (fixtures/digit_tokenizer, README there).
/// Token ids must be equal except where the fixture's margin (2nd − 1st squared distance) is
/// below 1e-3: there a float32 pipeline with another summation order may pick the runner-up.
@Suite("DiGIT tokenizer (DINOv2 + K-Means)")
struct DiGITTokenizerTests {
    static let base = Result { try DiGITTokenizer(id: .base8k, encoder: DINOFixture.vitb.get(), centroids: .seeded(k: 8192, d: 768)) }

    /// Compares ids with the fixture, excusing near-ties (margin < 1e-3).
    func checkTokens(_ ids: [[Int]], _ tokensFile: String, _ marginFile: String, photos: Int = 2) throws {
        let ref = try Fixtures.npy("digit_tokenizer", tokensFile).int64s().map(Int.init)
        let margin = try Fixtures.npy("digit_tokenizer", marginFile).floats()
        let flat = ids.flatMap { $0 }
        #expect(flat.count == photos * 256)
        var excused = 0, wrong: [Int] = []
        for i in 0..<flat.count where flat[i] != ref[i] {
            if margin[i] < 1e-3 { excused += 1 } else { wrong.append(i) }
        }
        #expect(wrong.isEmpty, "\(tokensFile): \(wrong.count) ids differ at margins ≥ 1e-3, first at \(wrong.first ?? -1)")
        #expect(excused <= 1)
    }

    @Test("seeded centroids are the fixtures' (first values)")
    func seededCentroids() {
        let c = DiGITCentroids.seeded(k: 8192, d: 768)
        #expect(Array(c.values.prefix(4)) == [-0.0837954729795456, -0.03491708263754845, -0.08798566460609436, -0.01592440903186798].map { Float($0) })
    }

    @Test("gen256 encoder input: normalise, then bicubic ×224/256 (atol 5e-4)")
    func gen256Input() throws {
        let x = DiGITTokenizer.encoderInput(croppedImages: try DINOFixture.batch("_r256c256", photos: ["astronaut"]))
        let ref = try Fixtures.npy("digit_tokenizer", "gen256_encoder_input_photo0.npy")
        #expect(x.shape == ref.shape)
        let cmp = compare(x.scalars, ref.floats())
        #expect(cmp.maxAbsDiff <= 5e-4, "\(cmp)")   // README: max |f32 − f64| 4.1e-5 on |values| ≤ 3.07
    }

    @Test("Pillow stage of each path reproduces the fixture crops")
    func crops() throws {
        let photo = try DINOFixture.image("chelsea")
        #expect(DiGITTokenizer.crop(photo, path: .dump224) == (try DINOFixture.image("chelsea", "_r224c224")))
        let c256 = try DINOFixture.image("chelsea", "_r256c256")
        #expect(DiGITTokenizer.crop(photo, path: .gen256) == c256)
        #expect(DiGITTokenizer.crop(photo, path: .lp224) == c256.cropped(left: 16, top: 16, width: 224, height: 224))
    }

    @Test("ViT-B, K=8192, dump224 (features shared with the DINOv2 test)")
    func dump224() throws {
        let tok = try Self.base.get()
        let f = try DINOFixture.vitbDump224.get()
        let ids = tok.centroids.assign(f).indices
        try checkTokens([Array(ids[0..<256]), Array(ids[256..<512])], "vitb_k8192_tokens_dump224.npy", "vitb_k8192_margin_dump224.npy")
    }

    @Test("ViT-B, K=8192, gen256 from the original photos (full pipeline)")
    func gen256() throws {
        let tok = try Self.base.get()
        let ids = tok.encode(images: try DINOFixture.photos.map { try DINOFixture.image($0) }, path: .gen256)
        try checkTokens(ids, "vitb_k8192_tokens_gen256.npy", "vitb_k8192_margin_gen256.npy")
    }

    @Test("ViT-B, K=8192, lp224 (centre 224 of the 256 crop)")
    func lp224() throws {
        let tok = try Self.base.get()
        let crops = try DINOFixture.photos.map { try DINOFixture.image($0, "_r256c256").cropped(left: 16, top: 16, width: 224, height: 224) }
        let ids = tok.encode(encoderInput: DiGITTokenizer.encoderInput(croppedImages: ImageBatch(images: crops)))
        try checkTokens(ids, "vitb_k8192_tokens_lp224.npy", "vitb_k8192_margin_lp224.npy")
    }

    @Test("ViT-L, K=16000, dump224 (astronaut)")
    func vitlDump224() throws {
        let c = DiGITCentroids.seeded(k: 16000, d: 1024)
        let ids = c.assign(try DINOFixture.vitlDump224Photo0.get()).indices
        let ref = try Fixtures.npy("digit_tokenizer", "vitl_k16000_tokens_dump224.npy").int64s().prefix(256).map(Int.init)
        let margin = try Fixtures.npy("digit_tokenizer", "vitl_k16000_margin_dump224.npy").floats()
        let wrong = (0..<256).filter { ids[$0] != ref[$0] && margin[$0] >= 1e-3 }
        #expect(wrong.isEmpty, "\(wrong.count) ids differ at margins ≥ 1e-3")
    }

    @Test("genuine K=16 codebook file (K, d) → tokens, from fixture and from our features")
    func genuine() throws {
        let c = try DiGITCentroids(npy: Fixtures.url("digit_tokenizer", "km_16_genuine.npy"))
        #expect(c.k == 16 && c.d == 768)
        let fromFixture = c.assign(try Fixtures.npy("dinov2", "vitb_feat_l3.npy").tensor()).indices
        let ref = try Fixtures.npy("digit_tokenizer", "vitb_k16genuine_tokens_dump224.npy").int64s().map(Int.init)
        #expect(fromFixture == ref)   // the float64 margins of this file are all ≥ 1e-3
        let ours = c.assign(try DINOFixture.vitbDump224.get()).indices
        try checkTokens([Array(ours[0..<256]), Array(ours[256..<512])], "vitb_k16genuine_tokens_dump224.npy", "vitb_k16genuine_margin_dump224.npy")
    }

    @Test("a DiGIT checkpoint's centroids (D, K) and centroid_norm (1, K) load transposed")
    func checkpointCentroids() throws {
        let values = SeededWeights.values(key: "kmeans.centroids", shape: [16, 768])
        let km = Tensor(shape: [16, 768], scalars: values)
        let norms = Tensor(shape: [1, 16], scalars: (0..<16).map { Float($0) })
        let c = try DiGITCentroids(transposed: km.transposed(0, 1), norms: norms, source: "checkpoint_last.pt")
        #expect(c.k == 16 && c.d == 768 && c.values == values && c.norms == norms.scalars)
        #expect(throws: ModelLoadError.self) {
            try DiGITCentroids(transposed: km.transposed(0, 1), norms: Tensor(zeros: [16]), source: "x")
        }
    }
}

@Suite("DiGIT tokenizer from a stage-1 checkpoint")
struct DiGITCheckpointTests {
    /// A DiGIT stage-1 `model` dict as manifests/digit_stage1_non_decoder.json lists it: the 176
    /// DINOv2 keys under `pretrained_encoder.` (seeded, generated lazily), `centroids` (D, K) =
    /// km_16_genuine.npy transposed, `centroid_norm` (1, K), plus a decoder key the tokenizer ignores.
    func stateDict(dropping: String? = nil) throws -> StateDict {
        let manifest = try #require(try Fixtures.json("manifests", "dinov2_vitb14_reg4.json") as? [String: Any])
        var sd = StateDict(source: "checkpoint_last.pt")
        for e in try #require(manifest["entries"] as? [[String: Any]]) {
            let (key, shape) = (e["key"] as! String, e["shape"] as! [Int])
            sd["pretrained_encoder." + key] = StoredTensor(dtype: .float32, shape: shape) {
                Tensor(shape: shape, scalars: SeededWeights.values(key: key, shape: shape))
            }
        }
        let km = try Fixtures.npy("digit_tokenizer", "km_16_genuine.npy").tensor()          // (16, 768)
        sd["centroids"] = StoredTensor(km.transposed(0, 1))                                     // (768, 16)
        let norms = km.withUnsafeBufferPointer { NearestCentroidSearch.rowNorms($0.baseAddress!, rows: 16, d: 768) }
        sd["centroid_norm"] = StoredTensor(Tensor(shape: [1, 16], scalars: norms))
        sd["decoder.embed_tokens.weight"] = StoredTensor(Tensor(zeros: [21, 4]))
        if let dropping { sd[dropping] = nil }
        return sd
    }

    @Test("encoder from pretrained_encoder.*, codebook from centroids/centroid_norm")
    func load() throws {
        let tok = try DiGITTokenizer(digitStateDict: stateDict())
        #expect(tok.id == .base8k && tok.codebookSize == 16 && tok.lastBlocks == 3)
        // The encoder got the seeded weights: its DiGIT position embedding is the fixture's (atol 1e-7).
        let pos = tok.encoder.positionEmbedding(gridHeight: 16, gridWidth: 16)
        #expect(compare(pos.scalars, try Fixtures.npy("dinov2", "vitb_pos_embed_digit.npy").floats()).maxAbsDiff <= 1e-7)
        // The (D, K) matrix came back to (K, D): the fixture features give the genuine tokens.
        let ids = tok.centroids.assign(try Fixtures.npy("dinov2", "vitb_feat_l3.npy").tensor()).indices
        #expect(ids == (try Fixtures.npy("digit_tokenizer", "vitb_k16genuine_tokens_dump224.npy").int64s().map(Int.init)))
    }

    @Test("a checkpoint without centroid_norm is refused by key")
    func missing() throws {
        let sd = try stateDict(dropping: "centroid_norm")
        #expect(throws: ModelLoadError.missingKey(key: "centroid_norm", expectedShape: [1, -1], source: "checkpoint_last.pt")) {
            try DiGITTokenizer(digitStateDict: sd)
        }
    }
}
