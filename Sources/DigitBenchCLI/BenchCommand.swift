import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    /// `digit-bench bench …`: performance measurements (register further benchmarks here).
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure performance (numbers are meaningful only on an otherwise idle machine).",
            subcommands: [BenchDecode.self])
    }
}
