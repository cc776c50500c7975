import ArgumentParser
import DigitBench
import Foundation

/// Linear-probe features of the class-conditional GPTs of LlamaGen (`llamagen-gpt-*`) and
/// Open-MAGVIT2 (`openmagvit2-ar-*`), after DiGIT's recipe (neither upstream probes its GPT): each
/// image goes through the generator's own tokenizer with the preprocessing its reconstruction
/// evaluation uses (LlamaGen VQ-16: ADM `center_crop_arr`; Open-MAGVIT2's LFQ: torchvision bilinear
/// Resize + CenterCrop), then one teacher-forced causal pass over [null class, token_0 … token_{T−1}]
/// (the unconditional class row CFG uses: images are probed without their label), and each chosen
/// block's output (`layers.i` / `spatial_blocks.i`, before the final norm) is pooled over the
/// 1 + T positions (`mean`) or taken at the last one (`last`).
struct GPTProbeFeatureSource: ProbeFeatureSource {
    enum Net {
        case llamaGen(LlamaGenGenerator)
        case openMAGVIT2(OpenMAGVIT2Generator)
    }

    let id: GeneratorID
    let net: Net
    var blocks: [Int]
    let pool: GPTProbePool
    let weightsTag: String
    let train: String, val: String
    let batch: Int
    let cache: URL?

    var tokenizer: any ImageTokenizer {
        switch net {
        case let .llamaGen(g): g.vq
        case let .openMAGVIT2(g): g.tokenizer
        }
    }

    /// The preprocessing of the tokenizer's reconstruction evaluation (as `reconstruct` applies it).
    var recipe: Recipe {
        switch net {
        case let .llamaGen(g): .centerCropArr(size: g.imageSize)  // center_crop_arr
        case .openMAGVIT2: ReconCodec.neural(tokenizer).recipe  // ImagePaths
        }
    }

    var blockCount: Int {
        switch net {
        case let .llamaGen(g): g.gpt.config.nLayer
        case let .openMAGVIT2(g): g.transformer.config.spatialNLayer
        }
    }

    var dimension: Int {
        switch net {
        case let .llamaGen(g): g.gpt.config.dim
        case let .openMAGVIT2(g): g.transformer.config.dim
        }
    }

    var seeded: Bool {
        switch net {
        case let .llamaGen(g): g.usesSeededWeights
        case let .openMAGVIT2(g): g.usesSeededWeights
        }
    }

    var blockName: String {
        switch net {
        case .llamaGen: "layers"
        case .openMAGVIT2: "spatial_blocks"
        }
    }

    var description: String {
        "\(id.rawValue) GPT: \(pool == .mean ? "mean over [null class + image tokens]" : "last position") of \(blockName)[\(blocks.map(String.init).joined(separator: ","))] "
            + "of \(train) / \(val), tokenised by \(tokenizer.id) after \(recipe)" + (seeded ? " — SEEDED weights, not real features" : "")
    }

    func layerNames(count: Int) -> [String] { blocks.map { "\(blockName)[\($0)]" } }

    static func handles(_ model: String) -> Bool {
        GeneratorID(rawValue: model).map { $0.isLlamaGen || $0.rawValue.hasPrefix("openmagvit2-ar") } ?? false
    }

