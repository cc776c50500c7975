import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct SuiteCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "suite",
            abstract: "Work with suite files (suites/*.yaml).",
            subcommands: [Validate.self, Run.self])

        struct Validate: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Check suite files: schema, ids (with suggestions), weights, baseline rows and tolerances.")

            @Argument(help: "Suite files.") var files: [String]

            func run() throws {
                var failed = 0
                for f in files {
                    do {
                        let s = try DigitSuites.Suite.load(URL(fileURLWithPath: f))
                        print("\(f): ok (suite \(s.name) v\(s.version), \(s.rows.count) rows\(s.baseline.map { ", baseline \($0)" } ?? ""), weights \(s.weights.rawValue))")
                    } catch {
                        failed += 1
                        print("\(error)")
                    }
                }
                if failed > 0 { throw ExitCode(1) }
            }
        }
    }
}
