import ArgumentParser
import DigitBench

extension DigitBenchCommand {
    struct Version: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the digit-bench version.")

        func run() throws {
            print("digit-bench \(DigitBenchVersion.string)")
        }
    }
}
