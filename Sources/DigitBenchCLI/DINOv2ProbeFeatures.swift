import ArgumentParser
import DigitBench
import Foundation

/// Linear-probe features of DINOv2 (`--model dinov2-vitb14-reg4|dinov2-vitl14-reg4`), as
/// dinov2's linear evaluation forms them: validation transform `Resize(256, bicubic)` +
/// `CenterCrop(224)` + ImageNet normalisation (train images take the same deterministic path, as
/// with DiGIT), then for each chosen block the final `norm` of its tokens pooled by `--pool`:
/// `cls` (the class token) or `mean` (the patch tokens' average; registers excluded).
struct DINOv2ProbeFeatureSource: ProbeFeatureSource {
    let net: DINOv2
    let model: DINOv2Model
    let blocks: [Int]
    let pool: DINOv2Pool
    let weightsTag: String
    let train: String, val: String
    let batch: Int
    let cache: URL?

    var description: String {
        "\(net.provenance): \(pool == .cls ? "class token" : "patch mean") of norm(block) for blocks \(blocks.map(String.init).joined(separator: ",")) of \(train) / \(val), Resize 256 + CenterCrop 224"
    }

    func layerNames(count: Int) -> [String] { blocks.map { "block[\($0)]" } }

    /// `layers` "all" or block indices (negative: from the end, -1 = the last block).
    static func make(model: String, weights: String, checkpoint: String?, layers: String, pool: String, posEmbed: String,
                     train: String, val: String, batch: Int, cache: String?) throws -> DINOv2ProbeFeatureSource {
        guard let m = DINOv2Model(rawValue: model) else { throw ValidationError("unknown DINOv2 model \(model)") }
        guard let p = DINOv2Pool(rawValue: pool) else { throw ValidationError("--pool must be cls or mean, got '\(pool)'") }
        guard let interpolation = PositionEmbeddingInterpolation(rawValue: posEmbed) else {
            throw ValidationError("--pos-embed must be hub or digit, got '\(posEmbed)'")
        }
        let w: Weights, tag: String
        switch weights {
        case "seeded":
            w = .seeded()
            tag = "seeded"
        case "real":
            let url = try checkpoint.map { URL(fileURLWithPath: $0) } ?? GeneratorLoader.registered(m.rawValue)
            w = Weights(stateDict: try Checkpoint.load(url).stateDict)
            tag = try ProbeExtraction.weightsTag(url, cache: cache)
        default:
            throw ValidationError("--weights must be real or seeded")
        }
        let net = try DINOv2(m, weights: w, interpolation: interpolation)
        let blocks: [Int]
        if layers == "all" {
            blocks = Array(0..<net.depth)
        } else {
            blocks = try layers.split(separator: ",").map {
                guard let l = Int($0.trimmingCharacters(in: .whitespaces)), let b = net.blockIndex(layer: l) else {
                    throw ValidationError("--layers: '\($0)' is not a block of \(m.rawValue) (-\(net.depth)…\(net.depth - 1))")
                }
                return b
            }
        }
        return DINOv2ProbeFeatureSource(net: net, model: m, blocks: blocks, pool: p, weightsTag: tag, train: train, val: val, batch: batch,
                                        cache: cache.map { URL(fileURLWithPath: $0) })
    }

    func load(progress: (String) -> Void) throws -> (train: ProbeFeatures, val: ProbeFeatures) {
        if net.isSeeded { progress("WARNING: seeded DINOv2 weights: the features and accuracies are not real") }
        let extraction = ProbeExtraction(
            model: model.rawValue,
            settings: ["weights": weightsTag, "path": "lp224", "pool": pool.rawValue, "pos_embed": net.provenance,
                       "blocks": blocks.map(String.init).joined(separator: ",")],
            layers: blocks.count, dimension: net.embedDim, batch: batch, cache: cache)
        return try extraction.splits(train: train, val: val, progress: progress) { images in
            let crops = images.map { DiGITTokenizer.crop($0, path: .lp224) }
            return net.probeFeatures(DINOv2Input.normalized(ImageBatch(images: crops)), layers: blocks, pool: pool).scalars
        }
    }
}
