import ArgumentParser
import DigitBench
import Dispatch
import Foundation

/// Options shared by the evaluation commands (`stats`, `fid`, `is`, `kid`, `pr`, `features`):
/// input protocol, weights, batching, sharding, error policy and output format.
struct EvalOptions: ParsableArguments {
    @Option(name: .customLong("protocol"),
            help: "Input protocol: \(InceptionProtocol.allCases.map(\.rawValue).joined(separator: ", ")) (default: the protocol recorded in a statistics file, else pytorch-fid).")
    var inputProtocol: String?

    @Option(help: "real: pytorch-fid's pt_inception-2015-12-05-6726825d.pth (or torch-fidelity's copy); seeded: deterministic test weights (outputs are NOT real FIDs).")
    var weights: String = "real"

    @Option(help: "Inception checkpoint file (default: $DIGIT_BENCH_HOME/weights/<file>, $DIGIT_BENCH_CHECKPOINTS/<file>).")
    var checkpoint: String?

    @Option(help: "Images decoded and run per batch (memory is bounded by one batch).")
    var batch: Int = 32

    /// `--shard i/N` (+ `--shards`, `--no-env-shard`). `stats` and `features` also read the shard
    /// from a Slurm array / Kubernetes Indexed Job; the other commands use `--shard` only.
    @OptionGroup var sharding: ShardOptions

    @Option(name: .customLong("on-error"), help: "What to do with an unreadable image: fail (default) or skip (skipped items are listed in the output).")
    var onError: String = "fail"

    @Flag(help: "Print the result as JSON on stdout.")
    var json = false

    @Flag(help: "No progress lines on stderr.")
    var quiet = false

    @Option(help: ArgumentHelp(
        "Cache per-image Inception features in this directory (default: $DIGIT_BENCH_CACHE when set, else no cache).",
        discussion: "Entries are keyed by the SHA-256 of the images (file bytes, or pixels of an .npz), the weights, the protocol and the --on-error policy; a rerun on the same inputs reads the features instead of running the network. Shards sharing one directory are safe."))
    var cache: String?

    @Flag(help: "Use no feature cache, not even $DIGIT_BENCH_CACHE.")
    var noCache = false

