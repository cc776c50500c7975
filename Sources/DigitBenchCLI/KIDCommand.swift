import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct KID: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kid",
            abstract: "Kernel Inception Distance between two image inputs (torch-fidelity defaults).",
            discussion: """
                Polynomial kernel (degree 3, gamma 1/d, coef 1) on pool3 features; --subsets subsets of \
                --subset-size rows drawn as torch-fidelity does (numpy RandomState(2020)); mean and \
                population std of the unbiased MMD² estimates. Both inputs must be images.
                """)

        @Argument(help: "First image input.") var a: String
        @Argument(help: "Second image input.") var b: String
        @Option(help: "Number of subsets.") var subsets: Int = 100
        @Option(name: .customLong("subset-size"), help: "Rows per subset (each input needs at least this many images).") var subsetSize: Int = 1000
        @Option(name: .customLong("kid-protocol"), help: "Subset drawing and result rule: torch-fidelity or clean-fid.") var kidProtocol: String = "torch-fidelity"
        @OptionGroup var options: EvalOptions

        func validate() throws {
            guard KIDProtocol(rawValue: kidProtocol) != nil else { throw ValidationError("--kid-protocol must be torch-fidelity or clean-fid") }
            guard subsets >= 1, subsetSize >= 2 else { throw ValidationError("--subsets must be ≥ 1 and --subset-size ≥ 2") }
        }

        func run() throws {
            var resolver = InputResolver(options: options)
            let (fa, ra) = try resolver.features(a, features: [.pool3], label: "A")
            let (fb, rb) = try resolver.features(b, features: [.pool3], label: "B")
            let kp = KIDProtocol(rawValue: kidProtocol)!
            let sets = try KernelInceptionDistance.subsets(protocol: kp, countA: ra.used, countB: rb.used, subsets: subsets, subsetSize: subsetSize)
            let kid = try KernelInceptionDistance.compute(fa[.pool3]!, fb[.pool3]!, subsets: sets, precision: .float32, reduction: kp)
            let weights = EvalOptions.describeWeights(resolver.network!)
            let p = try options.resolvedProtocol()
            let rows: [(String, String)] = [
                ("KID", String(format: "%.8f", kid.mean)), ("KID std", String(format: "%.8f", kid.std)),
                ("subsets", "\(subsets) x \(subsetSize) (\(kp.rawValue))"),
                ("A", "\(ra.used) images from \(a)"), ("B", "\(rb.used) images from \(b)"),
                ("protocol", p.rawValue), ("weights", weights),
            ]
            let json: [String: Any] = [
                "kid_mean": kid.mean, "kid_std": kid.std, "subsets": subsets, "subset_size": subsetSize, "kid_protocol": kp.rawValue,
                "a": ra.json, "b": rb.json, "protocol": p.rawValue, "weights": weights, "seeded": resolver.network!.isSeeded,
            ]
            try emitResult(rows: rows, json: json, asJSON: options.json)
        }
    }
}
