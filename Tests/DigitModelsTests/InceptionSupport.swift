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

    /// The fixture photo `images/<name>.png`, decoded by DigitImage, as a one-image batch.
    static func image(_ name: String) throws -> ImageBatch {
        try ImageBatch(images: [ImageCodec.decode(contentsOf: Fixtures.url("inception", "images/\(name).png"))])
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
