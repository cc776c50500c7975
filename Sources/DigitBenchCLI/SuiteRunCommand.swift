import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand.SuiteCommand {
    /// `digit-bench suite run`: every row of a suite, in process, into one report.
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a suite's rows and write the report (Markdown, CSV, JSON run record, SVG, PNG grids).",
            discussion: """
                Writes OUT/<stamp>.{md,csv,json} (and .svg for tables with FID and parameter counts, \
                images/<stamp>-<row>.png grids for rows that make images), OUT defaulting to reports/<suite>. \
                Our numbers stand beside the baseline's published ones with the difference and the suite's \
                tolerance. A row whose real weights are missing is reported as "needs weights: FILE (sha256 …, \
                from …, put at …)" and the command exits 1 at the end; --weights seeded runs every row on \
                seeded test weights instead, and every output says so. Rows the runner cannot do yet are \
                reported as not run with the reason (exit status unaffected). Each row's result is kept in \
                OUT/.work/rows/<row>.json; --resume skips rows whose result is complete and was made with the \
                same recipe. --shard i/N runs the i-th contiguous part of the rows: run the shards into the \
                same OUT, then `suite run --resume` without --shard assembles the full report. Progress goes \
                to stderr.
                """)

        @Argument(help: "Suite file (suites/*.yaml).") var suite: String

        @Option(name: .shortAndLong, help: "Report directory (default: reports/<suite>).") var output: String?

        @Option(help: "real (default): the published checkpoints; seeded: deterministic test weights for every row (numbers are not comparable with published ones).")
        var weights: String = "real"

        @Flag(help: "Skip rows whose result in OUT/.work/rows/ is complete and made with the same recipe.")
        var resume = false

        @Option(help: "Run only part i/N of the rows (0-based, contiguous).") var shard: String?

        @Option(parsing: .upToNextOption, help: "Run only these row ids.") var only: [String] = []

        @Option(help: "Report file stem (default: a UTC timestamp, e.g. 20250131T120000Z).") var name: String?

        @Flag(name: .customLong("update-golden"), help: "Write OUT/golden.{md,csv,json}: no date, machine, toolchain, commit or wall times, so the files can be committed and diffed (see docs/reports.md).")
        var updateGolden = false

        @Flag(help: "Less progress output (row lines only).") var quiet = false

        func validate() throws {
            guard ["real", "seeded"].contains(weights) else { throw ValidationError("--weights must be real or seeded, got '\(weights)'") }
            if let shard { _ = try Shard(parsing: shard) }
            if updateGolden, name != nil { throw ValidationError("--update-golden writes golden.*; it does not take --name") }
        }

        func run() throws {
            var o = SuiteRunner.Options(suiteURL: URL(fileURLWithPath: suite))
            o.output = output.map { URL(fileURLWithPath: $0) }
            o.seeded = weights == "seeded"
            o.resume = resume
            o.shard = try shard.map { try Shard(parsing: $0) } ?? .all
            o.only = only
            o.stem = name
            o.golden = updateGolden
            o.quiet = quiet
            o.command = (["digit-bench"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
            let outcome = try SuiteRunner(options: o).run()
            let w = outcome.written
            for u in [w.markdown, w.csv, w.json] + (w.svg.map { [$0] } ?? []) { print(u.path) }
            let rows = outcome.record.rows
            print("\(rows.filter { $0.status == .ok }.count) of \(rows.count) rows run\(o.seeded ? " on SEEDED weights (test values, not comparable with published numbers)" : "")")
            for u in outcome.unsupported { print("not run (not supported yet): \(u)") }
            for m in outcome.needsWeights { print("not run: \(m)") }
            for p in outcome.problems { print("problem: \(p)") }
            if !outcome.needsWeights.isEmpty { print("fetch the missing weights (`digit-bench weights fetch …`) or run with --weights seeded for a pipeline check") }
            if outcome.exitCode != 0 { throw ExitCode(outcome.exitCode) }
        }
    }
}