    func validate() throws {
        if let p = inputProtocol { _ = try InceptionProtocol(parsing: p) }
        guard ["real", "seeded"].contains(weights) else { throw ValidationError("--weights must be real or seeded, got '\(weights)'") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard OnError(rawValue: onError) != nil else { throw ValidationError("--on-error must be fail or skip, got '\(onError)'") }
    }

    var seeded: Bool { weights == "seeded" }

    /// `--protocol`, else `recorded` (from a statistics file), else pytorch-fid.
    func resolvedProtocol(recorded: InceptionProtocol? = nil) throws -> InceptionProtocol {
        if let p = inputProtocol { return try InceptionProtocol(parsing: p) }
        return recorded ?? .pytorchFid
    }

    /// `--shard` only (no environment): what `fid`, `is`, `kid`, `pr` use.
    var parsedShard: Shard { sharding.explicitShard }

    // MARK: Weights

    /// The FID Inception: seeded weights when asked for, else the real checkpoint (`--checkpoint`,
    /// `$DIGIT_BENCH_HOME/weights/`, `$DIGIT_BENCH_CHECKPOINTS/`, `$DIGIT_BENCH_HOME/`), verified
    /// by SHA-256. A missing file is an error with the registry's message (which file, where from,
    /// checksum, where to put it); there is no fallback to seeded weights.
    func loadNetwork(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> InceptionV3 {
        if seeded {
            note("the FID Inception runs on SEEDED weights: every number below is a test value, not a real FID/IS/KID")
            return try InceptionV3(weights: .seeded())
        }
        if let checkpoint { return try InceptionV3.loadReal(checkpoint: checkpoint) }
        guard let url = Self.locateRealInception(environment: environment) else {
            let file = WeightsRegistry.file("inception-pytorch-fid")!
            throw WeightsError.missing(id: file.id, message: WeightsRegistry.missingMessage(for: file, home: WeightsHome(environment: environment)))
        }
        return try InceptionV3.loadReal(checkpoint: url.path)
    }

    /// The first existing copy of pytorch-fid's or torch-fidelity's Inception weights.
    static func locateRealInception(environment: [String: String]) -> URL? {
        let home = WeightsHome(environment: environment)
        let files = ["inception-pytorch-fid", "inception-torch-fidelity"].compactMap(WeightsRegistry.file)
        for f in files {
            var candidates = [home.path(for: f), home.root.appendingPathComponent(f.fileName),
                              home.root.appendingPathComponent("checkpoints").appendingPathComponent(f.fileName)]
            if let dir = environment["DIGIT_BENCH_CHECKPOINTS"], !dir.isEmpty {
                candidates.insert(URL(fileURLWithPath: dir).appendingPathComponent(f.fileName), at: 0)
            }
            if let hit = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) { return hit }
        }
        return nil
    }

    /// "SEEDED (test values, not real)" or the checkpoint description.
    static func describeWeights(_ net: InceptionV3) -> String {
        net.isSeeded ? "SEEDED (test weights; numbers are not real)" : "real: \(net.weightsDescription)"
    }

    // MARK: Feature extraction

    /// Streams the images of `input` (folder, file list or ADM `.npz`) through `net` in batches and
    /// hands each batch's features (rows in dataset order) to `body`. Progress with images/s and ETA
    /// goes to stderr. `shard` defaults to `--shard`; a shard of a sharded run may be empty (more
    /// shards than images), the whole input may not.
    func extract(
        _ input: String, net: InceptionV3, protocol inputProtocol: InceptionProtocol, features: [InceptionFeature],
        label: String, shard: Shard? = nil, body: ([InceptionFeature: Tensor]) throws -> Void
    ) throws -> ExtractionRun {
        try extractRows(input, net: net, protocol: inputProtocol, features: features, label: label, shard: shard,
                        keepRows: false, body: body).run
    }

    /// ``extract(_:net:protocol:features:label:shard:body:)``, also returning every row when
    /// `keepRows` (or when they go to the cache): one copy, shared by the cache and the caller.
    private func extractRows(
        _ input: String, net: InceptionV3, protocol inputProtocol: InceptionProtocol, features: [InceptionFeature],
        label: String, shard: Shard?, keepRows: Bool, body: ([InceptionFeature: Tensor]) throws -> Void
    ) throws -> (run: ExtractionRun, rows: [InceptionFeature: [Float]]) {
        let shard = shard ?? parsedShard
        let dataset = try openDataset(input)
        let loader = DatasetLoader(dataset: dataset, batchSize: batch, onError: OnError(rawValue: onError)!, shard: shard)
        let total = loader.indices.count
        guard total > 0 || shard.count > 1 else { throw ValidationError("\(input): no images") }
        var run = ExtractionRun(input: input, datasetCount: dataset.count, range: loader.indices, used: 0, skipped: [],
                                items: RunIdentity.items(of: dataset))
        var entry: InceptionFeatureCacheEntry?
        if let cache = featureCache() {
            let e = try InceptionFeatureCacheEntry(cache: cache, dataset: dataset, range: loader.indices, net: net, protocol: inputProtocol,
                                                   onError: onError, quiet: quiet)
            if let hit = e.load(features) {
                run.used = hit.used
                run.skipped = hit.skipped
                var rows: [InceptionFeature: [Float]] = [:]
                if keepRows {
                    for f in features { rows[f] = hit.arrays[f.rawValue]?.floats() }
                } else {
                    try hit.replay(batch: batch, body)
                }
                if !quiet { note("\(label): \(hit.used) images' features read from the cache \(e.directory.path)") }
                return (run, rows)
            }
            entry = e
        }
        let collect = keepRows || entry != nil
        var collected: [InceptionFeature: [Float]] = [:]
        if collect { for f in features { collected[f] = []; collected[f]!.reserveCapacity(total * f.dimension) } }
        var progress = ImageProgress(label: label, total: total, quiet: quiet)
        var done = 0
        let skipped = try loader.forEachBatch { b in
            guard !b.images.isEmpty else { return }
            let out = try Self.extractMixedSizes(b.images, net: net, protocol: inputProtocol, features: features)
            if collect { for f in features { collected[f]!.append(contentsOf: out[f]!.scalars) } }
            try body(out)
            done += b.images.count
            progress.update(done)
        }
        progress.finish(done)
        run.used = done
        run.skipped = skipped
        if let entry {
            try entry.store(collected, used: done, skipped: skipped)
            if !quiet { note("\(label): features cached in \(entry.directory.path)") }
        }
        return (run, collected)
    }

    /// `--cache`, else `$DIGIT_BENCH_CACHE`, unless `--no-cache`.
    func featureCache(environment: [String: String] = ProcessInfo.processInfo.environment) -> FeatureCache? {
        if noCache { return nil }
        guard let dir = cache ?? environment["DIGIT_BENCH_CACHE"].flatMap({ $0.isEmpty ? nil : $0 }) else { return nil }
        return FeatureCache(directory: URL(fileURLWithPath: dir))
    }

    /// Features of images that may differ in size: runs of one size go through the network
    /// together (rows do not depend on the batching), rows come back in input order.
    static func extractMixedSizes(_ images: [RGBImage], net: InceptionV3, protocol p: InceptionProtocol, features: [InceptionFeature])
        throws -> [InceptionFeature: Tensor]
    {
        var groups: [[Int]] = []
        var sizes: [Int: Int] = [:]  // (w << 32 | h) -> group
        for (i, im) in images.enumerated() {
            let key = im.width << 32 | im.height
            if let g = sizes[key] { groups[g].append(i) } else { sizes[key] = groups.count; groups.append([i]) }
        }
        if groups.count == 1 { return try net.extract(ImageBatch(images: images), protocol: p, features: features) }
        var rows: [InceptionFeature: [Float]] = [:]
        for f in features { rows[f] = [Float](repeating: 0, count: images.count * f.dimension) }
        for g in groups {
            let out = try net.extract(ImageBatch(images: g.map { images[$0] }), protocol: p, features: features)
            for f in features {
                let d = f.dimension, src = out[f]!.scalars
                for (j, i) in g.enumerated() { rows[f]!.replaceSubrange(i * d..<(i + 1) * d, with: src[j * d..<(j + 1) * d]) }
            }
        }
        return rows.mapValues { Tensor(shape: [images.count, $0.count / images.count], scalars: $0) }
    }

    /// The features of every image of `input`, concatenated (N, D) per feature.
    func extractAll(_ input: String, net: InceptionV3, protocol p: InceptionProtocol, features: [InceptionFeature], label: String,
                    shard: Shard? = nil) throws -> ([InceptionFeature: Tensor], ExtractionRun)
    {
        let (run, rows) = try extractRows(input, net: net, protocol: p, features: features, label: label, shard: shard,
                                          keepRows: true) { _ in }
        var out: [InceptionFeature: Tensor] = [:]
        for f in features { out[f] = Tensor(shape: [run.used, f.dimension], scalars: rows[f] ?? []) }
        return (out, run)
    }
}

/// One input's entry in the feature cache: the Inception features of items `range` of a dataset
/// under one protocol, weights and error policy.
struct InceptionFeatureCacheEntry {
    let cache: FeatureCache
    let key: String
    let settings: [String: String]
    var directory: URL { cache.directory.appendingPathComponent(key) }