    /// `layers` "all" or block indices (negative: from the end, -1 = the last block); `pool` mean or
    /// last. Real weights: `checkpoint` (LlamaGen: the GPT file; Open-MAGVIT2: `AR_256_*.ckpt`, which
    /// holds the tokenizer too) or the registry's file; LlamaGen's VQ-16 from `vqCheckpoint` or the registry.
    static func make(model: String, weights: String, checkpoint: String?, vqCheckpoint: String?, imageSize: Int?, layers: String,
                     pool: String, train: String, val: String, batch: Int, cache: String?) throws -> GPTProbeFeatureSource {
        guard let id = GeneratorID(rawValue: model), handles(model) else { throw ValidationError("\(model) is not a LlamaGen or Open-MAGVIT2 GPT") }
        guard let p = GPTProbePool(rawValue: pool) else {
            throw ValidationError("--pool for a GPT must be mean or last, got '\(pool)' (the class slot attends only to itself under causal attention: it carries nothing about the image)")
        }
        guard weights == "real" || weights == "seeded" else { throw ValidationError("--weights must be real or seeded") }
        let seeded = weights == "seeded"
        let net: Net, tag: String
        if id.isLlamaGen {
            let size = imageSize ?? LlamaGenGenerator.imageSizes(id).first!
            var gpt: String?, vq: String?, tags = ["seeded"]
            if !seeded {
                let g = try checkpoint.map { URL(fileURLWithPath: $0) } ?? GeneratorLoader.registered("llamagen-gpt-\(id.size.lowercased())-\(size)")
                let v = try vqCheckpoint.map { URL(fileURLWithPath: $0) } ?? GeneratorLoader.registered("llamagen-vq16")
                (gpt, vq) = (g.path, v.path)
                tags = ["gpt " + (try ProbeExtraction.weightsTag(g, cache: cache)), "vq " + (try ProbeExtraction.weightsTag(v, cache: cache))]
            }
            let generator = try GeneratorLoader.load(id, weights: weights, checkpoint: gpt, vqCheckpoint: vq, imageSize: size)
            net = .llamaGen(generator as! LlamaGenGenerator)
            tag = tags.joined(separator: ", ")
        } else {
            guard imageSize == nil || imageSize == 256, vqCheckpoint == nil else {
                throw ValidationError("\(id.rawValue) is one 256-px checkpoint holding its tokenizer; --image-size and --vq-checkpoint are for LlamaGen")
            }
            let url = seeded ? nil : try GeneratorLoader.checkpointURL(id, checkpoint: checkpoint)
            let generator = try GeneratorLoader.load(id, weights: weights, checkpoint: url?.path)
            net = .openMAGVIT2(generator as! OpenMAGVIT2Generator)
            tag = try url.map { try ProbeExtraction.weightsTag($0, cache: cache) } ?? "seeded"
        }
        var source = GPTProbeFeatureSource(id: id, net: net, blocks: [], pool: p, weightsTag: tag, train: train, val: val, batch: batch,
                                           cache: cache.map { URL(fileURLWithPath: $0) })
        source.blocks = try ProbeExtraction.blocks(layers, count: source.blockCount, model: id.rawValue)
        return source
    }

    func load(progress: (String) -> Void) throws -> (train: ProbeFeatures, val: ProbeFeatures) {
        if seeded { progress("WARNING: seeded \(id.rawValue) weights: the features and accuracies are not real") }
        let extraction = ProbeExtraction(
            model: id.rawValue,
            settings: ["weights": weightsTag, "path": recipe.description, "tokenizer": tokenizer.id, "pool": pool.rawValue,
                       "blocks": blocks.map(String.init).joined(separator: ","), "class": "null"],
            layers: blocks.count, dimension: dimension, batch: batch, cache: cache)
        return try extraction.splits(train: train, val: val, progress: progress, features: features)
    }

    /// (B, blocks, C) features of a batch of images, flattened.
    func features(_ images: [RGBImage]) throws -> [Float] {
        let t = tokenizer
        let grid = try t.encode(t.modelInput(ImageBatch(images: images.map(recipe.apply)))).tokens
        let tokens = (0..<grid.batch).map { Array(grid.tokens(of: $0)) }  // raster order, (B, T)
        switch net {
        case let .llamaGen(g): return g.gpt.probeFeatures(tokens: tokens, layers: blocks, pool: pool).scalars
        case let .openMAGVIT2(g): return g.transformer.probeFeatures(indices: tokens, layers: blocks, pool: pool).scalars
        }
    }
}

extension ProbeExtraction {
    /// `all` or comma-separated block indices of a `count`-block model (negative: from the end).
    static func blocks(_ layers: String, count: Int, model: String) throws -> [Int] {
        if layers == "all" { return Array(0..<count) }
        return try layers.split(separator: ",").map {
            guard let l = Int($0.trimmingCharacters(in: .whitespaces)), (-count..<count).contains(l) else {
                throw ValidationError("--layers: '\($0)' is not a block of \(model) (-\(count)…\(count - 1))")
            }
            return l < 0 ? count + l : l
        }
    }
}
