import ArgumentParser
import DigitBench
import Foundation

/// `--shard i/N`, `--shards N` and `--no-env-shard`: which contiguous part of a run this process
/// does. Every expensive command (`stats`, `features`, `reconstruct`, `generate`, `prepare`,
/// `dino-features`) takes this group; `suite run` can adopt it with `@OptionGroup var sharding: ShardOptions`
/// and ``resolve(environment:log:)``.
///
/// Without `--shard` the shard comes from the scheduler's environment (``ShardEnvironment``):
/// a Slurm job array or a Kubernetes Indexed Job. Where it came from is printed on stderr.
struct ShardOptions: ParsableArguments {
    @Option(help: "Do only part i of N (0-based contiguous parts), e.g. 0/4. Default: from a Slurm job array or a Kubernetes Indexed Job (with --shards), else the whole input.")
    var shard: String?

    @Option(help: "Number of shards when the index comes from JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs); checked against Slurm's count when both are known.")
    var shards: Int?

    @Flag(name: .customLong("no-env-shard"), help: "Ignore SLURM_ARRAY_* and JOB_COMPLETION_INDEX: without --shard, do the whole input.")
    var noEnvShard = false

    func validate() throws {
        if let shard { _ = try ShardEnvironment.parse(shard, what: "--shard") }
        if let shards, shards < 1 { throw ValidationError("--shards must be at least 1, got \(shards)") }
    }

    /// The shard to do: `--shard`, else the scheduler's environment (unless `--no-env-shard`),
    /// else everything. The source is printed on stderr through `log` when it is not `--shard`.
    func resolve(environment: [String: String] = ProcessInfo.processInfo.environment,
                 log: (String) -> Void = { note($0) }) throws -> Shard {
        let r = try ShardEnvironment.resolve(explicit: shard, shards: shards, ignoreEnvironment: noEnvShard, environment: environment)
        if let source = r.source { log("shard \(r.shard) \(source)") }
        return r.shard
    }

    /// Where this shard writes a single-file output: `path` itself for `--shard` or an unsharded
    /// run; for a shard taken from the environment (every array task gets the same command line)
    /// `out.npz` becomes `out.shard-i-of-N.npz`, so tasks never overwrite each other's files.
    func output(_ path: String, for shard: Shard, log: (String) -> Void = { note($0) }) -> String {
        guard shard.count > 1, self.shard == nil, !path.contains(".shard-\(shard.index)-of-\(shard.count)") else { return path }
        let p = ShardSet.shardPath(path, shard)
        log("shard \(shard) writes \(p)")
        return p
    }

    /// Only `--shard` (commands whose result cannot be merged, e.g. `fid`, never read the environment).
    var explicitShard: Shard { shard.flatMap { try? Shard(parsing: $0) } ?? .all }
}

/// Reads the shard from a scheduler's environment. Pure functions of a dictionary, so tests inject
/// environments instead of mutating the process's.
enum ShardEnvironment {
    struct Resolved: Equatable {
        var shard: Shard
        /// "from Slurm job array (…)" / "from Kubernetes Indexed Job (…)"; nil for `--shard` or no sharding.
        var source: String?
    }

    static func parse(_ text: String, what: String) throws -> Shard {
        do { return try Shard(parsing: text) } catch {
            throw ValidationError("\(what) '\(text)' must be i/N with 0 <= i < N (e.g. 0/4)")
        }
    }

