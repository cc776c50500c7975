import ArgumentParser
import DigitBench
import Foundation

/// `generate` outputs and their shard stamps: ADM-style `.npz` batches (`arr_0` uint8 N x H x W x 3,
/// `arr_1` int64 labels, `digit_bench_meta` = ``ShardStamp`` JSON, which the ADM evaluator ignores)
/// and PNG directories (`generate-record[.shard-i-of-N].json` next to the samples).
enum SampleBatch {
    /// A stamped batch from images already in memory.
    static func write(pixels: [UInt8], height: Int, width: Int, labels: [Int64], stamp: ShardStamp, to url: URL) throws {
        let w = try ADMBatchWriter(url: url, count: labels.count, height: height, width: width, labels: true)
        try pixels.withUnsafeBytes { try w.append(rawImages: $0, labels: labels) }
        try w.finish(extra: [try meta(stamp)])
    }

    /// The stamp as the `digit_bench_meta` record (uint8 JSON bytes).
    static func meta(_ stamp: ShardStamp) throws -> (name: String, array: NPYArray) {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let meta = [UInt8](try enc.encode(stamp))
        return (StatsFile.metaKey, NPYArray(dtype: .uint8, shape: [meta.count], data: meta))
    }

    static func recordName(_ shard: Shard) -> String {
        shard == .all ? "generate-record.json" : ShardSet.shardPath("generate-record.json", shard)
    }

    static func writeStamp(_ stamp: ShardStamp, dir: URL) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(stamp), to: dir.appendingPathComponent(recordName(stamp.parsedShard ?? .all)))
    }

    struct Batch {
        /// `arr_0`, memory-mapped when stored.
        var images: RawView
        var labels: [Int64]?
        var stamp: ShardStamp?
    }

    static func read(_ url: URL) throws -> Batch {
        let recs = try StatsFile.records(url)
        guard let arr0 = recs["arr_0"] else { throw ValidationError("\(url.path): no arr_0 (not a sample batch)") }
        let images = arr0
        guard images.dtype == .uint8, images.shape.count == 4, images.shape[3] == 3 else {
            throw ValidationError("\(url.path): arr_0 is \(images.dtype) \(images.shape), expected uint8 (N, H, W, 3)")
        }
        var stamp: ShardStamp?
        if let m = recs[StatsFile.metaKey] {
            do { stamp = try JSONDecoder().decode(ShardStamp.self, from: Data(m.array().data)) } catch {
                throw ValidationError("\(url.path): \(StatsFile.metaKey) is not a shard stamp (\(error))")
            }
        }
        return Batch(images: images, labels: recs["arr_1"].map { $0.array().int64s() }, stamp: stamp)
    }
}

