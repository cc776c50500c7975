import DigitMetrics
import Foundation
import Testing
import _DigitTestSupport

@Suite("PSNR, SSIM, codebook usage")
struct ImageQualityTests {
    /// tools/metrics_reference.py `test_images`: integers only, so Swift and Python agree exactly.
    static func images(h: Int, w: Int, c: Int, seed: UInt64) -> ([UInt8], [UInt8]) {
        var rng = TestRNG(seed: seed)
        var a: [UInt8] = [], b: [UInt8] = []
        for y in 0..<h {
            for x in 0..<w {
                for ch in 0..<c {
                    let r = rng.next()
                    let v = (3 * x + 5 * y + 40 * ch + Int(r % 48)) % 256
                    let n = Int((r >> 8) % 25) - 12
                    a.append(UInt8(v))
                    b.append(UInt8(min(255, max(0, v + n))))
                }
            }
        }
        return (a, b)
    }

    // Reference numbers: `python3 tools/metrics_reference.py` (scikit-image 0.26.0, numpy 2.4.6,
    // scipy 1.17.1). uint8 path: float64 in skimage → 1e-12 absolute. Open-MAGVIT2 path: float32
    // filters in skimage and here, summation orders equal → 1e-6 absolute (float32 noise).
    @Test("SSIM and PSNR match scikit-image", arguments: [
        (32, 40, UInt64(1), 0.95106299412267858, 31.090438505635962, 0.95106291770935059, 31.090438585589219, 0.93490129255127408),
        (17, 23, UInt64(2), 0.93161952188440023, 30.853463986180603, 0.93161934614181519, 30.853463876435971, 0.93213130575462888),
    ])
    func skimageParity(h: Int, w: Int, seed: UInt64, ssimU8: Double, psnrU8: Double, ssimOM2: Double, psnrOM2: Double, ssimGray: Double) throws {
        let (a, b) = Self.images(h: h, w: w, c: 3, seed: seed)
        let s = try SSIM.mean(a.map(Double.init), b.map(Double.init), height: h, width: w, channels: 3, dataRange: 255)
        #expect(abs(s - ssimU8) <= 1e-12, "uint8 SSIM \(s) vs \(ssimU8)")
        #expect(abs(try PSNR.uint8(a, b) - psnrU8) <= 1e-12)
        let af = a.map { Float($0) / 255 }, bf = b.map { Float($0) / 255 }
        let s32 = try SSIM.mean(bf, af, height: h, width: w, channels: 3, dataRange: 1)
        #expect(abs(Double(s32) - ssimOM2) <= 1e-6, "float32 SSIM \(s32) vs \(ssimOM2)")
        #expect(abs(try PSNR.openMAGVIT2(a, b) - psnrOM2) <= 1e-9)
        let gray = try SSIM.mean((0..<(h * w)).map { Double(a[$0 * 3]) }, (0..<(h * w)).map { Double(b[$0 * 3]) },
                                 height: h, width: w, channels: 1, dataRange: 255)
        #expect(abs(gray - ssimGray) <= 1e-12)
    }

    @Test("identical images: SSIM 1, PSNR +inf; batch-of-4 averaging")
    func identities() throws {
        let (a, _) = Self.images(h: 9, w: 9, c: 3, seed: 3)
        #expect(try SSIM.mean(a.map(Double.init), a.map(Double.init), height: 9, width: 9, channels: 3, dataRange: 255) == 1)
        #expect(try PSNR.uint8(a, a) == .infinity)
        // 5 values in batches of 4: mean(mean(1,2,3,4), 5) = 3.75 vs per-image mean 3.
        #expect(averagePerImage([1, 2, 3, 4, 5], protocol: .openMAGVIT2) == 3.75)
        #expect(averagePerImage([1, 2, 3, 4, 5], protocol: .uint8) == 3)
        #expect(Quantize.truncateFromSigned(0.999) == 254 && Quantize.roundFromSigned(0.999) == 255)
        #expect(throws: MetricsError.self) { try SSIM.mean([0.0], [0.0], height: 1, width: 1, channels: 1, dataRange: 1) }
    }

    @Test("codebook usage from a histogram")
    func codebook() throws {
        let u = try CodebookUsage(tokens: [0, 0, 1, 1, 2, 2, 3, 3], codebookSize: 8)
        #expect(u.used == 4 && u.fraction == 0.5)
        #expect(abs(u.entropyBits - 2) <= 1e-15 && abs(u.perplexity - 4) <= 1e-12)
        #expect(throws: MetricsError.self) { try CodebookUsage(tokens: [8], codebookSize: 8) }
        #expect(u.result[MetricKey.codebookUsage] == 0.5)
    }

    @Test("metric ids parse with a did-you-mean hint")
    func ids() throws {
        #expect(try MetricID.parse("kid") == .kid)
        #expect(throws: MetricsError.self) { try MetricID.parse("fidd") }
        let text = "\(MetricsError.unknownID(kind: "metric", id: "fidd", valid: MetricID.allCases.map(\.rawValue)))"
        #expect(text.contains("did you mean 'fid'"))
    }
}
