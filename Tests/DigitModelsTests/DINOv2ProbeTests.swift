import DigitModels
import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

/// DINOv2 linear-probe features (class token / patch mean of the normed block output) against the
/// upstream tokens in fixtures/dinov2, at the README's tolerance (atol 5e-5, rtol 1e-4): a mean of
/// values each within it stays within it.
@Suite("DINOv2 linear-probe features")
struct DINOv2ProbeTests {
    /// Mean over tokens `from..<T` of a (B, T, C) fixture, in float64. → (B, C)
    static func tokenMean(_ a: [Float], b: Int, t: Int, c: Int, from: Int) -> [Float] {
        var out = [Float](repeating: 0, count: b * c)
        for bi in 0..<b {
            for ch in 0..<c {
                var s = 0.0
                for j in from..<t { s += Double(a[(bi * t + j) * c + ch]) }
                out[bi * c + ch] = Float(s / Double(t - from))
            }
        }
        return out
    }

    static func channels(_ f: Tensor, layer: Int, _ c: Int) -> [Float] {
        let (b, l, d) = (f.dim(0), f.dim(1), f.dim(2))
        let s = f.scalars
        var out: [Float] = []
        for bi in 0..<b {
            let start: Int = (bi * l + layer) * d
            out += s[start..<(start + c)]
        }
        return out
    }

    @Test("cls and patch mean of norm(block 11) equal forward_features' tokens (chelsea, channels 0–127)")
    func finalBlock() throws {
        let vitb = try DINOFixture.vitb.get()
        let x = DINOv2Input.normalized(try DINOFixture.batch("_r224c224", photos: ["chelsea"]))
        let f = vitb.probeFeatures(x, layers: [11], pool: .cls)                   // (1, 1, 768)
        let m = vitb.probeFeatures(x, layers: [11], pool: .mean)
        let ref = try Fixtures.npy("dinov2", "vitb_final_norm_c128.npy")            // (2, 261, 128)
        #expect(ref.shape == [2, 261, 128])
        let all = ref.floats(), one = Array(all[(261 * 128)...])                   // chelsea = row 1
        let cls = Array(one.prefix(128))
        let r1 = DINOFixture.allClose(Self.channels(f, layer: 0, 128), cls, atol: 5e-5, rtol: 1e-4)
        #expect(r1.ok, "cls: worst \(r1.worst) at \(r1.at)")
        let mean = Self.tokenMean(one, b: 1, t: 261, c: 128, from: 5)              // registers 1…4 excluded
        let r2 = DINOFixture.allClose(Self.channels(m, layer: 0, 128), mean, atol: 5e-5, rtol: 1e-4)
        #expect(r2.ok, "mean: worst \(r2.worst) at \(r2.at)")
    }

    @Test("patch mean of norm(block 9) equals the mean of DiGIT's feature (both photos, all channels); several layers in one pass")
    func block9AndLayers() throws {
        let vitb = try DINOFixture.vitb.get()
        let x = DINOv2Input.normalized(try DINOFixture.batch("_r224c224"))
        let f = vitb.probeFeatures(x, layers: [11, 9], pool: .mean)               // (2, 2, 768)
        #expect(f.shape == [2, 2, 768])
        let ref = try Fixtures.npy("dinov2", "vitb_feat_l3.npy")                    // (2, 256, 768) = norm(block 9)[:, 5:]
        let mean = Self.tokenMean(ref.floats(), b: 2, t: 256, c: 768, from: 0)
        let r = DINOFixture.allClose(Self.channels(f, layer: 1, 768), mean, atol: 5e-5, rtol: 1e-4)
        #expect(r.ok, "worst \(r.worst) at \(r.at)")
        // One pass for both layers gives what one call per layer gives, bit for bit.
        let only11 = vitb.probeFeatures(x, layers: [11], pool: .mean)
        #expect(Self.channels(f, layer: 0, 768) == Self.channels(only11, layer: 0, 768))
    }
}
