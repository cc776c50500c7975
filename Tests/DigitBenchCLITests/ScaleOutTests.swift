@testable import DigitBenchCLI
import DigitBench
import Foundation
import Testing
import _DigitTestSupport

/// Shards from scheduler environments (injected dictionaries, never the process environment),
/// `merge features|samples|reconstruct`, run-identity checks and the `slurm` script.
@Suite(.serialized) struct ScaleOutTests {
    static func resolve(_ env: [String: String], explicit: String? = nil, shards: Int? = nil, ignore: Bool = false) throws -> ShardEnvironment.Resolved {
        try ShardEnvironment.resolve(explicit: explicit, shards: shards, ignoreEnvironment: ignore, environment: env)
    }

    static func message(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch { return DigitBenchCommand.message(for: error) }
    }

    // MARK: Environment

    @Test func slurmArrays() throws {
        // --array=0-3: TASK_COUNT (+ MIN/MAX).
        #expect(try Self.resolve(["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"]).shard == Shard(index: 2, count: 4))
        let r = try Self.resolve(["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3",
                                  "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_JOB_ID": "77"])
        #expect(r.shard == Shard(index: 0, count: 4))
        let source = r.source ?? ""
        #expect(source.contains("Slurm job array") && source.contains("SLURM_ARRAY_TASK_ID=0") && source.contains("job 77"), "\(source)")
        // --array=3-6: index = ID - MIN, count = MAX - MIN + 1.
        #expect(try Self.resolve(["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "3", "SLURM_ARRAY_TASK_MAX": "6"]).shard == Shard(index: 2, count: 4))
        // --array=1-13:4 -> tasks 1, 5, 9, 13.
        #expect(try Self.resolve(["SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "13",
                                  "SLURM_ARRAY_TASK_STEP": "4", "SLURM_ARRAY_TASK_COUNT": "4"]).shard == Shard(index: 2, count: 4))
        // --array=1,2,8: not one range.
        let list = Self.message { _ = try Self.resolve(["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "8", "SLURM_ARRAY_TASK_COUNT": "3"]) }
        #expect(list.contains("not one contiguous range") && list.contains("--shard"), "\(list)")
        let noCount = Self.message { _ = try Self.resolve(["SLURM_ARRAY_TASK_ID": "3"]) }
        #expect(noCount.contains("SLURM_ARRAY_TASK_COUNT"), "\(noCount)")
        let bad = Self.message { _ = try Self.resolve(["SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"]) }
        #expect(bad.contains("not an integer"), "\(bad)")
        let mismatch = Self.message { _ = try Self.resolve(["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "4"], shards: 3) }
        #expect(mismatch.contains("--shards 3") && mismatch.contains("4 tasks"), "\(mismatch)")
        // A plain (non-array) Slurm job is not sharded.
        #expect(try Self.resolve(["SLURM_JOB_ID": "12"]).shard == .all)
    }

    @Test func kubernetesAndPrecedence() throws {
        let k = try Self.resolve(["JOB_COMPLETION_INDEX": "3"], shards: 4)
        #expect(k.shard == Shard(index: 3, count: 4))
        #expect((k.source ?? "").contains("Kubernetes Indexed Job"))
        let noShards = Self.message { _ = try Self.resolve(["JOB_COMPLETION_INDEX": "3"]) }
        #expect(noShards.contains("--shards N"), "\(noShards)")
        let high = Self.message { _ = try Self.resolve(["JOB_COMPLETION_INDEX": "4"], shards: 4) }
        #expect(high.contains("not below --shards 4"), "\(high)")
        let nothing = Self.message { _ = try Self.resolve([:], shards: 4) }
        #expect(nothing.contains("neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX"), "\(nothing)")
        let env = ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2", "JOB_COMPLETION_INDEX": "0"]
        // --shard wins (no source note), --no-env-shard ignores the environment, Slurm before Kubernetes.
        #expect(try Self.resolve(env, explicit: "0/3") == .init(shard: Shard(index: 0, count: 3), source: nil))
        #expect(try Self.resolve(env, ignore: true).shard == .all)
        #expect(try Self.resolve(env).shard == Shard(index: 1, count: 2))
        #expect(try Self.resolve([:]).shard == .all)

        // Through the option group: the source is logged; outputs of env shards get a shard suffix.
        let opts = try ShardOptions.parse([])
        var logged: [String] = []
        let s = try opts.resolve(environment: ["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"]) { logged.append($0) }
        #expect(s == Shard(index: 3, count: 4))
        #expect((logged.first ?? "").contains("shard 3/4 from Slurm job array"), "\(logged)")
        #expect(opts.output("out/x.npz", for: s) { _ in } == "out/x.shard-3-of-4.npz")
        #expect(opts.output("out/x.shard-3-of-4.npz", for: s) { _ in } == "out/x.shard-3-of-4.npz")
        #expect(try ShardOptions.parse(["--shard", "3/4"]).output("x.npz", for: s) { _ in } == "x.npz")
        #expect(throws: (any Error).self) { _ = try ShardOptions.parse(["--shard", "4/4"]) }
    }

    // MARK: Features

    @Test func shardedFeaturesMergeByteIdentical() throws { try ModelTestLock.run { try featuresMerge() } }

    func featuresMerge() throws {
        let dir = try EvalCommandTests.imageFolder(), out = try EvalCommandTests.tempDir("feat")
        defer { try? FileManager.default.removeItem(at: dir); try? FileManager.default.removeItem(at: out) }
        let common = ["--weights", "seeded", "--protocol", "pytorch-fid", "--layer", "pool3", "--quiet"]
        let whole = out.appendingPathComponent("all.npy").path, merged = out.appendingPathComponent("merged.npy").path
        let s0 = out.appendingPathComponent("s0.npy").path, s1 = out.appendingPathComponent("s1.npy").path
        try EvalCommandTests.run(["features", dir.path, "-o", whole, "--no-env-shard"] + common)
        try EvalCommandTests.run(["features", dir.path, "-o", s0, "--shard", "0/2"] + common)
        try EvalCommandTests.run(["features", dir.path, "-o", s1, "--shard", "1/2"] + common)
        try EvalCommandTests.run(["merge", "features", s1, s0, "-o", merged])
        let a = try NPY.read(contentsOf: URL(fileURLWithPath: whole)), m = try NPY.read(contentsOf: URL(fileURLWithPath: merged))
        #expect(a.shape == [3, 2048] && m.shape == a.shape)
        let same = a.data == m.data  // a Bool: a failing #expect on the arrays would diff 24 KB element by element
        #expect(same, "merged features differ from the unsharded run")  // each row depends only on its image: byte-identical
        let rec = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: merged + ".json"))) as? [String: Any])
        let images = rec["images"] as? Int, range = rec["range"] as? [Int]
        #expect(images == 3 && range == [0, 3])
        #expect(rec["shard"] == nil)

        #expect(Self.message { try EvalCommandTests.run(["merge", "features", s0, "-o", merged]) }.contains("missing shard 1/2"))
        // A shard of another run (different protocol): an error naming the file and the setting.
        let foreign = out.appendingPathComponent("s1-adm.npy").path
        try FileManager.default.copyItem(atPath: s1, toPath: foreign)
        var side = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: s1 + ".json"))) as? [String: Any])
        var settings = try #require(side["settings"] as? [String: String])
        settings["protocol"] = "adm"
        side["settings"] = settings
        side["run"] = RunIdentity(settings: settings).id
        try JSONSerialization.data(withJSONObject: side).write(to: URL(fileURLWithPath: foreign + ".json"))
        let msg = Self.message { try EvalCommandTests.run(["merge", "features", s0, foreign, "-o", merged]) }
        #expect(msg.contains("s1-adm.npy is from another run") && msg.contains("protocol: pytorch-fid vs adm"), "\(msg)")
    }

    // MARK: Samples

    static func sampleShards(_ dir: URL, seed: String = "0") throws -> [String] {
        let identity = RunIdentity(settings: ["command": "generate", "model": "test", "num": "5", "seed": seed])
        var paths: [String] = []
        for i in 0..<2 {
            let shard = Shard(index: i, count: 2), range = shard.range(of: 5)
            let pixels = range.flatMap { s in (0..<(2 * 3 * 3)).map { UInt8((s * 31 + $0) % 256) } }
            let url = dir.appendingPathComponent("samples.shard-\(i)-of-2.npz")
            try SampleBatch.write(pixels: pixels, height: 2, width: 3, labels: range.map { Int64($0 * 10) },
                                  stamp: ShardStamp(shard: shard, range: range, total: 5, identity: identity), to: url)
            paths.append(url.path)
        }
        return paths
    }

    @Test func sampleBatchesMergeInSampleOrder() throws {
        let dir = try EvalCommandTests.tempDir("samples")
        defer { try? FileManager.default.removeItem(at: dir) }
        let shards = try Self.sampleShards(dir)
        let out = dir.appendingPathComponent("all.npz")
        try EvalCommandTests.run(["merge", "samples", shards[1], shards[0], "-o", out.path])
        let a = try EvalCommandTests.arrays(out)
        #expect(a["arr_0"]?.shape == [5, 2, 3, 3])
        let expected: [UInt8] = (0..<5).flatMap { s in (0..<18).map { UInt8((s * 31 + $0) % 256) } }
        #expect(a["arr_0"]?.data == expected)
        #expect(a["arr_1"]?.int64s() == [0, 10, 20, 30, 40])
        // The merged batch reads as an image dataset in sample order.
        let ds = try openDataset(out.path)
        let third = try ds.load(3)
        #expect(ds.count == 5)
        #expect(third.pixels == Array(expected[(3 * 18)..<(4 * 18)]))

        let other = try EvalCommandTests.tempDir("samples-other")
        defer { try? FileManager.default.removeItem(at: other) }
        let foreign = try Self.sampleShards(other, seed: "1")
        let msg = Self.message { try EvalCommandTests.run(["merge", "samples", shards[0], foreign[1], "-o", out.path]) }
        #expect(msg.contains("from another run") && msg.contains("seed: 0 vs 1"), "\(msg)")
        let dup = Self.message { try EvalCommandTests.run(["merge", "samples", shards[0], shards[0], shards[1], "-o", out.path]) }
        #expect(dup.contains("shard 0/2 given twice"), "\(dup)")
    }

    @Test func sampleDirectoryMergeWritesLabels() throws {
        let dir = try EvalCommandTests.tempDir("sampledir")
        defer { try? FileManager.default.removeItem(at: dir) }
        let identity = RunIdentity(settings: ["command": "generate", "num": "3"])
        for i in 0..<2 {
            let shard = Shard(index: i, count: 2), range = shard.range(of: 3)
            for s in range { try Data([1]).write(to: DigitBenchCommand.Generate.samplePath(dir, s)) }
            let csv = "sample,class\n" + range.map { "\($0),\($0 + 100)\n" }.joined()
            try csv.write(to: dir.appendingPathComponent(ShardSet.shardPath("labels.csv", shard)), atomically: true, encoding: .utf8)
            if i == 0 { try SampleBatch.writeStamp(ShardStamp(shard: shard, range: range, total: 3, identity: identity), dir: dir) }
        }
        #expect(Self.message { try EvalCommandTests.run(["merge", "samples", dir.path]) }.contains("missing shard 1/2"))
        try SampleBatch.writeStamp(ShardStamp(shard: Shard(index: 1, count: 2), range: 1..<3, total: 3, identity: identity), dir: dir)
        try EvalCommandTests.run(["merge", "samples", dir.path])
        #expect(try String(contentsOf: dir.appendingPathComponent("labels.csv"), encoding: .utf8) == "sample,class\n0,100\n1,101\n2,102\n")
    }

    // MARK: Reconstruct

    @Test func reconstructRecordsMergeToTheUnshardedResult() throws {
        let dir = try ReconstructCommandTests.imageFolder(), out = try EvalCommandTests.tempDir("recon")
        defer { try? FileManager.default.removeItem(at: dir); try? FileManager.default.removeItem(at: out) }
        let common = ["--tokenizer", "lfq-128", "--weights", "seeded", "--data", dir.path, "--quiet"]
        let whole = try ReconstructCommandTests.evaluate(common + ["--no-env-shard"])
        var records: [String] = []
        for i in [1, 0] {
            let rec = out.appendingPathComponent("r\(i).npz").path
            let part = try ReconstructCommandTests.evaluate(common + ["--shard", "\(i)/2", "--record", rec])
            #expect((part.json["metrics"] as? [String: Any])?["rfid"] == nil)  // not computed per shard
            records.append(rec)
        }
        let cmd = try #require(try DigitBenchCommand.parseAsRoot(["merge", "reconstruct"] + records) as? DigitBenchCommand.MergeReconstruct)
        let merged = try cmd.merge()
        // Same per-image values in the same order, same histogram, exact Inception sums: equal, bit for bit.
        for key in ["psnr", "ssim", "bits_per_pixel", "codebook_usage", "codebook_perplexity", "codebook_entropy_bits", "rfid"] {
            let a = ReconstructCommandTests.value(whole, key) as? Double, b = ReconstructCommandTests.value(merged, key) as? Double
            #expect(a != nil && a == b, "\(key): \(String(describing: a)) vs \(String(describing: b))")
        }
        #expect(merged.json["images"] as? Int == 2)
        let missing = Self.message { _ = try (DigitBenchCommand.parseAsRoot(["merge", "reconstruct", records[0]]) as! DigitBenchCommand.MergeReconstruct).merge() }
        #expect(missing.contains("missing shard 0/2"), "\(missing)")
    }

    // MARK: Slurm script

    @Test func slurmScriptHasArrayAndDependentMerge() throws {
        let cmd = try #require(try DigitBenchCommand.parseAsRoot(
            ["slurm", "--array", "4", "--partition", "debug", "--cpus", "2", "--time", "0:10:00", "--binary", "/opt/db/digit-bench",
             "--", "stats", "my data", "-o", "out/s.npz", "--weights", "seeded"]) as? DigitBenchCommand.Slurm)
        let s = try cmd.script()
        for line in ["#SBATCH --array=0-3", "#SBATCH --partition=debug", "#SBATCH --cpus-per-task=2", "#SBATCH --time=0:10:00",
                     "export DIGIT_BENCH_THREADS=2", "exec /opt/db/digit-bench stats 'my data' -o out/s.npz --weights seeded",
                     "sbatch --parsable --dependency=afterok:$ARRAY_JOB",
                     "exec /opt/db/digit-bench merge stats out/s.shard-0-of-4.npz out/s.shard-1-of-4.npz out/s.shard-2-of-4.npz out/s.shard-3-of-4.npz -o out/s.npz"] {
            #expect(s.contains(line), "missing `\(line)` in\n\(s)")
        }
        #expect(try DigitBenchCommand.Slurm.mergeStep(["generate", "--model", "m", "-o", "gen"], shards: 2) == ["merge", "samples", "gen"])
        #expect(try DigitBenchCommand.Slurm.mergeStep(["reconstruct", "--record=r.npz"], shards: 2)
            == ["merge", "reconstruct", "r.shard-0-of-2.npz", "r.shard-1-of-2.npz", "-o", "r.npz", "--json"])
        #expect(try DigitBenchCommand.Slurm.mergeStep(["prepare", "in", "-o", "out", "--recipe", "adm-256"], shards: 2) == nil)
        #expect(Self.message { _ = try DigitBenchCommand.Slurm.mergeStep(["reconstruct", "--tokenizer", "x"], shards: 2) }.contains("--record"))
        #expect(Self.message { _ = try DigitBenchCommand.parseAsRoot(["slurm", "--array", "2", "--", "stats", "d", "-o", "o.npz", "--shard", "0/2"]) }
            .contains("leave --shard out"))
        let suite = try #require(try DigitBenchCommand.parseAsRoot(["slurm", "--array", "2", "--suite", "s.yaml", "--merge", "none"]) as? DigitBenchCommand.Slurm)
        #expect(try suite.script().contains("suite run s.yaml"))
        #expect(DigitBenchCommand.Slurm.splitWords("merge stats 'a b.npz' -o x") == ["merge", "stats", "a b.npz", "-o", "x"])
    }
}
