import ArgumentParser
import DigitBench
import Foundation

/// Linear-probe features of DiGIT's stage-1 GPT, extracted from image folders as
/// `model_linearprobe.py` computes them: each image through the DiGIT tokenizer on the validation
/// path (torchvision `Resize(256, bicubic)` + `CenterCrop(224)`, DINOv2, K-means), then the GPT on
/// `[</s>, k+5 …]` and `inner_states[n]` mean-pooled over all 257 positions for n = 0 … layers−1
/// (the final layer's output is not probed upstream).
///
/// Train images take the same deterministic path (upstream re-augments them with RandomResizedCrop
/// + flip every epoch; cached features cannot). With a cache directory, each split's features are
/// stored as `.npy` in a ``FeatureCache`` entry keyed by the model, the checkpoint's SHA-256, the
/// images' content digests, the labels and the input path, and reused.
struct DiGITProbeFeatureSource: ProbeFeatureSource {
    let id: GeneratorID
    let tokenizer: DiGITTokenizer
    let gpt: DiGITStage1
    let weightsTag: String
    let train: String, val: String
    let batch: Int
    let cache: URL?

    var description: String {
        "\(id.rawValue) stage-1 inner states (mean over 257 positions) of \(train) / \(val), tokenised on DiGIT's lp224 path"
            + (tokenizer.usesSeededWeights ? " — SEEDED weights, not real features" : "")
    }

    func layerNames(count: Int) -> [String] { (0..<count).map { "inner_states[\($0)]" } }

    /// Seeded base models, `--checkpoint` (a stage-1 file holding `decoder.*`, `pretrained_encoder.*`
    /// and the centroids), or the registry's stage-1 file.
    static func make(model: String, weights: String, checkpoint: String?, train: String, val: String, batch: Int, cache: String?) throws -> DiGITProbeFeatureSource {
        guard let id = GeneratorID(rawValue: model), id == .digitBase || id == .digitLarge else {
            throw ValidationError("--model \(model): linear probing extracts features from digit-base or digit-large (DiGIT's stage-1 GPT), \(DINOv2Model.allCases.map(\.rawValue).joined(separator: " or ")), or a LlamaGen / Open-MAGVIT2 GPT (\(GeneratorID.allCases.filter { GPTProbeFeatureSource.handles($0.rawValue) }.map(\.rawValue).joined(separator: ", ")))")
        }
        let tokenizer: DiGITTokenizer, gpt: DiGITStage1, tag: String
        switch weights {
        case "seeded":
            guard id == .digitBase else { throw ValidationError("seeded weights exist for digit-base only") }
            tokenizer = try DiGITTokenizer.seeded(.base8k)
            gpt = try DiGITStage1(.seeded(), configuration: DiGITStage1.configurationDefaults)
            tag = "seeded"
        case "real":
            let url = try checkpoint.map { URL(fileURLWithPath: $0) } ?? GeneratorLoader.registered("digit-\(id.size)-stage1")
            tokenizer = try DiGITTokenizer.load(digitCheckpoint: url)
            gpt = try DiGITStage1.load(contentsOf: url)
            tag = try ProbeExtraction.weightsTag(url, cache: cache)
        default:
            throw ValidationError("--weights must be real or seeded")
        }
        return DiGITProbeFeatureSource(id: id, tokenizer: tokenizer, gpt: gpt, weightsTag: tag, train: train, val: val,
                                       batch: batch, cache: cache.map { URL(fileURLWithPath: $0) })
    }

    func load(progress: (String) -> Void) throws -> (train: ProbeFeatures, val: ProbeFeatures) {
        let layers = gpt.configuration.decoderLayers, d = gpt.configuration.decoderEmbedDim
        let extraction = ProbeExtraction(model: id.rawValue, settings: ["weights": weightsTag, "path": "lp224"], layers: layers,
                                         dimension: d, batch: batch, cache: cache)
        return try extraction.splits(train: train, val: val, progress: progress) { images in
            let clusters = tokenizer.encode(images: images, path: .lp224, batchSize: images.count)
            let f = try gpt.linearProbeFeatures(clusterIDs: clusters)  // (B, layers + 1, D): drop the final layer's output
            var values = [Float]()
            f.withUnsafeBufferPointer { p in
                for r in 0..<images.count { values += p[(r * (layers + 1) * d)..<((r * (layers + 1) + layers) * d)] }
            }
            return values
        }
    }
}

