import ArgumentParser
import DigitBench
import Foundation

/// What a reconstruction run goes through: a neural tokenizer or the JPEG reference codec.
enum ReconCodec {
    case neural(any ImageTokenizer)
    case jpeg(JPEGReference)

    var id: String {
        switch self {
        case let .neural(t): t.id
        case let .jpeg(j): j.id
        }
    }

    var seeded: Bool {
        if case let .neural(t) = self { return t.usesSeededWeights }
        return false
    }

    /// How images are resized/cropped before the codec, as each tokenizer's evaluation does.
    var recipe: Recipe {
        switch self {
        case let .neural(t as LFQTokenizer): .torchvision(size: t.inputResolution, filter: .bilinear)   // ImagePaths
        case .neural(is LlamaGenVQ): .centerCropArr(size: 256)                                           // center_crop_arr
        case let .neural(t): .torchvision(size: t.inputResolution, filter: .bicubic)                    // MAGE/DiGIT
        case .jpeg: .torchvision(size: 256, filter: .bicubic)
        }
    }

    /// The tokenizers with a decoder.
    static let neuralIDs: [String] = LFQTokenizerID.allCases.map(\.rawValue) + LlamaGenVQ.Variant.allCases.map(\.rawValue) + [MAGEVQGAN.id]
    static let ids: [String] = neuralIDs + ["jpeg-qN"]

    /// The codec `id` with seeded weights, `checkpoint`, or the registry's file (a missing file is
    /// the registry's message naming it; there is no fallback to seeded weights).
    static func load(_ id: String, checkpoint: String?, seeded: Bool, useEMA: Bool = true,
                     environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ReconCodec {
        if let j = JPEGReference(id: id) { return .jpeg(j) }
        let lfq = LFQTokenizerID(rawValue: id), vq = LlamaGenVQ.Variant(rawValue: id)
        guard lfq != nil || vq != nil || id == MAGEVQGAN.id else {
            throw ValidationError(Suggest.unknown(id, kind: .tokenizer, available: ids))
        }
        if seeded {
            note("\(id) runs on SEEDED weights; reconstructions and metrics are test values, not the model's")
            if let lfq { return .neural(try LFQTokenizer(lfq, weights: .seeded(), useEMA: useEMA)) }
            if let vq { return .neural(try LlamaGenVQ(seeded: vq)) }
            return .neural(try MAGEVQGAN(weights: .seeded()))
        }
        let url: URL
        if let checkpoint {
            guard FileManager.default.fileExists(atPath: checkpoint) else { throw ValidationError("no such checkpoint file: \(checkpoint)") }
            url = URL(fileURLWithPath: checkpoint)
        } else {
            let file = try WeightsRegistry.file(id).unwrap(or: "no weights registered for \(id)")
            let home = WeightsHome(environment: environment)
            url = home.path(for: file)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw WeightsError.missing(id: file.id, message: WeightsRegistry.missingMessage(for: file, home: home))
            }
        }
        if let lfq {
            let (sd, _) = try Checkpoint.load(url, select: "state_dict")
            return .neural(try LFQTokenizer(lfq, stateDict: sd, useEMA: useEMA))
        }
        let (sd, _) = try Checkpoint.load(url)
        if let vq { return .neural(try LlamaGenVQ(vq, stateDict: sd)) }
        return .neural(try MAGEVQGAN(stateDict: sd))
    }
}

/// The pixel/feature protocols of a reconstruction run, after the paper each tokenizer reports in.
enum ReconProtocol: String, CaseIterable {
    /// Open-MAGVIT2 `evaluation.py`: ground truth = `outputImages(modelInput(x))`, SSIM on float32
    /// /255 with data_range 1, rFID pytorch-fid on float reconstructions (not requantised).
    case openMAGVIT2 = "open-magvit2"
    /// As open-magvit2, plus the pre-2025 per-batch-of-4 PSNR/SSIM averaging of the published tables.
    case openMAGVIT2_2024 = "openmagvit2-2024"
    /// LlamaGen `reconstruction_vq_ddp.py`: PSNR of uint8/255 vs the float ground truth, SSIM on
    /// [0,1] (plus the flagged data_range=2 variant), rFID with the ADM evaluator on uint8.
    case llamagen
    /// Generic: uint8 vs uint8 PSNR/SSIM (data_range 255), rFID pytorch-fid on uint8.
    case uint8

