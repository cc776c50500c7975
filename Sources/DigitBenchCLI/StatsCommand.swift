import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Inception pool3 statistics of an image input, as a pytorch-fid compatible .npz.",
            discussion: """
                Writes `mu` (2048, float64) and `sigma` (2048x2048, float64, np.cov divisor n-1) as \
                pytorch-fid's --save-stats does, plus the exact streaming sums (count, double-double Σx \
                and Σxxᵀ, float32 Σx, the rows of the incomplete block) and a JSON record \
                (`digit_bench_meta`) under extra keys that pytorch-fid ignores; `digit-bench merge stats` \
                combines shard files made with --shard i/N into the unsharded result, bit for bit when \
                every shard but the last is a multiple of 1024 images or all shards are smaller. \
                For --protocol adm/torch-fidelity `mu` is numpy's float32 mean (what those tools use).
                """)

        @Argument(help: "Image folder (recursive, sorted), .txt file list, or ADM .npz (arr_0 uint8 NHWC).")
        var input: String

        @Option(name: .shortAndLong, help: "Output .npz file.")
        var output: String

        @Flag(help: "Write only mu and sigma (no merge data, no metadata): smallest pytorch-fid file.")
        var plain = false

        @OptionGroup var options: EvalOptions

        func run() throws {
            let p = try options.resolvedProtocol()
            let shard = try options.sharding.resolve()
            let output = options.sharding.output(self.output, for: shard)
            let net = try options.loadNetwork()
            var acc = GaussianAccumulator(dimension: InceptionFeature.pool3.dimension)
            let run = try options.extract(input, net: net, protocol: p, features: [.pool3], label: "stats", shard: shard) { out in
                acc.add(out[.pool3]!)
            }
            let identity = StatsFile.identity(command: "stats", protocol: p, feature: .pool3, net: net, items: run.items, blockRows: acc.blockRows)
            let meta = StatsFile.Meta(
                protocolName: p.rawValue, feature: InceptionFeature.pool3.rawValue, seeded: net.isSeeded,
                weights: EvalOptions.describeWeights(net), input: input, datasetImages: run.datasetCount,
                shard: shard == .all ? nil : shard.description,
                range: [run.range.lowerBound, run.range.upperBound], skipped: run.skipped.map(\.id),
                run: identity.id, settings: identity.settings)
            let stats = try StatsFile.write(acc, meta: meta, plain: plain, to: URL(fileURLWithPath: output))
            var rows: [(String, String)] = [
                ("output", output), ("images", "\(run.used) of \(run.datasetCount)\(meta.shard.map { " (shard \($0))" } ?? "")"),
                ("protocol", p.rawValue), ("feature", "pool3 (2048)"), ("weights", meta.weights),
                ("mu[0..3]", stats.map { $0.mu.prefix(3).map { String(format: "%.6g", $0) }.joined(separator: " ") }
                    ?? "not written (\(acc.count) image\(acc.count == 1 ? "" : "s") in this shard: merge sums only)"),
            ]
            if !run.skipped.isEmpty { rows.append(("skipped", run.skipped.map(\.id).joined(separator: ", "))) }
            var json = run.json
            json.merge(["output": output, "protocol": p.rawValue, "feature": "pool3", "weights": net.isSeeded ? "seeded" : "real",
                        "weights_description": meta.weights, "shard": meta.shard as Any, "run": identity.id], uniquingKeysWith: { $1 })
            try emitResult(rows: rows, json: json, asJSON: options.json)
        }
    }
}