extension DigitBenchCommand {
    struct MergeSamples: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "samples",
            abstract: "Combine `generate --shard i/N` outputs: .npz batches into one batch in sample-index order, or a shared PNG directory's labels.",
            discussion: """
                .npz inputs: arr_0 (images) and arr_1 (labels) of every shard are concatenated in shard \
                order, which is sample-index order; the result is what one unsharded `generate -o` writes \
                (streamed: one shard's mapped images at a time, ZIP64 past 4 GiB). A directory input (the -o of sharded PNG runs): \
                checks every shard's generate-record.shard-i-of-N.json, that every sample PNG exists, and \
                writes labels.csv from the shards' label files.
                """)

        @Argument(help: "Shard .npz batches, or one sample directory.") var inputs: [String]
        @Option(name: .shortAndLong, help: "Output .npz (for .npz inputs).") var output: String?

        func run() throws {
            var isDir: ObjCBool = false
            if inputs.count == 1, FileManager.default.fileExists(atPath: inputs[0], isDirectory: &isDir), isDir.boolValue {
                try mergeDirectory(URL(fileURLWithPath: inputs[0]))
                return
            }
            guard let output else { throw ValidationError("merging .npz batches needs -o OUTPUT.npz") }
            let batches = try inputs.map { try SampleBatch.read(URL(fileURLWithPath: $0)) }
            let ordered = try ShardSet.order(zip(inputs, batches).map { path, b in
                ShardSet.Part(path: path, shard: b.stamp?.parsedShard, run: b.stamp?.run, settings: b.stamp?.settings)
            })
            var labels: [Int64] = []
            let first = batches[ordered[0]].images.shape
            var expectedStart = batches[ordered[0]].stamp?.range.first ?? 0
            for i in ordered {
                let b = batches[i]
                guard Array(b.images.shape[1...]) == Array(first[1...]) else {
                    throw ValidationError("\(inputs[i]): images of \(b.images.shape[1])x\(b.images.shape[2]), \(inputs[ordered[0]]) has \(first[1])x\(first[2])")
                }
                if let r = b.stamp?.range {
                    guard r[0] == expectedStart, r[1] - r[0] == b.images.shape[0] else {
                        throw ValidationError("\(inputs[i]): holds samples \(r[0])..<\(r[1]) (\(b.images.shape[0]) images), expected to start at \(expectedStart)")
                    }
                    expectedStart = r[1]
                }
                guard let l = b.labels, l.count == b.images.shape[0] else {
                    throw ValidationError("\(inputs[i]): arr_1 (labels) missing or not one per image")
                }
                labels += l
            }
            var stamp = batches[ordered[0]].stamp
            if stamp != nil {
                stamp!.shard = Shard.all.description
                stamp!.range = [0, labels.count]
                guard labels.count == stamp!.total else {
                    throw ValidationError("the shards hold \(labels.count) samples, the run has \(stamp!.total)")
                }
            }
            let writer = try ADMBatchWriter(url: URL(fileURLWithPath: output), count: labels.count, height: first[1], width: first[2], labels: true)
            for i in ordered {
                try batches[i].images.withContiguousBytes { try writer.append(rawImages: $0, labels: batches[i].labels) }
            }
            try writer.finish(extra: try stamp.map { [try SampleBatch.meta($0)] } ?? [])
            print("merged \(ordered.count) shard\(ordered.count == 1 ? "" : "s") (\(ordered.map { inputs[$0] }.joined(separator: ", "))): \(labels.count) samples -> \(output)")
        }

        func mergeDirectory(_ dir: URL) throws {
            let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
                .filter { $0.hasPrefix("generate-record.shard-") && $0.hasSuffix(".json") }.sorted()
            guard !names.isEmpty else {
                throw ValidationError("\(dir.path): no generate-record.shard-i-of-N.json (not the output of a sharded `generate` run)")
            }
            let stamps = try names.map { try JSONDecoder().decode(ShardStamp.self, from: Data(contentsOf: dir.appendingPathComponent($0))) }
            let ordered = try ShardSet.order(zip(names, stamps).map { n, s in
                ShardSet.Part(path: dir.appendingPathComponent(n).path, shard: s.parsedShard, run: s.run, settings: s.settings)
            })
            var csv = "sample,class\n"
            for i in ordered {
                let s = stamps[i]
                let labels = dir.appendingPathComponent(ShardSet.shardPath("labels.csv", s.parsedShard!))
                guard let text = try? String(contentsOf: labels, encoding: .utf8) else {
                    throw ValidationError("shard \(s.shard): \(labels.path) is missing")
                }
                csv += text.split(separator: "\n").dropFirst().map { $0 + "\n" }.joined()
            }
            let total = stamps[0].total
            let missing = (0..<total).filter { !FileManager.default.fileExists(atPath: Generate.samplePath(dir, $0).path) }
            guard missing.isEmpty else {
                throw ValidationError("\(missing.count) sample PNG\(missing.count == 1 ? " is" : "s are") missing, first \(Generate.samplePath(dir, missing[0]).lastPathComponent)")
            }
            try AtomicFile.write(csv, to: dir.appendingPathComponent("labels.csv"))
            var stamp = stamps[ordered[0]]
            stamp.shard = Shard.all.description
            stamp.range = [0, total]
            try SampleBatch.writeStamp(stamp, dir: dir)
            print("merged \(ordered.count) shards: \(total) samples in \(dir.path), labels.csv written")
        }
    }
}