    static func `default`(for codec: ReconCodec) -> ReconProtocol {
        switch codec {
        case .neural(is LFQTokenizer): .openMAGVIT2
        case .neural(is LlamaGenVQ): .llamagen
        default: .uint8
        }
    }

    var isOpenMAGVIT2: Bool { self == .openMAGVIT2 || self == .openMAGVIT2_2024 }

    var inception: InceptionProtocol { self == .llamagen ? .adm : .pytorchFid }
}

/// Per-image metric values, accumulated over a run (order = dataset order).
struct ReconMetrics {
    let proto: ReconProtocol
    /// uint8 PSNR (10 log10(255²/MSE)), every protocol.
    var psnr: [Double] = []
    /// SSIM in the protocol's standard form (data range of the image scale).
    var ssim: [Double] = []
    /// Open-MAGVIT2's float32 /255 PSNR (openmagvit2-2024) or LlamaGen's float-ground-truth PSNR.
    var psnrVariant: [Double] = []
    /// LlamaGen's SSIM with data_range = 2 on [0, 1] images (flagged).
    var ssimDataRange2: [Double] = []

    init(protocol proto: ReconProtocol) { self.proto = proto }

    /// Adds one image pair: `truth` and `recon` uint8 HWC of one size; `truthFloat` the float
    /// [0, 1] ground truth LlamaGen compares with (else nil).
    mutating func add(truth: RGBImage, recon: RGBImage, truthFloat: [Float]? = nil) throws {
        let (h, w) = (truth.height, truth.width)
        psnr.append(try PSNR.uint8(truth.pixels, recon.pixels))
        switch proto {
        case .openMAGVIT2, .openMAGVIT2_2024:
            let a = truth.pixels.map { Float($0) / 255 }, b = recon.pixels.map { Float($0) / 255 }
            ssim.append(Double(try SSIM.mean(a, b, height: h, width: w, channels: 3, dataRange: 1)))
            if proto == .openMAGVIT2_2024 { psnrVariant.append(try PSNR.openMAGVIT2(truth.pixels, recon.pixels)) }
        case .llamagen:
            let a = truthFloat ?? truth.pixels.map { Float($0) / 255 }, b = recon.pixels.map { Float($0) / 255 }
            ssim.append(Double(try SSIM.mean(a, b, height: h, width: w, channels: 3, dataRange: 1)))
            ssimDataRange2.append(Double(try SSIM.mean(a, b, height: h, width: w, channels: 3, dataRange: 2)))
            var s = 0.0
            for i in 0..<a.count { let d = Double(b[i]) - Double(a[i]); s += d * d }
            psnrVariant.append(10 * log10(1 / (s / Double(a.count))))
        case .uint8:
            let a = truth.pixels.map(Double.init), b = recon.pixels.map(Double.init)
            ssim.append(try SSIM.mean(a, b, height: h, width: w, channels: 3, dataRange: 255))
        }
    }

