import DigitCheckpoint
import DigitImage
import DigitModels
import Foundation
import _DigitTestSupport

/// Shared state for the Inception tests: one seeded network (23.9 M values, built once) and the
/// fixture photos of `shared/fixtures/inception`.
enum InceptionFixture {
    /// Row order of every `[6, …]` fixture array (expected.json: images).
    static let imageNames = [
        "astronaut_512x512", "coffee_400x600", "chelsea_300x451", "rocket_crop256", "hubble_crop299", "motorcycle_box32",
    ]

    static let seededWeights = Weights.seeded()
    static let network: InceptionV3 = {
        do { return try InceptionV3(weights: seededWeights) } catch { fatalError("seeded Inception: \(error)") }
    }()

    /// The fixture photo `name` as a one-image batch.
    ///
    /// TODO(image branch): decode `images/<name>.png` through DigitImage once its PNG decoder is
    /// merged. Until then the PNGs are read from the uint8 HWC `.npy` copies written by
    /// `python3 tools/inception_png_to_npy.py` into $DIGIT_BENCH_INCEPTION_NPY (default
    /// /tmp/digit-bench-inception).
    static func image(_ name: String) throws -> ImageBatch {
        let dir = ProcessInfo.processInfo.environment["DIGIT_BENCH_INCEPTION_NPY"] ?? "/tmp/digit-bench-inception"
        let url = URL(fileURLWithPath: dir).appendingPathComponent(name + ".npy")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw FixtureError.missing("\(url.path) (run: python3 tools/inception_png_to_npy.py)")
        }
        let a = try NPY.read(contentsOf: url)
        precondition(a.dtype == .uint8 && a.shape.count == 3 && a.shape[2] == 3, "\(url.path): \(a.dtype) \(a.shape)")
        return ImageBatch(count: 1, height: a.shape[0], width: a.shape[1], pixels: a.data)
    }

    /// Row `name` of a `[6, D]` fixture.
    static func row(_ file: String, _ name: String) throws -> [Double] {
        let a = try Fixtures.npy("inception", file)
        let i = imageNames.firstIndex(of: name)!
        let d = a.shape[1]
        return Array(a.doubles()[i * d..<(i + 1) * d])
    }
}

/// `|Δ| ≤ atol + rtol·|expected|` elementwise; returns the worst violation ratio (≤ 1 passes).
func worstRatio(_ actual: [Float], _ expected: [Double], atol: Double, rtol: Double) -> Double {
    precondition(actual.count == expected.count, "\(actual.count) vs \(expected.count) values")
    var worst = 0.0
    for (a, e) in zip(actual, expected) {
        let r = abs(Double(a) - e) / (atol + rtol * abs(e))
        worst = max(worst, r.isNaN ? .infinity : r)
    }
    return worst
}