    static func resolve(explicit: String?, shards: Int?, ignoreEnvironment: Bool, environment env: [String: String]) throws -> Resolved {
        if let explicit {
            let s = try parse(explicit, what: "--shard")
            if let shards, shards != s.count { throw ValidationError("--shard \(s) and --shards \(shards) disagree") }
            return Resolved(shard: s, source: nil)
        }
        if ignoreEnvironment {
            if let shards, shards != 1 { throw ValidationError("--shards \(shards) with --no-env-shard: give the index with --shard i/\(shards)") }
            return Resolved(shard: .all, source: nil)
        }
        if let slurm = try slurmArray(env) {
            if let shards, shards != slurm.shard.count {
                throw ValidationError("--shards \(shards) but the Slurm array has \(slurm.shard.count) tasks (\(slurm.source))")
            }
            return slurm
        }
        if let text = value(env, "JOB_COMPLETION_INDEX") {
            guard let i = Int(text), i >= 0 else { throw ValidationError("JOB_COMPLETION_INDEX='\(text)' is not a non-negative integer") }
            guard let n = shards else {
                throw ValidationError("JOB_COMPLETION_INDEX=\(i) is set (Kubernetes Indexed Job) but the shard count is not: pass --shards N (the Job's spec.completions), or --shard i/N, or --no-env-shard")
            }
            guard i < n else { throw ValidationError("JOB_COMPLETION_INDEX=\(i) is not below --shards \(n)") }
            return Resolved(shard: Shard(index: i, count: n), source: "from Kubernetes Indexed Job (JOB_COMPLETION_INDEX=\(i), --shards \(n))")
        }
        if let shards, shards != 1 {
            throw ValidationError("--shards \(shards) but neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set: give --shard i/\(shards)")
        }
        return Resolved(shard: .all, source: nil)
    }

    private static func value(_ env: [String: String], _ key: String) -> String? {
        guard let v = env[key]?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
        return v
    }

    /// Slurm job arrays: index = (ID - MIN) / STEP, count = (MAX - MIN) / STEP + 1, checked against
    /// SLURM_ARRAY_TASK_COUNT. Without MIN/MAX: index = ID, count = TASK_COUNT (an array 0-(N-1)).
    /// Arrays that are not one arithmetic range (`--array=1,3,8`) are an error: their task ids do
    /// not map to shards.
    static func slurmArray(_ env: [String: String]) throws -> Resolved? {
        guard let idText = value(env, "SLURM_ARRAY_TASK_ID") else { return nil }
        func int(_ key: String) throws -> Int? {
            guard let t = value(env, key) else { return nil }
            guard let v = Int(t) else { throw ValidationError("\(key)='\(t)' is not an integer") }
            return v
        }
        guard let id = Int(idText) else { throw ValidationError("SLURM_ARRAY_TASK_ID='\(idText)' is not an integer") }
        let minID = try int("SLURM_ARRAY_TASK_MIN"), maxID = try int("SLURM_ARRAY_TASK_MAX")
        let step = try int("SLURM_ARRAY_TASK_STEP") ?? 1, taskCount = try int("SLURM_ARRAY_TASK_COUNT")
        var vars = "SLURM_ARRAY_TASK_ID=\(id)"
        let index: Int, count: Int
        if let minID, let maxID {
            vars += ", MIN=\(minID), MAX=\(maxID)" + (step != 1 ? ", STEP=\(step)" : "") + (taskCount.map { ", COUNT=\($0)" } ?? "")
            guard step >= 1, maxID >= minID, (maxID - minID) % step == 0, (id - minID) % step == 0, id >= minID, id <= maxID else {
                throw ValidationError("Slurm array task \(vars) is not on the range MIN..MAX by STEP; use --array=0-(N-1) or pass --shard i/N")
            }
            index = (id - minID) / step
            count = (maxID - minID) / step + 1
            if let taskCount, taskCount != count {
                throw ValidationError("the Slurm array is not one contiguous range (\(vars): \(taskCount) tasks, but MIN..MAX by STEP holds \(count)); submit --array=0-\(taskCount - 1) or pass --shard i/N")
            }
        } else if let taskCount {
            vars += ", COUNT=\(taskCount)"
            guard id >= 0, id < taskCount else {
                throw ValidationError("Slurm array task \(vars): without SLURM_ARRAY_TASK_MIN/MAX the ids must be 0..COUNT-1; pass --shard i/N")
            }
            index = id
            count = taskCount
        } else {
            throw ValidationError("SLURM_ARRAY_TASK_ID=\(id) is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MIN/MAX is: pass --shard i/N or --no-env-shard")
        }
        let jobID = value(env, "SLURM_ARRAY_JOB_ID").map { ", job \($0)" } ?? ""
        return Resolved(shard: Shard(index: index, count: count), source: "from Slurm job array (\(vars)\(jobID))")
    }
}

// MARK: - What shard outputs record, and how merge checks them