    struct Meta: Codable {
        var settings: [String: String]
        var used: Int
        var skipped: [SkippedItem]
    }

    struct Hit {
        var arrays: [String: NPYArray]
        var used: Int
        var skipped: [SkippedItem]

        /// Hands the cached rows to `body` in batches of `batch`, as the network would have.
        func replay(batch: Int, _ body: ([InceptionFeature: Tensor]) throws -> Void) throws {
            let values = arrays.compactMap { k, v in InceptionFeature(rawValue: k).map { ($0, v.floats()) } }
            for lo in stride(from: 0, to: used, by: batch) {
                let hi = min(used, lo + batch)
                var out: [InceptionFeature: Tensor] = [:]
                for (f, v) in values {
                    out[f] = Tensor(shape: [hi - lo, f.dimension], scalars: Array(v[(lo * f.dimension)..<(hi * f.dimension)]))
                }
                try body(out)
            }
        }
    }

    init(cache: FeatureCache, dataset: any ImageDataset, range: Range<Int>, net: InceptionV3, protocol p: InceptionProtocol,
         onError: String, quiet: Bool) throws
    {
        self.cache = cache
        var progress = ImageProgress(label: "hashing inputs for the cache", total: range.count, quiet: quiet)
        let input = try cache.digests.dataset(dataset, range: range) { done, _ in progress.update(done) }
        if range.count > 256 { progress.finish(range.count) }
        settings = ["kind": "digit-bench inception-v3 features v1", "protocol": p.rawValue,
                    "weights": Self.weightsKey(net), "input": input, "on_error": onError]
        key = FeatureCache.key(settings)
    }

