import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct ReportCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract: "Compare reports with each other or with a baseline; render a run record.",
            subcommands: [Diff.self, Render.self])

        struct Diff: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Compare two reports (CSV), or a report and a baseline, row by row; exit 1 on drift.",
                discussion: """
                    A and B are report CSVs (reports/<suite>/<stamp>.csv) or baseline CSVs (baselines/*.csv). \
                    Two reports must agree exactly unless --tolerance is given. A report against a baseline uses \
                    each row's own tolerance from the report, unless --tolerance overrides it. \
                    Exits 1 when any number drifted or when there was nothing to compare.
                    """)

            @Argument(help: "The new report (CSV).") var a: String
            @Argument(help: "The reference: a golden report or a baseline CSV.") var b: String

            @Option(help: "Allowed difference: absolute (0.05) or relative (2%).")
            var tolerance: String?

            func validate() throws {
                if let t = tolerance, Tolerance(parsing: t) == nil {
                    throw ValidationError("--tolerance '\(t)' is neither a number >= 0 nor 'N%'")
                }
            }

            func run() throws {
                let va = try ComparableValues.load(URL(fileURLWithPath: a))
                let vb = try ComparableValues.load(URL(fileURLWithPath: b))
                let diff = ReportDiff(va, vb, tolerance: tolerance.flatMap(Tolerance.init(parsing:)))
                print(diff.render(), terminator: "")
                if diff.failed { throw ExitCode(1) }
            }
        }

        struct Render: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Write the Markdown, CSV and SVG report of a run record (JSON).")

            @Argument(help: "A run record (reports/<suite>/<stamp>.json).") var record: String

            @Option(help: "Baseline CSV (default: the one the record names).") var baseline: String?

            @Option(name: .shortAndLong, help: "Output directory (default: beside the record).") var output: String?

            func run() throws {
                let url = URL(fileURLWithPath: record)
                let rec = try RunRecord.load(url)
                var table: BaselineTable?
                if let b = baseline ?? rec.baseline { table = try BaselineTable.load(URL(fileURLWithPath: b)) }
                let report = Report(record: rec, baseline: table)
                let dir = output.map { URL(fileURLWithPath: $0) } ?? url.deletingLastPathComponent()
                let stem = url.deletingPathExtension().lastPathComponent
                let w = try ReportWriter.write(report, to: dir, stem: stem)
                for u in [w.markdown, w.csv, w.json] + (w.svg.map { [$0] } ?? []) { print(u.path) }
            }
        }
    }
}
