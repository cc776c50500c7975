import DigitCheckpoint
import DigitImage
import DigitNN
import DigitTensor
import Foundation
import _DigitTestSupport

/// A state-dict manifest of ../shared/fixtures/manifests (keys, shapes, counts in upstream order).
struct VQManifest {
    let json: [String: Any]
    let keys: [String]
    let shapes: [[Int]]

    init(_ name: String) throws {
        json = try Fixtures.json("manifests", name) as! [String: Any]
        let entries = json["entries"] as! [[String: Any]]
        keys = entries.map { $0["key"] as! String }
        shapes = entries.map { $0["shape"] as! [Int] }
    }

    func int(_ field: String) -> Int? { (json[field] as? NSNumber)?.intValue }

    /// Where a model's requested (key, shape) list departs from the manifest, or nil if identical.
    func firstDifference(_ weights: Weights) -> String? {
        let req = weights.requested
        for i in 0..<max(req.count, keys.count) {
            let ours = i < req.count ? "\(req[i].key) \(req[i].shape)" : "<end>"
            let theirs = i < keys.count ? "\(keys[i]) \(shapes[i])" : "<end>"
            if ours != theirs { return "entry \(i): requested \(ours), manifest \(theirs)" }
        }
        return nil
    }

    /// Total elements of the requested tensors whose key starts with `prefix`.
    static func count(_ weights: Weights, prefix: String = "", excluding: Set<String> = []) -> Int {
        weights.requested.filter { $0.key.hasPrefix(prefix) && !excluding.contains($0.key) }.map { $0.shape.product }.reduce(0, +)
    }

    /// Full parity (every photo) when `DIGIT_BENCH_FULL_PARITY=1`; a subset by default to keep the suite short.
    static var fullParity: Bool { ProcessInfo.processInfo.environment["DIGIT_BENCH_FULL_PARITY"] == "1" }

    /// A checkpoint-like state dict holding every manifest entry with its seeded values (loaded
    /// lazily), each key prefixed with `prefix` as a nested checkpoint flattens it.
    func seededStateDict(prefix: String, source: String) -> StateDict {
        var sd = StateDict(source: source)
        for (key, shape) in zip(keys, shapes) {
            sd[prefix + key] = StoredTensor(dtype: .float32, shape: shape) {
                Tensor(shape: shape, scalars: SeededWeights.values(key: key, shape: shape))
            }
        }
        return sd
    }
}

/// Fixture PNGs as uint8 images, decoded by DigitImage (Pillow-exact PNG decoding).
enum VQTestImages {
    static func load(_ area: String, _ name: String) throws -> ImageBatch {
        ImageBatch(images: [try ImageCodec.decode(contentsOf: Fixtures.url(area, "images/\(name).png"))])
    }
}
