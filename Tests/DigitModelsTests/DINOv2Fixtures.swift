import DigitCheckpoint
import DigitImage
import DigitModels
import DigitTensor
import Foundation
import _DigitTestSupport

/// Seeded DINOv2 networks and their outputs on the fixture photos, computed once and shared by the
/// DINOv2 and DiGIT tokenizer tests (a ViT forward is the expensive part of both).
enum DINOFixture {
    static let photos = ["astronaut", "chelsea"]

    /// Seeded weights; after the models are built, `requested` lists every key and shape asked for.
    static let vitbWeights = Weights.seeded()
    static let vitlWeights = Weights.seeded()
    static let vitb = Result { try DINOv2(.vitb14reg4, weights: vitbWeights) }
    static let vitl = Result { try DINOv2(.vitl14reg4, weights: vitlWeights) }

    /// `images/<photo><suffix>.png` (suffix `_r224c224`, `_r256c256` or "").
    static func image(_ photo: String, _ suffix: String = "") throws -> RGBImage {
        try ImageCodec.decode(contentsOf: Fixtures.url("dinov2", "images/\(photo)\(suffix).png"))
    }

    static func batch(_ suffix: String, photos: [String] = photos) throws -> ImageBatch {
        ImageBatch(images: try photos.map { try image($0, suffix) })
    }

    /// ViT-B DiGIT features (norm of block 9, patches) of both dump224 photos: (2, 256, 768).
    static let vitbDump224 = Result { () throws -> Tensor in
        try vitb.get().intermediatePatchFeatures(DINOv2Input.normalized(batch("_r224c224")), lastBlocks: 3)
    }

    /// ViT-L DiGIT features (norm of block 21, patches) of the astronaut dump224 crop: (1, 256, 1024).
    static let vitlDump224Photo0 = Result { () throws -> Tensor in
        try vitl.get().intermediatePatchFeatures(DINOv2Input.normalized(batch("_r224c224", photos: ["astronaut"])), lastBlocks: 3)
    }

    /// Channels `0..<c` of a (…, D) tensor.
    static func channels(_ t: Tensor, _ c: Int) -> [Float] {
        let d = t.dim(-1)
        var out: [Float] = []
        out.reserveCapacity(t.count / d * c)
        t.withUnsafeBufferPointer { p in
            for r in 0..<(t.count / d) { out += p[(r * d)..<(r * d + c)] }
        }
        return out
    }

    /// `|a − b| ≤ atol + rtol·|b|` everywhere; returns the worst excess ratio for messages.
    static func allClose(_ a: [Float], _ b: [Float], atol: Double, rtol: Double) -> (ok: Bool, worst: Double, at: Int) {
        precondition(a.count == b.count, "allClose: \(a.count) vs \(b.count)")
        var worst = 0.0, at = 0
        for i in 0..<a.count {
            let r = abs(Double(a[i]) - Double(b[i])) / (atol + rtol * abs(Double(b[i])))
            if r > worst || r.isNaN { worst = r.isNaN ? .infinity : r; at = i }
        }
        return (worst <= 1, worst, at)
    }
}