    /// (key, protocol description, value) rows.
    var summary: [(String, String, Double)] {
        var rows: [(String, String, Double)] = [
            ("psnr", "uint8 vs uint8, 10*log10(255^2/MSE) per image, mean", averagePerImage(psnr, protocol: .uint8)),
        ]
        switch proto {
        case .openMAGVIT2:
            rows.append(("ssim", "skimage SSIM, float32 /255, data_range 1, mean", averagePerImage(ssim, protocol: .uint8)))
        case .openMAGVIT2_2024:
            rows.append(("ssim", "skimage SSIM, float32 /255, data_range 1, mean", averagePerImage(ssim, protocol: .uint8)))
            rows.append(("psnr_openmagvit2_2024", "float32 /255 PSNR, mean of per-batch-of-4 means (published Open-MAGVIT2 tables)",
                         averagePerImage(psnrVariant, protocol: .openMAGVIT2)))
            rows.append(("ssim_openmagvit2_2024", "SSIM as above, mean of per-batch-of-4 means", averagePerImage(ssim, protocol: .openMAGVIT2)))
        case .llamagen:
            rows.append(("psnr_llamagen", "uint8 recon /255 vs float ground truth (x+1)/2, per image, mean", averagePerImage(psnrVariant, protocol: .uint8)))
            rows.append(("ssim", "skimage SSIM on [0,1], data_range 1, mean", averagePerImage(ssim, protocol: .uint8)))
            rows.append(("ssim_llamagen_dr2", "FLAGGED: LlamaGen's data_range=2.0 on [0,1] images (not standard SSIM)",
                         averagePerImage(ssimDataRange2, protocol: .uint8)))
        case .uint8:
            rows.append(("ssim", "skimage SSIM on uint8 values, data_range 255, mean", averagePerImage(ssim, protocol: .uint8)))
        }
        return rows
    }
}

/// Writes a labelled grid PNG of `images` (atomically), tiles downscaled to `tile` pixels wide
/// (Pillow box filter) when given.
func writeGrid(_ images: [RGBImage], columns: Int, labels: [String]?, tile: Int?, to url: URL) throws {
    let tiles = images.map { im -> RGBImage in
        guard let tile, im.width > tile else { return im }
        let h = max(1, Int((Double(im.height) * Double(tile) / Double(im.width)).rounded()))
        return Resample.resize(im, width: tile, height: h, filter: .box)
    }
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try ImageCodec.writeAtomically(try ImageCodec.encodePNG(SampleGrid.make(tiles, columns: columns, labels: labels)), to: url)
}

/// A JSON-safe number: non-finite values become "inf", "-inf", "nan".
func jsonNumber(_ v: Double) -> Any {
    v.isFinite ? v : (v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf"))
}

func formatMetric(_ v: Double) -> String {
    v.isFinite ? String(format: "%.4f", v) : (v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf"))
}

/// The bundled sample images: `$DIGIT_BENCH_SAMPLES`, then `Resources/samples` or
/// `share/digit-bench/samples` next to or above the executable, then the source checkout.
func bundledSamplesDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
    var candidates: [URL] = []
    if let env = environment["DIGIT_BENCH_SAMPLES"], !env.isEmpty { candidates.append(URL(fileURLWithPath: env)) }
    if let exe = Bundle.main.executableURL?.resolvingSymlinksInPath() {
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(dir.appendingPathComponent("Resources/samples"))
            candidates.append(dir.appendingPathComponent("share/digit-bench/samples"))
            dir = dir.deletingLastPathComponent()
        }
    }
    // Sources/DigitBenchCLI/ReconstructCommand.swift -> repository root.
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    candidates.append(repo.appendingPathComponent("Resources/samples"))
    return candidates.first { url in
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) && isDir.boolValue
    }
}

