import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Combine shard outputs exactly (statistics, features, generated samples, reconstruction records).",
            discussion: """
                Every shard output records its shard (i/N), the item range it covers and the identity of \
                its run (a SHA-256 over command, input item list, weights and settings). `merge` orders the \
                files by shard, and a missing shard, a duplicated one, or a file of another run is an error \
                naming the file (and, for another run, the settings that differ). See docs/scale-out.md.
                """,
            subcommands: [MergeStats.self, MergeFeatures.self, MergeSamples.self, MergeReconstruct.self])
    }

    struct MergeStats: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "stats",
            abstract: "Merge `digit-bench stats --shard i/N` files into the statistics of the whole input, exactly.",
            discussion: """
                Every file must carry digit-bench's merge data (not --plain) and belong to the same run \
                (protocol, feature, weights, input item list); the shards must be exactly 0/N … N-1/N, \
                each once (a missing or duplicated shard is an error naming it). Files without shard \
                metadata are merged in the order given. The sums are restored and added as one run over \
                all images would add them, so mu/sigma equal an unsharded run's bit for bit when all \
                shards but the last hold a multiple of 1024 images or every shard is smaller than 1024 \
                images (otherwise they agree to ~1e-16 relative). Shard files of 0 or 1 image (no mu/sigma) \
                are fine.
                """)

        @Argument(help: "Shard statistics files.") var inputs: [String]
        @Option(name: .shortAndLong, help: "Output .npz file.") var output: String
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            guard !inputs.isEmpty else { throw ValidationError("no statistics files given") }
            var parts: [(path: String, meta: StatsFile.Meta?, acc: GaussianAccumulator)] = []
            for path in inputs {
                let m = try StatsFile.mergeable(URL(fileURLWithPath: path))
                parts.append((path, m.meta, m.accumulator))
            }
            let metas = parts.compactMap { $0.meta }
            if metas.count != 0 && metas.count != parts.count {
                throw ValidationError("some files have digit-bench metadata and some do not; merge files from one `stats --shard` run")
            }
            let ordered = try ShardSet.order(parts.map {
                ShardSet.Part(path: $0.path, shard: $0.meta?.shard.flatMap { try? Shard(parsing: $0) }, run: $0.meta?.run, settings: $0.meta?.settings)
            })
            // Files stamped with a run identity were checked above; older files by their fields.
            let fields: [(String, (StatsFile.Meta) -> String)] = [
                ("protocol", { $0.protocolName }), ("feature", { $0.feature }),
                ("seeded", { $0.seeded ? "seeded weights" : "real weights" }), ("dataset_images", { "\($0.datasetImages) images" }),
            ] + (metas.contains { $0.run == nil } ? [("input", { $0.input })] : [])
            for (field, value) in fields {
                let values = Set(metas.map(value))
                if values.count > 1 {
                    throw ValidationError("the shards differ in \(field): \(values.sorted().joined(separator: " vs "))")
                }
            }
            var acc = parts[ordered[0]].acc
            for i in ordered.dropFirst() { try acc.merge(parts[i].acc) }
            var meta = metas.first.map { first -> StatsFile.Meta in
                var m = first
                m.shard = nil
                m.range = [metas.map { $0.range[0] }.min()!, metas.map { $0.range[1] }.max()!]
                m.skipped = ordered.flatMap { parts[$0].meta!.skipped }
                return m
            }
            if meta == nil {
                meta = StatsFile.Meta(protocolName: "unknown", feature: "pool3", seeded: false, weights: "not recorded", input: "merged",
                                      datasetImages: acc.count, shard: nil, range: [0, acc.count], skipped: [])
            }
            let stats = try StatsFile.write(acc, meta: meta!, plain: false, to: URL(fileURLWithPath: output))!
            let rows: [(String, String)] = [
                ("output", output), ("shards", ordered.map { inputs[$0] }.joined(separator: ", ")),
                ("images", "\(acc.count)"), ("protocol", meta!.protocolName),
                ("weights", meta!.seeded ? "SEEDED (test weights; numbers are not real)" : meta!.weights),
                ("mu[0..3]", stats.mu.prefix(3).map { String(format: "%.6g", $0) }.joined(separator: " ")),
            ]
            let obj: [String: Any] = [
                "output": output, "shards": ordered.map { inputs[$0] }, "images": acc.count, "protocol": meta!.protocolName,
                "weights": meta!.seeded ? "seeded" : "real", "seeded": meta!.seeded, "run": meta!.run as Any,
            ]
            try emitResult(rows: rows, json: obj, asJSON: json)
        }
    }

    struct MergeFeatures: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "features",
            abstract: "Concatenate `features --shard i/N` .npy files (rows in shard order) into the whole input's features.",
            discussion: """
                Reads each FILE.npy and its FILE.npy.json record, checks that the shards form one run \
                (same layer, protocol, weights, input items; 0/N … N-1/N each once), and writes the rows \
                in shard order (= input order) streaming, one shard in memory at a time. The result is \
                byte-identical to an unsharded `features` run (each row depends only on its image).
                """)

        @Argument(help: "Shard feature files (.npy, each with its .npy.json record).") var inputs: [String]
        @Option(name: .shortAndLong, help: "Output .npy file (its record goes to OUTPUT.json).") var output: String
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            var records: [[String: Any]] = []
            for path in inputs {
                let side = path + ".json"
                guard let data = FileManager.default.contents(atPath: side),
                      let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                    throw ValidationError("\(path): no readable record \(side) (written by `digit-bench features` next to the .npy)")
                }
                records.append(obj)
            }
            let ordered = try ShardSet.order(zip(inputs, records).map { path, r in
                ShardSet.Part(path: path, shard: (r["shard"] as? String).flatMap { try? Shard(parsing: $0) },
                              run: r["run"] as? String, settings: r["settings"] as? [String: String])
            })
            let header = try NPYConcat.write(ordered.map { inputs[$0] }, to: URL(fileURLWithPath: output))
            var merged = records[ordered[0]]
            merged["shard"] = nil
            merged["output"] = output
            merged["images"] = header.rows
            merged["shape"] = header.shape
            let ranges = ordered.compactMap { records[$0]["range"] as? [Int] }
            if ranges.count == ordered.count, let lo = ranges.first?.first, let hi = ranges.last?.last { merged["range"] = [lo, hi] }
            merged["skipped"] = ordered.flatMap { records[$0]["skipped"] as? [Any] ?? [] }
            merged["merged_from"] = ordered.map { inputs[$0] }
            let sidecar = try JSONSerialization.data(withJSONObject: merged, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(sidecar, to: URL(fileURLWithPath: output + ".json"))
            let rows: [(String, String)] = [
                ("output", "\(output) (\(header.shape.map(String.init).joined(separator: "x")) \(header.dtype))"),
                ("shards", ordered.map { inputs[$0] }.joined(separator: ", ")), ("images", "\(header.rows)"),
                ("layer", merged["layer"] as? String ?? "not recorded"), ("weights", merged["weights_description"] as? String ?? "not recorded"),
            ]
            try emitResult(rows: rows, json: merged, asJSON: json)
        }
    }
}