    /// "seeded", or the checkpoint's SHA-256 computed when it was verified at load.
    static func weightsKey(_ net: InceptionV3) -> String {
        if net.isSeeded { return "seeded" }
        return net.weightsSHA256.map { "sha256 \($0)" } ?? net.weightsDescription
    }

    func load(_ features: [InceptionFeature]) -> Hit? {
        guard let (arrays, metaData) = cache.load(key: key, names: features.map(\.rawValue), note: note),
            let meta = try? JSONDecoder().decode(Meta.self, from: metaData), meta.settings == settings
        else { return nil }
        for f in features where arrays[f.rawValue]?.shape != [meta.used, f.dimension] {
            note("cache entry \(directory.path): \(f.rawValue) has shape \(arrays[f.rawValue]?.shape ?? []), expected [\(meta.used), \(f.dimension)]; recomputing it")
            return nil
        }
        return Hit(arrays: arrays, used: meta.used, skipped: meta.skipped)
    }

    func store(_ rows: [InceptionFeature: [Float]], used: Int, skipped: [SkippedItem]) throws {
        let arrays = Dictionary(uniqueKeysWithValues: rows.map { f, v in (f.rawValue, NPYArray(float32: v, shape: [used, f.dimension])) })
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try cache.store(key: key, arrays: arrays, meta: enc.encode(Meta(settings: settings, used: used, skipped: skipped)))
    }
}

/// What one pass over an image input covered.
struct ExtractionRun {
    var input: String
    var datasetCount: Int
    var range: Range<Int>
    var used: Int
    var skipped: [SkippedItem]
    /// ``RunIdentity/items(of:)`` of the whole input (all shards).
    var items: String

    var json: [String: Any] {
        ["input": input, "images": used, "dataset_images": datasetCount, "range": [range.lowerBound, range.upperBound],
         "skipped": skipped.map { ["index": $0.index, "id": $0.id, "reason": $0.reason] }]
    }
}

/// `label: 120/5000 images  3.4 img/s  ETA 0:24:10` on stderr, at most twice a second.
struct ImageProgress {
    let label: String, total: Int, quiet: Bool
    let start = DispatchTime.now().uptimeNanoseconds
    var lastPrint: UInt64 = 0

    init(label: String, total: Int, quiet: Bool) {
        self.label = label
        self.total = total
        self.quiet = quiet
    }

    mutating func update(_ done: Int) {
        let now = DispatchTime.now().uptimeNanoseconds
        guard !quiet, now - lastPrint > 500_000_000 || done == total else { return }
        lastPrint = now
        let seconds = Double(now - start) * 1e-9
        let rate = Double(done) / max(seconds, 1e-9)
        let eta = rate > 0 ? Double(total - done) / rate : 0
        FileHandle.standardError.write(Data(String(format: "\r%@: %d/%d images  %.2f img/s  ETA %@   ", label, done, total, rate, Self.clock(eta)).utf8))
    }

    mutating func finish(_ done: Int) {
        guard !quiet else { return }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        FileHandle.standardError.write(Data(String(format: "\r%@: %d images in %.1f s (%.2f img/s)          \n", label, done, seconds, Double(done) / max(seconds, 1e-9)).utf8))
    }

    static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60)
    }
}

/// A warning or note on stderr.
func note(_ message: String) {
    FileHandle.standardError.write(Data("note: \(message)\n".utf8))
}

/// Prints `rows` as an aligned two-column table, or `json` (sorted keys) with `--json`.
func emitResult(rows: [(String, String)], json: [String: Any], asJSON: Bool) throws {
    if asJSON {
        let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    } else {
        let w = (rows.map(\.0.count).max() ?? 0) + 2
        for (k, v) in rows { print(k.padding(toLength: w, withPad: " ", startingAt: 0) + v) }
    }
}

extension InceptionProtocol {
    /// How the Fréchet distance forms its mean term for statistics made under this protocol.
    var frechetProtocol: FrechetProtocol {
        switch self {
        case .adm: .adm
        case .torchFidelity: .torchFidelity
        case .pytorchFid: .pytorchFID
        case .cleanFid: .cleanFID
        }
    }
}
