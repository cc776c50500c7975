import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct Features: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per-image Inception features as a float32 .npy of shape (N, D), rows in input order.",
            discussion: """
                Layers: pool3 (2048), logits (fc with bias, 1008), logits_unbiased (pool3 @ fc.weightᵀ, \
                what IS uses), sfid (Mixed_6d.branch1x1 first 7 channels, NHWC, 2023), and the \
                torch-fidelity blocks 64, 192, 768. With --weights seeded the file is written next to a \
                `<output>.json` sidecar that says so (as it always records protocol and weights).
                """)

        @Argument(help: "Image folder, file list or ADM .npz (arr_0).") var input: String
        @Option(name: .shortAndLong, help: "Output .npy file.") var output: String
        @Option(help: "Layer: \(InceptionFeature.allCases.map(\.rawValue).joined(separator: ", ")).") var layer: String = "pool3"
        @Option(help: "Feature extractor (only inception-v3 here; DINOv2 features are `dino-features`).") var extractor: String = "inception-v3"
        @OptionGroup var options: EvalOptions

        func validate() throws {
            guard extractor == FeatureExtractorID.inceptionV3.rawValue else {
                throw ValidationError("--extractor \(extractor): only inception-v3 is available here (DINOv2: `digit-bench dino-features`)")
            }
            guard InceptionFeature(name: layer) != nil else { throw ValidationError(InceptionError.unknownFeature(layer).description) }
        }

        func run() throws {
            let f = InceptionFeature(name: layer)!
            let shard = try options.sharding.resolve()
            let output = options.sharding.output(self.output, for: shard)
            var resolver = InputResolver(options: options)
            if try InputResolver.isStatisticsFile(input) {
                throw ValidationError("\(input) holds only statistics (mu, sigma); features need images (a folder or an .npz with arr_0)")
            }
            let net = try resolver.net()
            let p = try options.resolvedProtocol()
            let (feats, run) = try options.extractAll(input, net: net, protocol: p, features: [f], label: "features", shard: shard)
            let t = feats[f]!
            try NPY.write(NPYArray(t), to: URL(fileURLWithPath: output))
            let identity = StatsFile.identity(command: "features", protocol: p, feature: f, net: net, items: run.items)
            var json = run.json
            json.merge(["output": output, "layer": f.rawValue, "shape": t.shape, "extractor": extractor, "protocol": p.rawValue,
                        "weights": net.isSeeded ? "seeded" : "real", "weights_description": EvalOptions.describeWeights(net),
                        "shard": shard.description, "run": identity.id, "settings": identity.settings], uniquingKeysWith: { $1 })
            let sidecar = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(sidecar, to: URL(fileURLWithPath: output + ".json"))
            let rows: [(String, String)] = [
                ("output", "\(output) (\(t.shape.map(String.init).joined(separator: "x")) float32; record in \(output).json)"),
                ("layer", f.rawValue), ("images", "\(run.used) from \(input)\(shard == .all ? "" : " (shard \(shard))")"), ("protocol", p.rawValue),
                ("weights", EvalOptions.describeWeights(net)),
            ]
            try emitResult(rows: rows, json: json, asJSON: options.json)
        }
    }
}