/// digit-bench statistics files: pytorch-fid's `mu`/`sigma` plus (unless `--plain`) the exact
/// accumulator state and a JSON metadata record under keys pytorch-fid does not read:
///
/// | key | dtype, shape | meaning |
/// |---|---|---|
/// | `mu`, `sigma` | f64 (d), (d, d) | pytorch-fid statistics |
/// | `count` | i64 (1) | images |
/// | `acc_block_rows` | i64 (1) | rows per reduction block (1024) |
/// | `acc_sum_hi`, `acc_sum_lo` | f64 (d) | Σx over completed blocks, double-double |
/// | `acc_outer_hi`, `acc_outer_lo` | f64 (d, d) | Σxxᵀ over completed blocks, double-double (upper triangle) |
/// | `acc_sum32` | f32 (d) | float32 row-by-row Σx (numpy's float32 mean) |
/// | `acc_pending` | f32 (k, d) | features of the last, incomplete block |
/// | `digit_bench_meta` | u8 (bytes) | UTF-8 JSON: protocol, feature, weights (seeded!), input, shard, range, skipped, run identity |
///
/// A shard file of fewer than 2 images has no `mu`/`sigma` (the covariance needs n >= 2): it
/// carries only the merge sums, and `merge stats` turns the shards into a complete file.
enum StatsFile {
    struct Meta: Codable, Equatable {
        var tool = "digit-bench \(DigitBenchVersion.string)"
        var protocolName: String
        var feature: String
        var seeded: Bool
        var weights: String
        var input: String
        var datasetImages: Int
        var shard: String?
        var range: [Int]
        var skipped: [String]
        /// ``RunIdentity/id`` and its settings (absent in files from before sharded runs were stamped).
        var run: String? = nil
        var settings: [String: String]? = nil

        enum CodingKeys: String, CodingKey {
            case tool, protocolName = "protocol", feature, seeded, weights, input, datasetImages = "dataset_images", shard, range, skipped
            case run, settings
        }
    }

    /// The settings shards of one statistics run share: command, protocol, feature, weights
    /// (seeded, or the real checkpoint's description with its checksum), the input's item list, block size.
    static func identity(command: String, protocol p: InceptionProtocol, feature: InceptionFeature, net: InceptionV3,
                         items: String, blockRows: Int? = nil) -> RunIdentity {
        var s = ["command": command, "protocol": p.rawValue, "feature": feature.rawValue,
                 "weights": net.isSeeded ? "seeded" : "real: \(net.weightsDescription)", "items": items]
        if let blockRows { s["block_rows"] = "\(blockRows)" }
        return RunIdentity(settings: s)
    }

    static let metaKey = "digit_bench_meta"

    /// Writes the statistics (and, unless `plain`, the merge data and metadata); returns the
    /// statistics written. A shard (`meta.shard` set) of fewer than 2 images gets the merge data
    /// only (nil is returned); a complete file needs n >= 2.
    @discardableResult
    static func write(_ acc: GaussianAccumulator, meta: Meta, plain: Bool, to url: URL) throws -> GaussianStatistics? {
        var stats: GaussianStatistics?
        if acc.count >= 2 || plain || meta.shard == nil {
            stats = try acc.statistics()
            if let p = InceptionProtocol(rawValue: meta.protocolName), p.frechetProtocol.float32Means {
                stats!.mu = acc.float32Mean.map(Double.init)
            }
        }
        var arrays = [(name: String, array: NPYArray)]()
        if let stats {
            let pf = StatisticsArrays.pytorchFID(stats)
            arrays += [("mu", pf["mu"]!), ("sigma", pf["sigma"]!)]
        }
        if !plain {
            arrays += accumulatorArrays(acc)
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            let bytes = [UInt8](try enc.encode(meta))
            arrays.append((metaKey, NPYArray(dtype: .uint8, shape: [bytes.count], data: bytes)))
        }
        try NPZ.write(arrays, to: url)
        return stats
    }

    /// The exact state of `acc` as `.npz` arrays: `count`, `acc_block_rows`, `acc_sum_hi`, … (names
    /// prefixed by `prefix`, e.g. "orig_" in reconstruction records).
    static func accumulatorArrays(_ acc: GaussianAccumulator, prefix: String = "") -> [(name: String, array: NPYArray)] {
        let s = acc.state, d = s.dimension
        return [
            ("count", NPYArray(int64: [Int64(s.count)], shape: [1])),
            ("acc_block_rows", NPYArray(int64: [Int64(s.blockRows)], shape: [1])),
            ("acc_sum_hi", NPYArray(float64: s.sumHi, shape: [d])),
            ("acc_sum_lo", NPYArray(float64: s.sumLo, shape: [d])),
            ("acc_outer_hi", NPYArray(float64: s.outerHi, shape: [d, d])),
            ("acc_outer_lo", NPYArray(float64: s.outerLo, shape: [d, d])),
            ("acc_sum32", NPYArray(float32: s.sum32, shape: [d])),
            ("acc_pending", NPYArray(float32: s.pendingRows, shape: [s.pendingRows.count / d, d])),
        ].map { (prefix + $0.0, $0.1) }
    }

