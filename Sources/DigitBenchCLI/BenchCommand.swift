import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    /// `digit-bench bench …`: performance measurements, each measured on this machine in one run.
    /// Numbers are meaningful only on an otherwise idle machine.
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure performance (numbers are meaningful only on an otherwise idle machine).",
            subcommands: [Gemm.self, Conv.self, BenchLoad.self, BenchDecode.self, Frechet.self, BenchTokenizer.self, BenchInception.self, Probe.self, BenchDiGIT.self, BenchDINOv2.self, Peers.self, DecodeProjections.self])
    }
}
