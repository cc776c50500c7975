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
/// stored as `.npy` under a key of (model, weights, dataset listing, input path) and reused.
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
            throw ValidationError("--model \(model): linear probing extracts features from digit-base or digit-large (DiGIT's stage-1 GPT)")
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
            let attrs = try FileManager.default.attributesOfItem(atPath: url.path)
            tag = "\(url.lastPathComponent):\((attrs[.size] as? Int) ?? 0):\((attrs[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
        default:
            throw ValidationError("--weights must be real or seeded")
        }
        return DiGITProbeFeatureSource(id: id, tokenizer: tokenizer, gpt: gpt, weightsTag: tag, train: train, val: val,
                                       batch: batch, cache: cache.map { URL(fileURLWithPath: $0) })
    }

    func load(progress: (String) -> Void) throws -> (train: ProbeFeatures, val: ProbeFeatures) {
        (try split(train, name: "train", progress: progress), try split(val, name: "val", progress: progress))
    }

    /// One ImageFolder split → (N, layers, D) features and labels.
    func split(_ path: String, name: String, progress: (String) -> Void) throws -> ProbeFeatures {
        let dataset = try openDataset(path, imageFolderTree: true)
        guard dataset.count > 0 else { throw ValidationError("\(path): no images") }
        let layers = gpt.configuration.decoderLayers, d = gpt.configuration.decoderEmbedDim
        // The cache key: everything the features depend on.
        let listing = (0..<dataset.count).map { "\(dataset.itemID($0))\t\(dataset.label($0) ?? -1)" }.joined(separator: "\n")
        let key = SHA256.hex(Data("\(id.rawValue)\n\(weightsTag)\n\(dataset.source)\nlp224\n\(layers)x\(d)\n\(listing)".utf8)).prefix(16)
        let featuresFile = cache?.appendingPathComponent("\(id.rawValue)-\(name)-\(key).npy")
        let labelsFile = cache?.appendingPathComponent("\(id.rawValue)-\(name)-\(key)-labels.npy")
        if let featuresFile, let labelsFile, FileManager.default.fileExists(atPath: featuresFile.path), FileManager.default.fileExists(atPath: labelsFile.path) {
            progress("\(name): cached features \(featuresFile.path)")
            return try ProbeFeatures(featuresNPY: featuresFile, labelsNPY: labelsFile)
        }
        var values = [Float](), labels = [Int32]()
        values.reserveCapacity(dataset.count * layers * d)
        let start = Date()
        _ = try DatasetLoader(dataset: dataset, batchSize: batch).forEachBatch { b in
            for (i, l) in zip(b.indices, b.labels) {
                guard let l else { throw ValidationError("\(dataset.itemID(i)): no class label (give ImageFolder trees: one sub-directory per class)") }
                labels.append(Int32(l))
            }
            let clusters = tokenizer.encode(images: b.images, path: .lp224, batchSize: b.images.count)
            let f = try gpt.linearProbeFeatures(clusterIDs: clusters)  // (B, layers + 1, D)
            f.withUnsafeBufferPointer { p in
                for r in 0..<b.images.count { values += p[(r * (layers + 1) * d)..<((r * (layers + 1) + layers) * d)] }
            }
            let done = labels.count
            let rate = Double(done) / max(Date().timeIntervalSince(start), 1e-9)
            progress(String(format: "%@: %d/%d images, %.2f img/s, ETA %.0f s", name, done, dataset.count, rate, Double(dataset.count - done) / max(rate, 1e-9)))
        }
        let features = try ProbeFeatures(count: labels.count, layers: layers, dimension: d, values: values, labels: labels)
        if let featuresFile, let labelsFile, let cache {
            try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
            try NPY.write(NPYArray(float32: values, shape: [labels.count, layers, d]), to: featuresFile)
            try NPY.write(NPYArray(int64: labels.map(Int64.init), shape: [labels.count]), to: labelsFile)
            progress("\(name): features cached in \(featuresFile.path)")
        }
        return features
    }
}