extension DigitBenchCommand {
    struct Reconstruct: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reconstruct images through a tokenizer (or JPEG) and report rFID, PSNR, SSIM, codebook usage and bits per pixel.",
            discussion: """
                Pipeline per batch: preprocess (the tokenizer's evaluation crop) -> modelInput -> encode -> decode(tokens) -> \
                outputImages. Protocols: open-magvit2 (default for lfq-*), openmagvit2-2024 (adds the published batch-of-4 \
                PSNR/SSIM), llamagen (default for llamagen-vq*), uint8 (mage-vqgan, jpeg-qN). Without --data the bundled \
                sample images are used. Real weights are required unless --weights seeded (then BOTH the tokenizer and \
                Inception are seeded and every number is a test value).
                """)

        @Option(help: "Tokenizer id: \((ReconCodec.ids + DiGITTokenizerID.allCases.map(\.rawValue)).joined(separator: ", ")) (the DiGIT ones report codebook statistics, or with --stage2 reconstruct through DiGIT's pixel decoder).")
        var tokenizer: String

        @Flag(help: "DiGIT tokenizers: reconstruct through the stage-2 decoder and MAGE VQGAN (image -> DiGIT tokens -> stage 2 -> VQGAN), for rFID/PSNR/SSIM.")
        var stage2 = false

        @Option(name: .customLong("stage2-checkpoint"), help: "With --stage2: the stage-2 checkpoint (default: digit_{base,large}_*_stage2.pt under $DIGIT_BENCH_HOME/weights; its vqgan.* is the pixel decoder).")
        var stage2Checkpoint: String?

        @Flag(name: .customLong("stage2-greedy"), help: "With --stage2: argmax codes instead of DiGIT's top-p 0.8 sampling.")
        var stage2Greedy = false

        @Option(help: "With --stage2: seed of the stage-2 sampling (image i draws from stream (seed, i), so results do not depend on batching or sharding).")
        var seed: UInt64 = 0

        @Option(help: "Images: a folder, a file list or an ADM .npz (default: the bundled sample images).")
        var data: String?

        @Option(help: "Tokenizer checkpoint (default: the registry's file under $DIGIT_BENCH_HOME/weights).")
        var checkpoint: String?

        @Option(name: .customLong("inception-checkpoint"), help: "FID Inception checkpoint (default: located as `fid` does).")
        var inceptionCheckpoint: String?

        @Option(help: "real (default) or seeded (tokenizer AND Inception on seeded test weights).")
        var weights: String = "real"

        @Flag(name: .customLong("no-ema"), help: "LFQ: load the raw weights instead of the EMA copies.")
        var noEMA = false

        @Option(name: .customLong("protocol"), help: "Metric protocol: \(ReconProtocol.allCases.map(\.rawValue).joined(separator: ", ")) (default: the tokenizer's paper).")
        var reconProtocol: String?

        @Option(name: .customLong("reference-stats"), help: "Cached Inception statistics (.npz from `stats`) of the originals for rFID.")
        var referenceStats: String?

        @Flag(name: .customLong("no-fid"), help: "Skip rFID (no Inception weights needed).")
        var noFID = false

        @Option(help: "Images per batch.")
        var batch: Int = 4

        @OptionGroup var sharding: ShardOptions

        @Option(help: "Write this run's mergeable record (per-image metrics, code histogram, Inception sums) as .npz; shards' records combine with `digit-bench merge reconstruct`.")
        var record: String?

        @Option(name: .customLong("on-error"), help: "fail (default) or skip unreadable images.")
        var onError: String = "fail"

        @Option(help: "Write reconstructions as PNG into this directory (names follow the dataset order).")
        var save: String?

        @Option(help: "Write a side-by-side original/reconstruction grid PNG (first 16 images).")
        var grid: String?

        @Option(name: .customLong("grid-tile"), help: "Downscale the grid's tiles to this many pixels wide (box filter; default: full size).")
        var gridTile: Int?

        @Flag(help: "Print the result as JSON on stdout.")
        var json = false

        @Flag(help: "No progress lines on stderr.")
        var quiet = false

        func validate() throws {
            guard ["real", "seeded"].contains(weights) else { throw ValidationError("--weights must be real or seeded, got '\(weights)'") }
            if let p = reconProtocol, ReconProtocol(rawValue: p) == nil {
                throw ValidationError("--protocol must be one of \(ReconProtocol.allCases.map(\.rawValue).joined(separator: ", ")), got '\(p)'")
            }
            guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
            if let gridTile, gridTile < 8 { throw ValidationError("--grid-tile must be at least 8") }
            guard OnError(rawValue: onError) != nil else { throw ValidationError("--on-error must be fail or skip, got '\(onError)'") }
        }

        func run() throws {
            let result = try evaluate()
            try emitResult(rows: result.rows, json: result.json, asJSON: json)
        }

        struct Result {
            var rows: [(String, String)]
            var json: [String: Any]
            var metrics: ReconMetrics
        }

        func evaluate() throws -> Result {
            let seeded = weights == "seeded"
            let codec: ReconCodec
            if let id = DiGITTokenizerID(rawValue: tokenizer) {
                guard stage2 else { return try evaluateDiGITCodebook(id) }
                codec = .neural(try digitReconstruction(id, seeded: seeded))
            } else {
                guard !stage2, stage2Checkpoint == nil else { throw ValidationError("--stage2 and --stage2-checkpoint are for the DiGIT tokenizers") }
                codec = try ReconCodec.load(tokenizer, checkpoint: checkpoint, seeded: seeded, useEMA: !noEMA)
            }
            let proto = reconProtocol.flatMap(ReconProtocol.init(rawValue:)) ?? .default(for: codec)
            // Inception (loaded before the long run so a missing file fails fast).
            var net: InceptionV3?
            if !noFID {
                var args = ["--weights", weights]
                if let inceptionCheckpoint { args += ["--checkpoint", inceptionCheckpoint] }
                net = try EvalOptions.parse(args).loadNetwork()
            }
            var reference: StatsFile.Contents?
            if let referenceStats, !noFID {
                reference = try StatsFile.read(URL(fileURLWithPath: referenceStats))
                if let m = reference?.meta, m.protocolName != proto.inception.rawValue {
                    note("--reference-stats were made with protocol \(m.protocolName), this run uses \(proto.inception.rawValue)")
                }
                if let m = reference?.meta, m.seeded != seeded {
                    note("--reference-stats were made with \(m.seeded ? "SEEDED" : "real") Inception weights, this run uses \(seeded ? "SEEDED" : "real") ones")
                }
            }
            let input: String
            if let data { input = data } else {
                guard let dir = bundledSamplesDirectory() else {
                    throw ValidationError("bundled sample images not found (set DIGIT_BENCH_SAMPLES or pass --data DIR)")
                }
                input = dir.path
            }
            let shardValue = try sharding.resolve()
            if shardValue.count > 1 && record == nil {
                guard sharding.shard != nil else {
                    throw ValidationError("shard \(shardValue) (from the environment) needs --record FILE.npz: a shard's numbers are partial until `digit-bench merge reconstruct` combines the records")
                }
                note("shard \(shardValue): the numbers below cover this shard only; pass --record FILE.npz to merge shards")
            }
            let dataset = try openDataset(input)
            let loader = DatasetLoader(dataset: dataset, recipe: codec.recipe, batchSize: batch, onError: OnError(rawValue: onError)!, shard: shardValue)
            let total = loader.indices.count
            guard total > 0 || shardValue.count > 1 else { throw ValidationError("\(input): no images") }
            if let save { try FileManager.default.createDirectory(atPath: save, withIntermediateDirectories: true) }

            var totals = ReconTotals(protocol: proto)
            var gridTiles: [RGBImage] = []
            var progress = ImageProgress(label: "reconstruct \(codec.id)", total: total, quiet: quiet)
            var done = 0
            let skipped = try loader.forEachBatch { b in
                guard !b.images.isEmpty else { return }
                let images = ImageBatch(images: b.images)
                let truth: ImageBatch, recon: ImageBatch
                var truthFloat: Tensor?, reconFloat: Tensor?
                switch codec {
                case let .jpeg(j):
                    let (out, bytes) = try j.roundTrip(images)
                    (truth, recon) = (images, out)
                    totals.bits += Double(bytes.reduce(0, +) * 8)
                case let .neural(t):
                    let x = t.modelInput(images)
                    let enc = try t.encode(x)
                    let decoded = try (t as? IndexedTokenDecoder)?.decode(enc.tokens, sampleIndices: b.indices) ?? t.decode(enc.tokens)
                    recon = Self.outputImages(t, decoded)
                    truth = proto.isOpenMAGVIT2 ? Self.outputImages(t, x) : images
                    if totals.histogram.isEmpty { totals.histogram = [Int](repeating: 0, count: t.codebookSize) }
                    for id in enc.tokens.indices { totals.histogram[id] += 1 }
                    totals.bits += t.bitsPerPixel * Double(images.count * images.height * images.width)
                    if proto == .llamagen { truthFloat = Self.unitRange(x, range: t.inputRange) }
                    if proto.isOpenMAGVIT2 && net != nil { reconFloat = Self.unitRange(decoded, range: t.inputRange) }
                }
                totals.pixels += images.count * images.height * images.width
                let plane = images.height * images.width * 3
                for i in 0..<images.count {
                    let tf = truthFloat.map { Self.hwc($0, index: i) }
                    try totals.metrics.add(truth: truth.image(i), recon: recon.image(i), truthFloat: tf)
                    if gridTiles.count < 32 { gridTiles += [truth.image(i), recon.image(i)] }
                    if let save {
                        let name = String(format: "%06d.png", b.indices[i])
                        try ImageCodec.writeAtomically(try ImageCodec.encodePNG(recon.image(i)), to: URL(fileURLWithPath: save).appendingPathComponent(name))
                    }
                }
                _ = plane
                if let net {
                    let p = proto.inception
                    if reference == nil { totals.accOrig.add(try net.extract(truth, protocol: p, features: [.pool3])[.pool3]!) }
                    if let reconFloat {
                        // Float reconstructions in [0, 1] (pytorch-fid's ToTensor scale), not requantised.
                        let (h, w) = (reconFloat.dim(2), reconFloat.dim(3))
                        for i in 0..<images.count {
                            let one = Tensor(shape: [1, 3, h, w], scalars: Array(reconFloat.scalars[i * 3 * h * w..<(i + 1) * 3 * h * w]))
                            let f = net.forward(p.networkInput(one, side: net.configuration.image_size), features: [.pool3]).features[.pool3]!
                            totals.accRecon.add(Tensor(shape: [1, f.count], scalars: f))
                        }
                    } else {
                        totals.accRecon.add(try net.extract(recon, protocol: p, features: [.pool3])[.pool3]!)
                    }
                }
                done += images.count
                progress.update(done)
            }
            progress.finish(done)
            if let grid, !gridTiles.isEmpty {
                let labels = (0..<gridTiles.count).map { $0 % 2 == 0 ? "ORIGINAL" : "RECON" }
                try writeGrid(gridTiles, columns: 4, labels: labels, tile: gridTile, to: URL(fileURLWithPath: grid))
            }

            totals.images = done
            totals.skipped = skipped
            var context = ReconContext(
                tokenizer: codec.id, seeded: seeded, codecSeeded: codec.seeded, isJPEG: { if case .jpeg = codec { return true }; return false }(),
                protocolName: proto.rawValue, input: input, inception: net.map(EvalOptions.describeWeights), referenceStats: referenceStats)
            if let record {
                context.stamp = ShardStamp(shard: shardValue, range: loader.indices, total: dataset.count,
                                           identity: context.identity(items: RunIdentity.items(of: dataset), checkpoint: checkpoint, noEMA: noEMA))
                try ReconRecord.write(totals, context: context, to: URL(fileURLWithPath: sharding.output(record, for: shardValue)))
            }
            return try Self.assemble(totals, context: context, reference: reference?.stats, shard: shardValue)
        }

        /// The result table and JSON of a run (or of merged shard records).
        static func assemble(_ t: ReconTotals, context c: ReconContext, reference: GaussianStatistics?, shard: Shard = .all) throws -> Result {
            let proto = ReconProtocol(rawValue: c.protocolName)!
            let weightsText = c.seeded ? "SEEDED (tokenizer and Inception are test weights; numbers are NOT real)" : (c.codecSeeded ? "SEEDED" : "real")
            var rows: [(String, String)] = [("tokenizer", c.tokenizer), ("weights", weightsText), ("protocol", proto.rawValue),
                                            ("images", "\(t.images)\(t.skipped.isEmpty ? "" : " (\(t.skipped.count) skipped)")\(shard == .all ? "" : " (shard \(shard))")"),
                                            ("data", c.input)]
            var out: [String: Any] = ["tokenizer": c.tokenizer, "seeded": c.seeded, "weights": weightsText, "protocol": proto.rawValue,
                                      "images": t.images, "data": c.input, "skipped": t.skipped.map { ["index": $0.index, "id": $0.id, "reason": $0.reason] }]
            if shard != .all { out["shard"] = shard.description }
            var metricJSON: [String: Any] = [:]
            for (key, desc, v) in t.metrics.summary {
                rows.append((key, "\(formatMetric(v))  [\(desc)]"))
                metricJSON[key] = ["value": jsonNumber(v), "protocol": desc]
            }
            let bpp = t.pixels > 0 ? t.bits / Double(t.pixels) : .nan
            let bppDesc = c.isJPEG ? "JPEG file bytes * 8 / pixels" : "log2(codebook) / downsample^2"
            rows.append(("bits_per_pixel", "\(formatMetric(bpp))  [\(bppDesc)]"))
            metricJSON["bits_per_pixel"] = ["value": jsonNumber(bpp), "protocol": bppDesc]
            if !t.histogram.isEmpty {
                let u = CodebookUsage(histogram: t.histogram)
                rows.append(("codebook_usage", String(format: "%.6f (%d of %d codes)", u.fraction, u.used, u.codebookSize)))
                rows.append(("codebook_perplexity", formatMetric(u.perplexity)))
                rows.append(("codebook_entropy_bits", formatMetric(u.entropyBits)))
                metricJSON["codebook_usage"] = ["value": u.fraction, "used": u.used, "codebook_size": u.codebookSize, "tokens": u.tokens]
                metricJSON["codebook_perplexity"] = ["value": u.perplexity]
                metricJSON["codebook_entropy_bits"] = ["value": u.entropyBits]
            }
            if let inception = c.inception {
                if shard.count > 1 {
                    rows.append(("rfid", "not computed per shard (merge the --record files)"))
                } else {
                    let p = proto.inception
                    let origStats = try reference ?? Self.statistics(t.accOrig, protocol: p)
                    let reconStats = try Self.statistics(t.accRecon, protocol: p)
                    let fd = try FrechetDistance.compute(origStats, reconStats, protocol: p.frechetProtocol)
                    let desc = "Inception pool3 \(p.rawValue)\(proto.isOpenMAGVIT2 ? " on float reconstructions" : " on uint8 reconstructions"), originals: \(c.referenceStats ?? "this run"), Inception \(inception)"
                    rows.append(("rfid", "\(formatMetric(fd.value))  [\(desc)]"))
                    metricJSON["rfid"] = ["value": jsonNumber(fd.value), "protocol": desc]
                }
            } else {
                rows.append(("rfid", "skipped (--no-fid)"))
            }
            out["metrics"] = metricJSON
            return Result(rows: rows, json: out, metrics: t.metrics)
        }

        /// Statistics as `stats` writes them: float32 means for protocols whose reference uses them.
        static func statistics(_ acc: GaussianAccumulator, protocol p: InceptionProtocol) throws -> GaussianStatistics {
            var s = try acc.statistics()
            if p.frechetProtocol.float32Means { s.mu = acc.float32Mean.map(Double.init) }
            return s
        }

        /// The tokenizer's own output rule (LlamaGen and MAGE override the protocol extension's).
        static func outputImages(_ t: any ImageTokenizer, _ x: Tensor) -> ImageBatch {
            if let l = t as? LlamaGenVQ { return l.outputImages(x) }
            if let m = t as? MAGEVQGAN { return m.outputImages(x) }
            if let d = t as? DiGITReconstruction { return d.outputImages(x) }
            return t.outputImages(x)
        }

        /// `(clamp(x) - lo) / span`: network-range images to [0, 1] floats, (B, 3, H, W).
        static func unitRange(_ x: Tensor, range: PixelRange) -> Tensor {
            let b = range.bounds, span = b.upperBound - b.lowerBound
            return Tensor(shape: x.shape, scalars: x.scalars.map { (min(max($0, b.lowerBound), b.upperBound) - b.lowerBound) / span })
        }

        /// Image `index` of a (B, 3, H, W) tensor as HWC floats.
        static func hwc(_ x: Tensor, index: Int) -> [Float] {
            let (h, w) = (x.dim(2), x.dim(3)), s = x.scalars
            var out = [Float](repeating: 0, count: h * w * 3)
            for c in 0..<3 { for i in 0..<(h * w) { out[i * 3 + c] = s[(index * 3 + c) * h * w + i] } }
            return out
        }
    }
}
