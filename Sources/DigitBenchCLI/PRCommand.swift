import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct PR: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pr",
            abstract: "Improved precision and recall (ADM evaluator rule) of generated images A against real images B.",
            discussion: """
                k-nearest-neighbour manifolds (k = 3) of pool3 features, a sample counts when its distance \
                to some manifold point is <= that point's radius, as openai/guided-diffusion's \
                evaluator does. Both inputs must be images.
                """)

        @Argument(help: "Generated images.") var a: String
        @Argument(help: "Real (reference) images.") var b: String
        @Option(help: "Neighbourhood size.") var k: Int = 3
        @OptionGroup var options: EvalOptions

        func validate() throws { guard k >= 1 else { throw ValidationError("-k must be at least 1") } }

        func run() throws {
            var resolver = InputResolver(options: options)
            let (fa, ra) = try resolver.features(a, features: [.pool3], label: "A")
            let (fb, rb) = try resolver.features(b, features: [.pool3], label: "B")
            let r = try PrecisionRecall.compute(generated: fa[.pool3]!, real: fb[.pool3]!, k: k)
            let weights = EvalOptions.describeWeights(resolver.network!)
            let p = try options.resolvedProtocol()
            let rows: [(String, String)] = [
                ("precision", String(format: "%.6f", r.precision)), ("recall", String(format: "%.6f", r.recall)),
                ("F-score", String(format: "%.6f", r.fScore)), ("k", "\(k)"),
                ("A (generated)", "\(ra.used) images from \(a)"), ("B (real)", "\(rb.used) images from \(b)"),
                ("protocol", p.rawValue), ("weights", weights),
            ]
            let json: [String: Any] = [
                "precision": r.precision, "recall": r.recall, "f_score": r.fScore, "k": k, "a": ra.json, "b": rb.json,
                "protocol": p.rawValue, "weights": weights, "seeded": resolver.network!.isSeeded,
            ]
            try emitResult(rows: rows, json: json, asJSON: options.json)
        }
    }
}
