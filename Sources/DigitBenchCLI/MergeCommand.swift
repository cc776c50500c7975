import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Combine shard outputs.",
            subcommands: [MergeStats.self])
    }

    struct MergeStats: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "stats",
            abstract: "Merge `digit-bench stats --shard i/N` files into the statistics of the whole input, exactly.",
            discussion: """
                Every file must carry digit-bench's merge data (not --plain) and the same protocol, \
                feature, weights kind, input and image count; the shards must be exactly 0/N … N-1/N, \
                each once (a missing or duplicated shard is an error naming it). Files without shard \
                metadata are merged in the order given. The sums are restored and added as one run over \
                all images would add them, so mu/sigma equal an unsharded run's bit for bit when all \
                shards but the last hold a multiple of 1024 images or every shard is smaller than 1024 \
                images (otherwise they agree to ~1e-16 relative).
                """)

        @Argument(help: "Shard statistics files.") var inputs: [String]
        @Option(name: .shortAndLong, help: "Output .npz file.") var output: String
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            guard !inputs.isEmpty else { throw ValidationError("no statistics files given") }
            var parts: [(path: String, meta: StatsFile.Meta?, acc: GaussianAccumulator)] = []
            for path in inputs {
                let c = try StatsFile.read(URL(fileURLWithPath: path))
                guard let acc = c.accumulator else {
                    throw ValidationError("\(path): no merge data (acc_* arrays); it was written with --plain or by another tool, so it cannot be merged exactly")
                }
                parts.append((path, c.meta, acc))
            }
            let ordered = try Self.order(parts.map { (path: $0.path, meta: $0.meta) })
            let metas = parts.compactMap { $0.meta }
            if metas.count != 0 && metas.count != parts.count {
                throw ValidationError("some files have digit-bench metadata and some do not; merge files from one `stats --shard` run")
            }
            for field in ["protocol", "feature", "seeded", "input", "dataset_images"] {
                let values = Set(metas.map { m -> String in
                    switch field {
                    case "protocol": return m.protocolName
                    case "feature": return m.feature
                    case "seeded": return m.seeded ? "seeded weights" : "real weights"
                    case "input": return m.input
                    default: return "\(m.datasetImages) images"
                    }
                })
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
                m.skipped = metas.flatMap(\.skipped)
                return m
            }
            if meta == nil {
                meta = StatsFile.Meta(protocolName: "unknown", feature: "pool3", seeded: false, weights: "not recorded", input: "merged",
                                      datasetImages: acc.count, shard: nil, range: [0, acc.count], skipped: [])
            }
            let stats = try StatsFile.write(acc, meta: meta!, plain: false, to: URL(fileURLWithPath: output))
            let rows: [(String, String)] = [
                ("output", output), ("shards", ordered.map { inputs[$0] }.joined(separator: ", ")),
                ("images", "\(acc.count)"), ("protocol", meta!.protocolName),
                ("weights", meta!.seeded ? "SEEDED (test weights; numbers are not real)" : meta!.weights),
                ("mu[0..3]", stats.mu.prefix(3).map { String(format: "%.6g", $0) }.joined(separator: " ")),
            ]
            let obj: [String: Any] = [
                "output": output, "shards": ordered.map { inputs[$0] }, "images": acc.count, "protocol": meta!.protocolName,
                "weights": meta!.seeded ? "seeded" : "real", "seeded": meta!.seeded,
            ]
            try emitResult(rows: rows, json: obj, asJSON: json)
        }

        /// The merge order (indices into `parts`): by shard index when shard metadata is present,
        /// checking that shards 0..<N each appear exactly once; else the given order.
        static func order(_ parts: [(path: String, meta: StatsFile.Meta?)]) throws -> [Int] {
            let shards = parts.map { $0.meta?.shard.flatMap { try? Shard(parsing: $0) } }
            if shards.allSatisfy({ $0 == nil }) { return Array(parts.indices) }
            guard let first = shards.compactMap({ $0 }).first, shards.allSatisfy({ $0 != nil }) else {
                let unsharded = parts.indices.filter { shards[$0] == nil }.map { parts[$0].path }
                throw ValidationError("\(unsharded.joined(separator: ", ")) \(unsharded.count == 1 ? "is not a shard" : "are not shards") (no --shard recorded) but other files are")
            }
            let n = first.count
            var byIndex: [Int: Int] = [:]
            for (i, s) in shards.enumerated() {
                let s = s!
                guard s.count == n else { throw ValidationError("\(parts[i].path) is shard \(s) but \(parts[0].path) is one of \(n)") }
                if let j = byIndex[s.index] {
                    throw ValidationError("shard \(s) given twice: \(parts[j].path) and \(parts[i].path)")
                }
                byIndex[s.index] = i
            }
            let missing = (0..<n).filter { byIndex[$0] == nil }
            guard missing.isEmpty else {
                throw ValidationError("missing shard\(missing.count == 1 ? "" : "s") \(missing.map { "\($0)/\(n)" }.joined(separator: ", ")) (have \(byIndex.keys.sorted().map { "\($0)/\(n)" }.joined(separator: ", ")))")
            }
            return (0..<n).map { byIndex[$0]! }
        }
    }
}