    /// The accumulator stored by ``accumulatorArrays(_:prefix:)``, or nil when `records` has none.
    static func accumulator(from recs: [String: RawView], prefix: String = "", dimension: Int? = nil, path: String) throws -> GaussianAccumulator? {
        guard let sumHi = recs[prefix + "acc_sum_hi"] else { return nil }
        func get(_ k: String) throws -> NPYArray {
            guard let v = recs[prefix + k] else { throw MetricsError.badStatisticsFile(path: path, key: prefix + k, reason: "missing (merge data is incomplete)") }
            return v.array()
        }
        let d = dimension ?? sumHi.shape.reduce(1, *)
        let pending = try get("acc_pending")
        guard pending.shape.count == 2, pending.shape[1] == d || pending.count == 0 else {
            throw MetricsError.badStatisticsFile(path: path, key: prefix + "acc_pending", reason: "shape \(pending.shape), expected (k, \(d))")
        }
        let state = GaussianAccumulator.State(
            dimension: d, blockRows: Int(try get("acc_block_rows").int64s().first ?? 0), count: Int(try get("count").int64s().first ?? 0),
            sumHi: try get("acc_sum_hi").doubles(), sumLo: try get("acc_sum_lo").doubles(),
            outerHi: try get("acc_outer_hi").doubles(), outerLo: try get("acc_outer_lo").doubles(),
            sum32: try get("acc_sum32").floats(), pendingRows: pending.floats())
        do { return try GaussianAccumulator(state: state) } catch {
            throw MetricsError.badStatisticsFile(path: path, key: prefix + "acc_*", reason: "\(error)")
        }
    }

    /// A statistics file as read back: the Gaussian, and what digit-bench recorded (nil for files
    /// from pytorch-fid, torch-fidelity or ADM reference batches).
    struct Contents {
        var stats: GaussianStatistics
        var meta: Meta?
        var accumulator: GaussianAccumulator?
    }

    /// Record names of an `.npz` and a loader for one record (only the records asked for are read).
    static func records(_ url: URL) throws -> [String: RawView] {
        do {
            return Dictionary(try NPZ.views(ZipArchive(ByteBuffer.map(url))).map { ($0.name, $0.view) }, uniquingKeysWith: { a, _ in a })
        } catch {
            throw ValidationError("\(url.path): not a readable .npz (\(error))")
        }
    }

    static func read(_ url: URL) throws -> Contents {
        let recs = try records(url)
        let path = url.path
        if recs["mu"] == nil, recs["acc_sum_hi"] != nil {
            let m = try mergeable(url, records: recs)
            throw ValidationError("\(path) holds the merge sums of \(m.accumulator.count) image\(m.accumulator.count == 1 ? "" : "s") only (shard \(m.meta?.shard ?? "?")); combine the shards with `digit-bench merge stats` first")
        }
        var arrays: [String: NPYArray] = [:]
        for k in ["mu", "sigma"] { arrays[k] = recs[k]?.array() }
        let stats = try StatisticsArrays.gaussian(from: arrays, path: path)
        let m = try mergeable(url, records: recs, dimension: stats.dimension, required: false)
        return Contents(stats: stats, meta: m.meta, accumulator: m.hasAccumulator ? m.accumulator : nil)
    }

    /// The metadata and accumulator of a file with merge data (mu/sigma need not be present).
    static func mergeable(_ url: URL, records: [String: RawView]? = nil, dimension: Int? = nil, required: Bool = true) throws
        -> (meta: Meta?, accumulator: GaussianAccumulator, hasAccumulator: Bool)
    {
        let recs = try records ?? self.records(url)
        let path = url.path
        var meta: Meta?
        if let m = recs[metaKey] {
            do { meta = try JSONDecoder().decode(Meta.self, from: Data(m.array().data)) } catch {
                throw MetricsError.badStatisticsFile(path: path, key: metaKey, reason: "not digit-bench metadata JSON (\(error))")
            }
        }
        guard let acc = try accumulator(from: recs, dimension: dimension, path: path) else {
            if required {
                throw ValidationError("\(path): no merge data (acc_* arrays); it was written with --plain or by another tool, so it cannot be merged exactly")
            }
            return (meta, GaussianAccumulator(dimension: 1), false)
        }
        return (meta, acc, true)
    }
}
