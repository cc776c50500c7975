import ArgumentParser

extension DigitBenchCommand {
    /// `digit-bench bench …`: throughput measurements against the machine's own sgemm rate and
    /// the reference tools' figures measured here. Timings under load are indicative only.
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure digit-bench's throughput against the reference implementations.",
            subcommands: [Frechet.self])
    }
}