/// The part every image-folder probe source shares: read an ImageFolder split in batches, turn each
/// batch into (B, layers, D) features, report progress, and keep the result in a ``FeatureCache``
/// entry keyed by the model, `settings` (weights digest, input path, …), the images' content and
/// the labels.
struct ProbeExtraction {
    /// How the cache key names a checkpoint: by content (memoised in the cache, so a multi-GB file
    /// is hashed once); without a cache, by path (nothing is keyed then).
    static func weightsTag(_ url: URL, cache: String?) throws -> String {
        try cache.map { "sha256 " + (try FeatureCache(directory: URL(fileURLWithPath: $0)).digests.file(url)) } ?? url.path
    }

    let model: String
    let settings: [String: String]
    let layers: Int, dimension: Int
    let batch: Int
    let cache: URL?

    /// The train and val splits, through the same `features`.
    func splits(train: String, val: String, progress: (String) -> Void,
                features: ([RGBImage]) throws -> [Float]) throws -> (train: ProbeFeatures, val: ProbeFeatures) {
        (try split(train, name: "train", progress: progress, features: features),
         try split(val, name: "val", progress: progress, features: features))
    }

    func split(_ path: String, name: String, progress: (String) -> Void, features: ([RGBImage]) throws -> [Float]) throws -> ProbeFeatures {
        let dataset = try openDataset(path, imageFolderTree: true)
        guard dataset.count > 0 else { throw ValidationError("\(path): no images") }
        let (layers, d) = (self.layers, dimension)
        let cached = try cache.map { FeatureCache(directory: $0) }.map { c -> (FeatureCache, String) in
            let images = try c.digests.dataset(dataset, range: 0..<dataset.count) { done, n in
                if done == n || done % 4096 == 0 { progress("\(name): hashing images for the cache, \(done)/\(n)") }
            }
            let labels = SHA256.hex(Data((0..<dataset.count).map { "\(dataset.label($0) ?? -1)" }.joined(separator: ",").utf8))
            let key = FeatureCache.key(settings.merging(["kind": "digit-bench linear-probe features v1", "model": model,
                                                         "input": images, "labels": labels, "shape": "\(layers)x\(d)"]) { a, _ in a })
            return (c, key)
        }
        if let (c, key) = cached, let hit = c.load(key: key, names: ["features", "labels"], note: { progress($0) }),
            hit.arrays["features"]?.shape == [dataset.count, layers, d], hit.arrays["labels"]?.shape == [dataset.count]
        {
            progress("\(name): cached features \(c.directory.appendingPathComponent(key).path)")
            let f = hit.arrays["features"]!, l = hit.arrays["labels"]!
            return try ProbeFeatures(count: dataset.count, layers: layers, dimension: d, values: f.floats(), labels: l.int64s().map(Int32.init))
        }
        var values = [Float](), labels = [Int32]()
        values.reserveCapacity(dataset.count * layers * d)
        let start = Date()
        _ = try DatasetLoader(dataset: dataset, batchSize: batch).forEachBatch { b in
            for (i, l) in zip(b.indices, b.labels) {
                guard let l else { throw ValidationError("\(dataset.itemID(i)): no class label (give ImageFolder trees: one sub-directory per class)") }
                labels.append(Int32(l))
            }
            let f = try features(b.images)
            precondition(f.count == b.images.count * layers * d, "probe features: \(f.count) values for \(b.images.count) images")
            values += f
            let done = labels.count
            let rate = Double(done) / max(Date().timeIntervalSince(start), 1e-9)
            progress(String(format: "%@: %d/%d images, %.2f img/s, ETA %.0f s", name, done, dataset.count, rate, Double(dataset.count - done) / max(rate, 1e-9)))
        }
        let result = try ProbeFeatures(count: labels.count, layers: layers, dimension: d, values: values, labels: labels)
        if let (c, key) = cached {
            try c.store(key: key, arrays: ["features": NPYArray(float32: values, shape: [labels.count, layers, d]),
                                            "labels": NPYArray(int64: labels.map(Int64.init), shape: [labels.count])],
                        meta: Data("{\"model\": \"\(model)\", \"images\": \(labels.count)}".utf8))
            progress("\(name): features cached in \(c.directory.appendingPathComponent(key).path)")
        }
        return result
    }
}