/// The identity of a sharded run: a SHA-256 over the settings that must agree between shards
/// (command, input item list, weights, protocol, options). Shards of one run have the same id;
/// `merge` refuses to combine files whose ids differ and names the settings that differ.
struct RunIdentity: Codable, Equatable {
    /// Settings, e.g. ["command": "stats", "protocol": "adm", "weights": "seeded", "items": "<sha>"].
    var settings: [String: String]

    /// SHA-256 of the sorted `key=value` lines: the same digest as a feature-cache key.
    var id: String { FeatureCache.key(settings) }

    /// SHA-256 over the item ids of a dataset (names/paths in order) and their number: which
    /// images a run covers, without reading them.
    static func items(of dataset: any ImageDataset) -> String {
        var h = SHA256()
        h.update(Array("\(dataset.count)\n".utf8))
        for i in 0..<dataset.count { h.update(Array((dataset.itemID(i) + "\n").utf8)) }
        return h.finalizeHex()
    }
}

/// The shard stamp of one output file: which part of which run it holds.
struct ShardStamp: Codable, Equatable {
    /// i/N; "0/1" for an unsharded output.
    var shard: String
    /// Items [lo, hi) of `total` this file covers.
    var range: [Int]
    var total: Int
    /// ``RunIdentity/id``
    var run: String
    var settings: [String: String]

    init(shard: Shard, range: Range<Int>, total: Int, identity: RunIdentity) {
        self.shard = shard.description
        self.range = [range.lowerBound, range.upperBound]
        self.total = total
        run = identity.id
        settings = identity.settings
    }

    var parsedShard: Shard? { try? Shard(parsing: shard) }
}

enum ShardSet {
    /// One input of a merge: its path, shard and run (nil when the file does not record them).
    struct Part {
        var path: String
        var shard: Shard?
        var run: String?
        var settings: [String: String]? = nil
    }

    /// The merge order (indices into `parts`): by shard index when shards are recorded, checking
    /// that 0..<N each appear exactly once and that every file belongs to the same run; else the
    /// given order. Errors name the missing, duplicated or foreign file.
    static func order(_ parts: [Part]) throws -> [Int] {
        guard !parts.isEmpty else { throw ValidationError("no files to merge") }
        let shards = parts.map(\.shard)
        if shards.allSatisfy({ $0 == nil }) { return Array(parts.indices) }
        guard shards.allSatisfy({ $0 != nil }) else {
            let unsharded = parts.indices.filter { shards[$0] == nil }.map { parts[$0].path }
            throw ValidationError("\(unsharded.joined(separator: ", ")) \(unsharded.count == 1 ? "is not a shard" : "are not shards") (no --shard recorded) but other files are")
        }
        try checkSameRun(parts)
        let n = shards[0]!.count
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

    /// All recorded run ids equal; otherwise an error naming the first foreign file and the settings that differ.
    static func checkSameRun(_ parts: [Part]) throws {
        guard let ref = parts.first(where: { $0.run != nil }) else { return }
        for p in parts {
            guard let run = p.run else {
                throw ValidationError("\(p.path) records no run identity but \(ref.path) does: shards of one run are written by one digit-bench version")
            }
            guard run != ref.run else { continue }
            var diff: [String] = []
            if let a = ref.settings, let b = p.settings {
                for k in Set(a.keys).union(b.keys).sorted() where a[k] != b[k] {
                    diff.append("\(k): \(a[k] ?? "unset") vs \(b[k] ?? "unset")")
                }
            }
            throw ValidationError("\(p.path) is from another run than \(ref.path) (run \(run.prefix(12)) vs \(ref.run!.prefix(12)))\(diff.isEmpty ? "" : "; they differ in " + diff.joined(separator: "; "))")
        }
    }

    /// Output file name for shard `s` of `path`: `out.npz` -> `out.shard-2-of-4.npz`.
    static func shardPath(_ path: String, _ s: Shard) -> String {
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension
        let stem = ext.isEmpty ? path : String(path.dropLast(ext.count + 1))
        return "\(stem).shard-\(s.index)-of-\(s.count)" + (ext.isEmpty ? "" : ".\(ext)")
    }
}
