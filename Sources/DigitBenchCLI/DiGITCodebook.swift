import ArgumentParser
import DigitBench
import Foundation

/// The decoder-less DiGIT tokenizers in `reconstruct` and `suite run`: images → DiGIT tokens on the
/// generation path (Resize 256 + CenterCrop 256, bicubic ×224/256, DINOv2 block L−3, nearest
/// centroid) → codebook usage, perplexity and entropy. rFID, PSNR and SSIM need pixels back, which
/// only the stage-2 pixel decoder gives (`reconstruct --stage2`, ``DiGITReconstruction``).
enum DiGITCodebook {
    /// Seeded weights, a DiGIT checkpoint holding `pretrained_encoder.*` and the centroids
    /// (`--checkpoint`), or the registry's DINOv2 and `km_*.npy` files (a missing one is an error
    /// naming it, its source and where to put it).
    static func tokenizer(_ id: DiGITTokenizerID, seeded: Bool, checkpoint: String?, home: WeightsHome = WeightsHome()) throws -> DiGITTokenizer {
        if seeded { return try DiGITTokenizer.seeded(id) }
        if let checkpoint { return try DiGITTokenizer.load(digitCheckpoint: URL(fileURLWithPath: checkpoint)) }
        let files = WeightsRegistry.files(usedBy: id.rawValue)
        guard let encoder = files.first(where: { $0.id.hasPrefix("dinov2") }), let km = files.first(where: { $0.fileName.hasPrefix("km_") }) else {
            throw ValidationError("the weights registry lacks the encoder or centroids of \(id.rawValue)")
        }
        return try DiGITTokenizer.load(id, encoderCheckpoint: GeneratorLoader.registered(encoder, home: home),
                                       centroids: GeneratorLoader.registered(km, home: home))
    }

    /// The code histogram of a dataset's images, batch by batch.
    static func histogram(_ tokenizer: DiGITTokenizer, dataset: any ImageDataset, limit: Int? = nil, batch: Int = 8,
                          progress: ((Int, Int) -> Void)? = nil) throws -> (histogram: [Int], images: Int) {
        var histogram = [Int](repeating: 0, count: tokenizer.codebookSize)
        let count = min(limit ?? dataset.count, dataset.count)
        var done = 0
        let loader = DatasetLoader(dataset: LimitedDataset(base: dataset, limit: count), batchSize: batch)
        _ = try loader.forEachBatch { b in
            for ids in tokenizer.encode(images: b.images, batchSize: b.images.count) { for i in ids { histogram[i] += 1 } }
            done += b.images.count
            progress?(done, count)
        }
        return (histogram, done)
    }
}

extension DigitBenchCommand.Reconstruct {
    /// `--stage2`: the tokenizer plus stage 2 and the VQGAN of the tokenizer's size (seeded: the
    /// base configurations on stand-in weights).
    func digitReconstruction(_ id: DiGITTokenizerID, seeded: Bool) throws -> DiGITReconstruction {
        let tokenizer = try DiGITCodebook.tokenizer(id, seeded: seeded, checkpoint: checkpoint)
        let sampling = stage2Greedy ? SamplingConfiguration(greedy: true) : DiGITReconstruction.publishedSampling
        if seeded {
            guard id == .base8k else { throw ValidationError("seeded weights exist for the base models only (digit-base-8k)") }
            note("\(id.rawValue) + stage 2 run on SEEDED weights; reconstructions and metrics are test values")
            return DiGITReconstruction(tokenizer: tokenizer, stage2: try DiGITStage2(.seeded(), configuration: DiGITStage2.configurationDefaults),
                                       stage2Seeded: true, vqgan: try MAGEVQGAN(weights: .seeded()), sampling: sampling, seed: seed)
        }
        let (stage2, vqgan) = try GeneratorLoader.digitStage2(size: id == .base8k ? "base" : "large", stage2Checkpoint: stage2Checkpoint)
        return DiGITReconstruction(tokenizer: tokenizer, stage2: stage2, stage2Seeded: false, vqgan: vqgan, sampling: sampling, seed: seed)
    }

    /// `reconstruct --tokenizer digit-base-8k|digit-large-16k`: what applies to a tokenizer without a
    /// pixel decoder, and a plain statement of what does not.
    func evaluateDiGITCodebook(_ id: DiGITTokenizerID) throws -> Result {
        let seeded = weights == "seeded"
        let tokenizer = try DiGITCodebook.tokenizer(id, seeded: seeded, checkpoint: checkpoint)
        guard let dir = data ?? bundledSamplesDirectory()?.path else {
            throw ValidationError("no --data given and the bundled samples (Resources/samples) were not found")
        }
        let dataset = try openDataset(dir)
        let start = Date()
        let (histogram, images) = try DiGITCodebook.histogram(tokenizer, dataset: dataset, batch: batch) { done, total in
            if !quiet { Progress.report(done: done, total: total, since: start, extra: id.rawValue) }
        }
        if !quiet { FileHandle.standardError.write(Data("\n".utf8)) }
        let u = CodebookUsage(histogram: histogram)
        let weightsText = seeded ? "SEEDED (DINOv2 and centroids are test weights; numbers are NOT real)" : "real"
        let notApplicable = "\(id.rawValue) has no pixel decoder: rFID, PSNR and SSIM need DiGIT's stage-2 decoder (tokens -> stage 2 -> MAGE VQGAN); add --stage2 to run it"
        let rows: [(String, String)] = [
            ("tokenizer", id.rawValue), ("weights", weightsText), ("images", "\(images)"), ("data", dir),
            ("input path", "gen256: Resize 256 + CenterCrop 256, bicubic x224/256 (DiGIT's generation path)"),
            ("codebook_usage", String(format: "%.6f (%d of %d codes)", u.fraction, u.used, u.codebookSize)),
            ("codebook_perplexity", formatMetric(u.perplexity)), ("codebook_entropy_bits", formatMetric(u.entropyBits)),
            ("bits_per_token", formatMetric(log2(Double(u.codebookSize)))),
            ("rfid, psnr, ssim", "not applicable: " + notApplicable),
        ]
        let json: [String: Any] = [
            "tokenizer": id.rawValue, "seeded": seeded, "weights": weightsText, "images": images, "data": dir,
            "metrics": [
                "codebook_usage": ["value": u.fraction, "used": u.used, "codebook_size": u.codebookSize],
                "codebook_perplexity": ["value": jsonNumber(u.perplexity)],
                "codebook_entropy_bits": ["value": jsonNumber(u.entropyBits)],
            ],
            "not_applicable": ["rfid", "psnr", "ssim"], "note": notApplicable,
        ]
        return Result(rows: rows, json: json, metrics: ReconMetrics(protocol: .uint8))
    }
}