/// Concatenates .npy files along axis 0 into one .npy, streaming (one input in memory at a time),
/// written to a temporary file and renamed into place.
enum NPYConcat {
    struct Header {
        var dtype: DType
        var shape: [Int]
        var rows: Int { shape.first ?? 0 }
    }

    @discardableResult
    static func write(_ paths: [String], to url: URL) throws -> Header {
        // Shapes first (headers only, through the memory map), so a mismatch fails before writing.
        var dtype: DType?, rowShape: [Int]?, rows = 0
        for p in paths {
            let buf = try ByteBuffer.map(URL(fileURLWithPath: p))
            let a = try NPY.view(buf, start: 0, count: buf.count)
            guard a.shape.count >= 1 else { throw ValidationError("\(p): a 0-d array cannot be concatenated") }
            let rest = Array(a.shape.dropFirst())
            if let dtype, dtype != a.dtype { throw ValidationError("\(p): dtype \(a.dtype), but \(paths[0]) has \(dtype)") }
            if let rowShape, rowShape != rest { throw ValidationError("\(p): rows of shape \(rest), but \(paths[0]) has \(rowShape)") }
            (dtype, rowShape) = (a.dtype, rest)
            rows += a.shape[0]
        }
        let header = Header(dtype: dtype!, shape: [rows] + rowShape!)
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        FileManager.default.createFile(atPath: tmp.path, contents: nil)
        do {
            let fh = try FileHandle(forWritingTo: tmp)
            defer { try? fh.close() }
            try fh.write(contentsOf: NPY.header(dtype: header.dtype, shape: header.shape))
            for p in paths { try fh.write(contentsOf: Data(try NPY.read(contentsOf: URL(fileURLWithPath: p)).data)) }
            try fh.synchronize()
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw error
        }
        guard rename(tmp.path, url.path) == 0 else {
            try? FileManager.default.removeItem(at: tmp)
            throw ValidationError("cannot rename \(tmp.path) to \(url.path): \(String(cString: strerror(errno)))")
        }
        return header
    }
}
