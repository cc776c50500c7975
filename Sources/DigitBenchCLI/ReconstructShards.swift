import ArgumentParser
import DigitBench
import Foundation

/// Everything a reconstruction run accumulates: what a shard's `--record` holds and what
/// `merge reconstruct` adds up (per-image metrics in dataset order, code histogram, bit and pixel
/// counts, exact Inception sums of originals and reconstructions).
struct ReconTotals {
    var metrics: ReconMetrics
    var histogram: [Int] = []
    var bits = 0.0
    var pixels = 0
    var images = 0
    var skipped: [SkippedItem] = []
    var accOrig = GaussianAccumulator(dimension: InceptionFeature.pool3.dimension)
    var accRecon = GaussianAccumulator(dimension: InceptionFeature.pool3.dimension)

    init(protocol proto: ReconProtocol) { metrics = ReconMetrics(protocol: proto) }

    /// Appends the totals of the next shard (in dataset order).
    mutating func append(_ o: ReconTotals, path: String) throws {
        metrics.psnr += o.metrics.psnr
        metrics.ssim += o.metrics.ssim
        metrics.psnrVariant += o.metrics.psnrVariant
        metrics.ssimDataRange2 += o.metrics.ssimDataRange2
        if histogram.isEmpty {
            histogram = o.histogram
        } else if !o.histogram.isEmpty {
            guard o.histogram.count == histogram.count else {
                throw ValidationError("\(path): code histogram of \(o.histogram.count) codes, the other shards have \(histogram.count)")
            }
            for i in histogram.indices { histogram[i] += o.histogram[i] }
        }
        bits += o.bits
        pixels += o.pixels
        images += o.images
        skipped += o.skipped
        try accOrig.merge(o.accOrig)
        try accRecon.merge(o.accRecon)
    }
}

/// What a reconstruction run was (everything `assemble` needs besides the totals), recorded in
/// shard records as JSON.
struct ReconContext: Codable {
    var tokenizer: String
    var seeded: Bool
    var codecSeeded: Bool
    var isJPEG: Bool
    var protocolName: String
    var input: String
    /// Inception weights description; nil with --no-fid.
    var inception: String?
    var referenceStats: String?
    var stamp: ShardStamp? = nil
    var skipped: [SkippedItem]? = nil

    func identity(items: String, checkpoint: String?, noEMA: Bool) -> RunIdentity {
        RunIdentity(settings: [
            "command": "reconstruct", "tokenizer": tokenizer, "weights": seeded ? "seeded" : "real",
            "checkpoint": checkpoint.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "registry", "ema": noEMA ? "no" : "yes",
            "protocol": protocolName, "inception": inception ?? "none (--no-fid)",
            "reference_stats": referenceStats.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "none", "items": items,
        ])
    }
}

