import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct Slurm: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a ready Slurm submission: an N-task job array running one digit-bench command, then its merge.",
            discussion: """
                digit-bench slurm --array 8 --partition cpu --time 2:00:00 --cpus 16 -- stats DATA -o out.npz > submit.sh
                bash submit.sh

                The printed script submits the array (each task finds its shard in SLURM_ARRAY_TASK_ID/MIN/MAX \
                and writes out.shard-i-of-N.npz) and a merge job with --dependency=afterok on the array \
                (`digit-bench merge stats … -o out.npz`). Commands: stats, features, reconstruct (with \
                --record), generate (-o DIR or FILE.npz), prepare (no merge step needed), or --suite FILE \
                (`suite run FILE`; give its merge step with --merge). See docs/scale-out.md.
                """)

        @Option(help: "Number of array tasks (= shards).") var array: Int
        @Option(help: "Slurm partition.") var partition: String?
        @Option(help: "Time limit per task (Slurm syntax, e.g. 4:00:00).") var time: String?
        @Option(help: "CPUs per task (also DIGIT_BENCH_THREADS).") var cpus: Int?
        @Option(help: "Memory per task (Slurm syntax, e.g. 16G).") var mem: String?
        @Option(help: "Job name (default: digit-bench-<command>).") var jobName: String?
        @Option(help: "Directory for the tasks' stdout/stderr (default: slurm-logs).") var logDir: String = "slurm-logs"
        @Option(help: "At most this many tasks at once (--array=0-N%K).") var maxParallel: Int?
        @Option(help: "digit-bench executable the jobs run (default: this one).") var binary: String?
        @Option(help: "Extra sbatch option lines, e.g. --sbatch=--account=abc (repeatable).") var sbatch: [String] = []
        @Option(help: "Suite file: the tasks run `digit-bench suite run FILE`.") var suite: String?
        @Option(help: "Merge step (arguments of digit-bench, e.g. \"merge stats a.npz b.npz -o all.npz\") instead of the derived one; 'none' for no merge job.")
        var merge: String?
        @Argument(parsing: .postTerminator, help: "The digit-bench command each task runs, after --.") var command: [String] = []

        func validate() throws {
            guard array >= 1 else { throw ValidationError("--array must be at least 1") }
            if suite != nil && !command.isEmpty { throw ValidationError("give either --suite FILE or a command after --, not both") }
            if suite == nil && command.isEmpty { throw ValidationError("give the command after --, e.g. `digit-bench slurm --array 4 -- stats DATA -o out.npz`, or --suite FILE") }
            if command.contains("--shard") || command.contains(where: { $0.hasPrefix("--shard=") }) {
                throw ValidationError("leave --shard out of the command: each task takes its shard from SLURM_ARRAY_TASK_ID")
            }
        }

        func run() throws { print(try script(), terminator: "") }

        /// The digit-bench arguments of the merge job, or nil when the command needs none.
        static func mergeStep(_ command: [String], shards n: Int) throws -> [String]? {
            guard let verb = command.first else { return nil }
            func value(_ names: [String]) -> String? {
                for (i, a) in command.enumerated() {
                    if names.contains(a), i + 1 < command.count { return command[i + 1] }
                    for name in names where name.hasPrefix("--") && a.hasPrefix(name + "=") { return String(a.dropFirst(name.count + 1)) }
                }
                return nil
            }
            func parts(_ path: String) -> [String] { (0..<n).map { ShardSet.shardPath(path, Shard(index: $0, count: n)) } }
            switch verb {
            case "stats", "features":
                guard let out = value(["-o", "--output"]) else { throw ValidationError("\(verb): give -o OUTPUT") }
                return ["merge", verb] + parts(out) + ["-o", out]
            case "generate":
                guard let out = value(["-o", "--output"]) else { throw ValidationError("generate: give -o OUTPUT") }
                return out.hasSuffix(".npz") ? ["merge", "samples"] + parts(out) + ["-o", out] : ["merge", "samples", out]
            case "reconstruct":
                guard let rec = value(["--record"]) else {
                    throw ValidationError("reconstruct: give --record FILE.npz (each task writes FILE.shard-i-of-N.npz; the merge job combines them)")
                }
                return ["merge", "reconstruct"] + parts(rec) + ["-o", rec, "--json"]
            case "prepare":
                return nil
            case "suite":
                throw ValidationError("--suite: give the merge step with --merge \"…\" (or --merge none)")
            default:
                throw ValidationError("\(verb) is not a shardable command (stats, features, reconstruct, generate, prepare, suite)")
            }
        }

        func script() throws -> String {
            let cmd = suite.map { ["suite", "run", $0] } ?? command
            let mergeArgs: [String]?
            if let merge {
                mergeArgs = merge == "none" ? nil : Self.splitWords(merge)
            } else {
                mergeArgs = try Self.mergeStep(cmd, shards: array)
            }
            let exe = binary ?? Self.defaultBinary()
            let name = jobName ?? "digit-bench-\(cmd[0])"
            let cwd = FileManager.default.currentDirectoryPath
            var header = ["--job-name=\(name)", "--chdir=\(cwd)"]
            if let partition { header.append("--partition=\(partition)") }
            if let time { header.append("--time=\(time)") }
            if let cpus { header.append("--cpus-per-task=\(cpus)") }
            if let mem { header.append("--mem=\(mem)") }
            header += sbatch
            let threads = cpus.map { "export DIGIT_BENCH_THREADS=\($0)\n" } ?? ""
            let q = Self.shellQuote
            var s = """
                #!/bin/bash
                # Generated by `digit-bench slurm`: a \(array)-task job array running
                #   digit-bench \(cmd.joined(separator: " "))
                # (each task takes its shard i/\(array) from SLURM_ARRAY_TASK_ID/MIN/MAX)\(mergeArgs == nil ? "" : ",\n# then one merge job after all tasks succeed (--dependency=afterok)").
                # Submit with: bash <this file>
                set -euo pipefail
                mkdir -p \(q(logDir))

                ARRAY_JOB=$(sbatch --parsable <<'DIGIT_BENCH_ARRAY'
                #!/bin/bash

                """
            for h in header + ["--array=0-\(array - 1)\(maxParallel.map { "%\($0)" } ?? "")", "--output=\(logDir)/%x-%A_%a.out"] {
                s += "#SBATCH \(h)\n"
            }
            s += "set -euo pipefail\n" + threads
            s += "exec \(q(exe)) \(cmd.map(q).joined(separator: " "))\nDIGIT_BENCH_ARRAY\n)\nARRAY_JOB=${ARRAY_JOB%%;*}\n"
            if let mergeArgs {
                s += "\nMERGE_JOB=$(sbatch --parsable --dependency=afterok:$ARRAY_JOB <<'DIGIT_BENCH_MERGE'\n#!/bin/bash\n"
                for h in header.filter({ !$0.hasPrefix("--job-name=") }) + ["--job-name=\(name)-merge", "--output=\(logDir)/%x-%j.out"] {
                    s += "#SBATCH \(h)\n"
                }
                s += "set -euo pipefail\n" + threads
                s += "exec \(q(exe)) \(mergeArgs.map(q).joined(separator: " "))\nDIGIT_BENCH_MERGE\n)\nMERGE_JOB=${MERGE_JOB%%;*}\n"
                s += "echo \"submitted array job $ARRAY_JOB (\(array) tasks) and merge job $MERGE_JOB (runs after all tasks succeed)\"\n"
            } else {
                s += "echo \"submitted array job $ARRAY_JOB (\(array) tasks; no merge step)\"\n"
            }
            return s
        }

        static func defaultBinary() -> String {
            let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            return exe.lastPathComponent == "digit-bench" ? exe.path : "digit-bench"
        }

        /// Single-quoted for bash unless the word is plainly safe.
        static func shellQuote(_ w: String) -> String {
            let safe = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
            if !w.isEmpty, w.unicodeScalars.allSatisfy(safe.contains) { return w }
            return "'" + w.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }

        /// Splits a --merge string on spaces (quotes group words).
        static func splitWords(_ text: String) -> [String] {
            var words: [String] = [], cur = "", quote: Character?
            var inWord = false
            for ch in text {
                if let q = quote {
                    if ch == q { quote = nil } else { cur.append(ch) }
                } else if ch == "'" || ch == "\"" {
                    quote = ch
                    inWord = true
                } else if ch == " " || ch == "\t" {
                    if inWord { words.append(cur); cur = ""; inWord = false }
                } else {
                    cur.append(ch)
                    inWord = true
                }
            }
            if inWord { words.append(cur) }
            return words
        }
    }
}
