import DigitCheckpoint
import DigitImage
@testable import DigitModels
import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

/// MAGE's VQGAN (DiGIT's pixel tokenizer) on seeded weights against ../shared/fixtures/vqgan
/// (MAGE's own code, torch 1.13 CPU float32) and manifests/mage_vqgan.json.
@Suite(.serialized)
struct MAGEVQGANTests {
    static let area = "vqgan"
    static let seeded = Result { try MAGEVQGAN(weights: .seeded()) }
    static let photos = ["astronaut", "chelsea"]

    @Test func requestedKeysAndShapesEqualManifest() throws {
        let weights = Weights.seeded()
        _ = try MAGEVQGAN(weights: weights)
        let manifest = try VQManifest("mage_vqgan.json")
        #expect(manifest.firstDifference(weights) == nil)
        #expect(manifest.keys.count == 168)
        // Exact integer counts from the manifest (no tolerance).
        #expect(VQManifest.count(weights) == manifest.int("num_parameters"))
        #expect(VQManifest.count(weights, prefix: "encoder.") == manifest.int("num_parameters_encoder"))
        #expect(VQManifest.count(weights, prefix: "decoder.") == manifest.int("num_parameters_decoder"))
    }

    /// Fixture rows to run: astronaut for encode and chelsea for decode by default; both (as one
    /// batch of 2) with DIGIT_BENCH_FULL_PARITY=1.
    static func rows(default row: Int) -> Range<Int> { VQManifest.fullParity ? 0..<2 : row..<(row + 1) }

    /// Encoder latents (atol 5e-4, README) and indices (exact where index_margin ≥ 1e-3; all are).
    @Test func encodeMatchesUpstream() throws {
        let model = try Self.seeded.get()
        let rows = Self.rows(default: 0)
        let images = try rows.map { try VQTestImages.load("dinov2", "\(Self.photos[$0])_r256c256") }
        let batch = ImageBatch(count: rows.count, height: 256, width: 256, pixels: images.flatMap(\.pixels))
        let enc = try model.encode(model.modelInput(batch))
        #expect(enc.latent.shape == [rows.count, 256, 16, 16])
        let per = 256 * 16 * 16
        let latent = try Fixtures.npy(Self.area, "latent.npy").floats()[(rows.lowerBound * per)..<(rows.upperBound * per)]
        // README: f32 vs f64 max diff 2.2e-5 at |latent| ≤ 8.7; suggested atol 5e-4.
        let c = compare(enc.latent.scalars, latent)
        #expect(c.maxAbsDiff <= 5e-4, "latent: \(c)")
        let expected = Array(try Fixtures.npy(Self.area, "indices.npy").int64s()[(rows.lowerBound * 256)..<(rows.upperBound * 256)])
        let margin = Array(try Fixtures.npy(Self.area, "index_margin.npy").floats()[(rows.lowerBound * 256)..<(rows.upperBound * 256)])
        #expect(enc.tokens.indices.count == expected.count)
        let differ = (0..<expected.count).filter { Int64(enc.tokens.indices[$0]) != expected[$0] }
        #expect(differ.allSatisfy { margin[$0] < 1e-3 }, "indices differ at \(differ) (margins \(differ.map { margin[$0] }))")
    }

    /// Decode from the fixture's indices (DiGIT's stage-2 path): atol 5e-4 (README); then DiGIT's
    /// uint8 conversion of ours and of the reference agree except within 5e-4·255 of a boundary.
    @Test func decodeCodeMatchesUpstream() throws {
        let model = try Self.seeded.get()
        let rows = Self.rows(default: 1)
        let indices = try Fixtures.npy(Self.area, "indices.npy").int64s().map { Int($0) }
        let out = try model.decode(TokenGrid(batch: rows.count, height: 16, width: 16,
                                             indices: Array(indices[(rows.lowerBound * 256)..<(rows.upperBound * 256)])))
        let per = 3 * 256 * 256
        let ref = Array(try Fixtures.npy(Self.area, "decoded.npy").floats()[(rows.lowerBound * per)..<(rows.upperBound * per)])
        #expect(out.shape == [rows.count, 3, 256, 256])
        let c = compare(out.scalars, ref)
        #expect(c.maxAbsDiff <= 5e-4, "decoded: \(c)")
        let ours = model.outputImages(out).pixels
        let theirs = model.outputImages(Tensor(shape: out.shape, scalars: ref)).pixels
        let mismatches = zip(ours, theirs).filter { $0 != $1 }.count
        #expect(Double(mismatches) <= 1e-3 * Double(ours.count), "\(mismatches) uint8 values differ")
    }

    @Test func protocolPropertiesAndPixelConversionsFollowDiGIT() throws {
        let model = try Self.seeded.get()
        #expect(model.id == "mage-vqgan" && model.usesSeededWeights && model.inputRange == .zeroToOne)
        #expect(model.codebookSize == 1024 && model.downsampleFactor == 16 && model.inputResolution == 256)
        let images = ImageBatch(count: 1, height: 1, width: 1, pixels: [0, 51, 255])
        #expect(model.modelInput(images).scalars == [0, Float(51) / 255, 1])
        // x·255 clipped and truncated: 0.999 → 254.745 → 254; -0.1 → 0; 1.5 → 255.
        let y = Tensor(shape: [1, 3, 1, 1], scalars: [0.999, -0.1, 1.5])
        #expect(model.outputImages(y).pixels == [254, 0, 255])
    }

    @Test func flatAndLightningCheckpointsLoad_wrongTokenizerIsNamed() throws {
        let manifest = try VQManifest("mage_vqgan.json")
        for prefix in ["", "state_dict."] {
            let model = try MAGEVQGAN(stateDict: manifest.seededStateDict(prefix: prefix, source: "vqgan_jax_strongaug.ckpt"))
            #expect(model.codebookSize == 1024)
        }
        // A LlamaGen VQ-16 checkpoint is not MAGE's VQGAN: the first key MAGE asks for that is absent is named.
        let llamagen = try VQManifest("llamagen_vq_16.json").seededStateDict(prefix: "", source: "vq_ds16_c2i.pt")
        #expect(throws: ModelLoadError.missingKey(
            key: "encoder.down.0.block.0.norm1.weight", expectedShape: [128], source: "vq_ds16_c2i.pt")) {
            try MAGEVQGAN(stateDict: llamagen)
        }
    }
}