/// The `.npz` written by `reconstruct --record`: per-image metrics (float64, dataset order),
/// `histogram` (int64), `bits`, `pixels`, `images`, the Inception sums as `orig_acc_*` /
/// `recon_acc_*` (as `stats` files store them), and `digit_bench_meta` (``ReconContext`` JSON).
enum ReconRecord {
    static func write(_ t: ReconTotals, context: ReconContext, to url: URL) throws {
        var c = context
        c.skipped = t.skipped
        let m = t.metrics
        var arrays: [(name: String, array: NPYArray)] = [
            ("psnr", NPYArray(float64: m.psnr, shape: [m.psnr.count])),
            ("ssim", NPYArray(float64: m.ssim, shape: [m.ssim.count])),
            ("psnr_variant", NPYArray(float64: m.psnrVariant, shape: [m.psnrVariant.count])),
            ("ssim_data_range_2", NPYArray(float64: m.ssimDataRange2, shape: [m.ssimDataRange2.count])),
            ("histogram", NPYArray(int64: t.histogram.map(Int64.init), shape: [t.histogram.count])),
            ("bits", NPYArray(float64: [t.bits], shape: [1])),
            ("pixels", NPYArray(int64: [Int64(t.pixels)], shape: [1])),
            ("images", NPYArray(int64: [Int64(t.images)], shape: [1])),
        ]
        if c.inception != nil {
            if c.referenceStats == nil { arrays += StatsFile.accumulatorArrays(t.accOrig, prefix: "orig_") }
            arrays += StatsFile.accumulatorArrays(t.accRecon, prefix: "recon_")
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let meta = [UInt8](try enc.encode(c))
        arrays.append((StatsFile.metaKey, NPYArray(dtype: .uint8, shape: [meta.count], data: meta)))
        try NPZ.write(arrays, to: url)
    }

    static func read(_ url: URL) throws -> (totals: ReconTotals, context: ReconContext) {
        let recs = try StatsFile.records(url)
        let path = url.path
        guard let metaView = recs[StatsFile.metaKey] else {
            throw ValidationError("\(path): not a `reconstruct --record` file (no \(StatsFile.metaKey))")
        }
        let c: ReconContext
        do { c = try JSONDecoder().decode(ReconContext.self, from: Data(metaView.array().data)) } catch {
            throw ValidationError("\(path): not a `reconstruct --record` file (\(error))")
        }
        guard let proto = ReconProtocol(rawValue: c.protocolName) else {
            throw ValidationError("\(path): unknown reconstruction protocol '\(c.protocolName)'")
        }
        func get(_ k: String) throws -> NPYArray {
            guard let v = recs[k] else { throw ValidationError("\(path): missing array '\(k)'") }
            return v.array()
        }
        var t = ReconTotals(protocol: proto)
        t.metrics.psnr = try get("psnr").doubles()
        t.metrics.ssim = try get("ssim").doubles()
        t.metrics.psnrVariant = try get("psnr_variant").doubles()
        t.metrics.ssimDataRange2 = try get("ssim_data_range_2").doubles()
        t.histogram = try get("histogram").int64s().map(Int.init)
        t.bits = try get("bits").doubles().first ?? 0
        t.pixels = Int(try get("pixels").int64s().first ?? 0)
        t.images = Int(try get("images").int64s().first ?? 0)
        t.skipped = c.skipped ?? []
        let d = InceptionFeature.pool3.dimension
        if let a = try StatsFile.accumulator(from: recs, prefix: "orig_", dimension: d, path: path) { t.accOrig = a }
        if let a = try StatsFile.accumulator(from: recs, prefix: "recon_", dimension: d, path: path) { t.accRecon = a }
        return (t, c)
    }
}

extension DigitBenchCommand {
    struct MergeReconstruct: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reconstruct",
            abstract: "Combine `reconstruct --shard i/N --record FILE.npz` records into the whole run's result.",
            discussion: """
                Per-image PSNR/SSIM are concatenated in dataset order, code histograms, bits and pixels \
                added, and the Inception sums of originals and reconstructions merged exactly, so every \
                number equals the unsharded run's (rFID bit for bit under the same conditions as \
                `merge stats`). Prints the same table/JSON as `reconstruct`.
                """)

        @Argument(help: "Shard record files (.npz from reconstruct --record).") var inputs: [String]
        @Option(name: .shortAndLong, help: "Also write the merged record here (.npz).") var output: String?
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            let result = try merge()
            try emitResult(rows: result.rows, json: result.json, asJSON: json)
        }

        func merge() throws -> Reconstruct.Result {
            let parts = try inputs.map { try ReconRecord.read(URL(fileURLWithPath: $0)) }
            let ordered = try ShardSet.order(zip(inputs, parts).map { path, p in
                ShardSet.Part(path: path, shard: p.context.stamp?.parsedShard, run: p.context.stamp?.run, settings: p.context.stamp?.settings)
            })
            var totals = parts[ordered[0]].totals
            for i in ordered.dropFirst() { try totals.append(parts[i].totals, path: inputs[i]) }
            var context = parts[ordered[0]].context
            if var stamp = context.stamp {
                stamp.shard = Shard.all.description
                stamp.range = [0, stamp.total]
                context.stamp = stamp
            }
            let reference = try context.referenceStats.map { try StatsFile.read(URL(fileURLWithPath: $0)).stats }
            if let output { try ReconRecord.write(totals, context: context, to: URL(fileURLWithPath: output)) }
            var result = try Reconstruct.assemble(totals, context: context, reference: reference)
            result.json["merged_from"] = ordered.map { inputs[$0] }
            return result
        }
    }
}
