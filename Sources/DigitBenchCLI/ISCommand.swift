import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct IS: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "is",
            abstract: "Inception Score of an image input (torch-fidelity or ADM rule).",
            discussion: """
                Logits are pool3 @ fc.weightᵀ without bias, as torch-fidelity and the ADM evaluator use \
                them. torch-fidelity: rows permuted by numpy RandomState(2020), float64 softmax, \
                --splits splits at i*N//splits, mean and population std. adm: float32 softmax over \
                consecutive chunks of 5000, mean only.
                """)

        @Argument(help: "Image folder, file list or ADM .npz (arr_0).") var input: String
        @Option(help: "torch-fidelity (default) or adm.") var rule: String = "torch-fidelity"
        @Option(help: "Splits (torch-fidelity rule).") var splits: Int = 10
        @OptionGroup var options: EvalOptions

        func validate() throws {
            guard InceptionScoreProtocol(rawValue: rule) != nil else { throw ValidationError("--rule must be torch-fidelity or adm, got '\(rule)'") }
            guard splits >= 1 else { throw ValidationError("--splits must be at least 1") }
        }

        func run() throws {
            var resolver = InputResolver(options: options)
            let (feats, run) = try resolver.features(input, features: [.logitsUnbiased], label: "is")
            let logits = feats[.logitsUnbiased]!
            let r = InceptionScoreProtocol(rawValue: rule)!
            let score = r == .adm ? try InceptionScore.adm(logits: logits) : try InceptionScore.torchFidelity(logits: logits, splits: splits)
            let p = try options.resolvedProtocol()
            let weights = EvalOptions.describeWeights(resolver.network!)
            let rows: [(String, String)] = [
                ("IS", String(format: "%.6f", score.mean)), ("IS std", String(format: "%.6f", score.std)),
                ("rule", r == .adm ? "adm (chunks of 5000)" : "torch-fidelity (\(splits) splits)"),
                ("images", "\(run.used) from \(input)"), ("protocol", p.rawValue), ("weights", weights),
            ]
            var json = run.json
            json.merge(["inception_score_mean": score.mean, "inception_score_std": score.std, "per_split": score.perSplit, "rule": r.rawValue,
                        "splits": splits, "protocol": p.rawValue, "weights": weights, "seeded": resolver.network!.isSeeded], uniquingKeysWith: { $1 })
            try emitResult(rows: rows, json: json, asJSON: options.json)
        }
    }
}
