import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    /// `digit-bench bench digit-gpt`: DiGIT stage-1 / stage-2 decoding speed on seeded base weights,
    /// next to upstream's own figures measured on this machine kind (fixtures' perf_anchor.json).
    struct BenchDiGIT: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "digit-gpt",
            abstract: "Tokens/s of DiGIT's stage-1 GPT (and stage-2 decoder) on seeded base weights, or the whole two-stage pipeline's images/s (--pipeline).",
            discussion: """
                Uses seeded weights of the real base architectures (the speed does not depend on the \
                values). Each figure is the minimum of --repeats runs. Upstream's torch CPU figures \
                come from shared/fixtures/digit_gpt/perf_anchor.json and digit_stage2/perf_anchor.json \
                (the fastest of their thread settings). Meaningful only on an otherwise idle machine.
                """)

        @Option(help: "Tokens decoded per run (as upstream's anchor: 32).")
        var tokens = 32

        @Option(help: "Runs per measurement; the minimum is reported.")
        var repeats = 3

        @Option(help: "Batch size (sequences decoded together).")
        var batch = 1

        @Flag(help: "Also measure the stage-2 decoder (256-token prefix prefill, then per-token decoding).")
        var stage2 = false

        @Option(help: "shared/ directory holding fixtures/*/perf_anchor.json (default: $DIGIT_BENCH_SHARED or ../shared).")
        var shared: String?

        @Flag(help: "Time the whole two-stage generate of --batch images instead: stage 1 (256 tokens, top-k), stage 2 (256-token prefix + 256 codes, top-p 0.8), MAGE VQGAN decode; images/s with a per-stage breakdown.")
        var pipeline = false

        @Option(help: "With --pipeline: base, or large (d 1536, 24 layers, FFN 6144, 16K clusters; 16 heads and a stage 2 of the same width are assumptions: the real ones come from the checkpoints' cfg).")
        var size = "base"

        func run() throws {
            if pipeline { return try runPipeline() }
            let sharedRoot = shared ?? ProcessInfo.processInfo.environment["DIGIT_BENCH_SHARED"] ?? "../shared"
            print("weights         seeded (architecture of digit-base; values do not affect speed)")
            print("threads         \(Threads.count); BLAS \(Threads.blasDescription)")
            var t0 = Date()
            let s1 = try DiGITStage1(DigitNN.Weights.seeded(), configuration: DiGITStage1.configurationDefaults)
            print(String(format: "build stage 1   %.1f s (seeding 219M parameters)", Date().timeIntervalSince(t0)))

            func best(_ body: () throws -> Void) rethrows -> Double {
                var m = Double.infinity
                for _ in 0..<max(1, repeats) {
                    let t = Date()
                    try body()
                    m = min(m, Date().timeIntervalSince(t))
                }
                return m
            }
            let starts = [Int?](repeating: nil, count: batch)
            let decode = try best {
                var state = s1.makeState(batch: batch, maxLength: tokens + 1)
                var previous = [[Int]](repeating: [2], count: batch)
                for _ in 0...tokens {
                    let logits = try s1.forward(previous, state: &state)
                    previous = (0..<batch).map { b -> [Int] in
                        let bump = logits.scalars[b * s1.vocabularySize + 5] > 0 ? 1 : 0
                        return [5 + bump]
                    }
                }
            } / Double(tokens + 1)
            let options = FairseqGenerationOptions(minLength: tokens, maxLength: tokens, method: .topK(200))
            let sampling = try best {
                _ = try s1.generate(classLabels: starts, options: options, uniform: Self.uniform)
            } / Double(tokens + 1)
            let full = try best { _ = try s1.forward([[Int]](repeating: [2] + (0..<256).map { 5 + $0 * 31 % 8192 }, count: batch)) }

            let anchor1 = Self.anchor(URL(fileURLWithPath: sharedRoot).appendingPathComponent("fixtures/digit_gpt/perf_anchor.json"), section: "stage1")
            print("")
            print("stage 1 (batch \(batch))                  digit-bench         upstream torch (fastest)")
            func row(_ name: String, _ ours: Double, _ key: String, perToken: Bool, anchor: [String: Double]) {
                let perSequence: Double = ours / Double(batch)
                var oursText = String(format: "%7.3f s", ours)
                if perToken { oursText = String(format: "%7.1f ms/token (%5.1f tok/s)", ours * 1000, 1 / perSequence) }
                var upText = "n/a"
                if let up = anchor[key] {
                    let speedup: Double = up / perSequence
                    upText = perToken ? String(format: "%7.1f ms/token  -> %.2fx", up * 1000, speedup) : String(format: "%7.3f s  -> %.2fx", up, speedup)
                }
                print(name.padding(toLength: 38, withPad: " ", startingAt: 0) + oursText + "   " + upText)
            }
            row("incremental decoder", decode, "incremental_decoder_s_per_token", perToken: true, anchor: anchor1)
            row("generator, top-k 200 sampling", sampling, "generator_topk200_sampling_s_per_token", perToken: true, anchor: anchor1)
            row("full forward, 257 positions", full, "full_forward_257_positions_s", perToken: false, anchor: anchor1)

            guard stage2 else { return }
            t0 = Date()
            let s2 = try DiGITStage2(DigitNN.Weights.seeded(), configuration: DiGITStage2.configurationDefaults)
            print(String(format: "\nbuild stage 2   %.1f s", Date().timeIntervalSince(t0)))
            let prefix = [[Int]](repeating: (0..<256).map { $0 * 37 % 8192 }, count: batch)
            let prefill = try best {
                var state = s2.makeState(batch: batch, prefixLength: 256, maxTargetLength: 1)
                try s2.prefill(clusterIDs: prefix, state: &state)
            }
            var state = s2.makeState(batch: batch, prefixLength: 256, maxTargetLength: tokens + 1)
            try s2.prefill(clusterIDs: prefix, state: &state)
            let t = Date()
            var previous = [[Int]](repeating: [2], count: batch)
            for _ in 0...tokens {
                _ = try s2.forward(targets: previous, state: &state)
                previous = [[Int]](repeating: [105], count: batch)
            }
            let perToken = Date().timeIntervalSince(t) / Double(tokens + 1)
            let anchor2 = Self.anchor(URL(fileURLWithPath: sharedRoot).appendingPathComponent("fixtures/digit_stage2/perf_anchor.json"), section: "stage2")
            print("stage 2 (batch \(batch))")
            row("prefix prefill, 256 tokens", prefill, "prefix_prefill_256_s", perToken: false, anchor: anchor2)
            row("incremental decoder after the prefix", perToken, "incremental_decoder_s_per_token_after_prefix", perToken: true, anchor: anchor2)
        }

        /// `--pipeline`: one timed two-stage generation of `batch` unconditional samples on seeded weights.
        func runPipeline() throws {
            guard size == "base" || size == "large" else { throw ValidationError("--size must be base or large") }
            var c1 = DiGITStage1.configurationDefaults, c2 = DiGITStage2.configurationDefaults
            if size == "large" {
                (c1.decoderLayers, c1.decoderEmbedDim, c1.decoderFfnEmbedDim, c1.targetVocabSize) = (24, 1536, 6144, 16000)
                (c2.decoderLayers, c2.decoderEmbedDim, c2.decoderFfnEmbedDim, c2.sourceVocabSize) = (24, 1536, 6144, 16000)
            }
            print("weights         seeded digit-\(size) architecture (values do not affect speed)\(size == "large" ? "; heads and stage-2 size assumed" : "")")
            print("threads         \(Threads.count); BLAS \(Threads.blasDescription)")
            let t0 = Date()
            let generator = try DiGITGenerator(
                id: size == "base" ? .digitBase : .digitLarge, stage1: DiGITStage1(.seeded(), configuration: c1),
                stage2: DiGITStage2(.seeded(), configuration: c2), vqgan: MAGEVQGAN(weights: .seeded()), usesSeededWeights: true)
            print(String(format: "build           %.1f s (seeding both stages and the VQGAN)", Date().timeIntervalSince(t0)))
            let rngs = (0..<batch).map { SampleRNG(seed: 0, sample: $0) }
            let s1 = SamplingConfiguration(topK: size == "base" ? 200 : 400), s2 = DiGITReconstruction.publishedSampling
            var t = Date()
            let clusters = try generator.clusters(classes: [Int?](repeating: nil, count: batch), rngs: rngs, sampling: s1)
            let stage1 = Date().timeIntervalSince(t)
            t = Date()
            let codes = try DiGITGenerator.pixelCodes(stage2: generator.stage2, clusters: clusters, rngs: rngs, sampling: s2)
            let stage2 = Date().timeIntervalSince(t)
            t = Date()
            _ = generator.vqgan.outputImages(try generator.vqgan.decode(codes))
            let vqgan = Date().timeIntervalSince(t)
            let total = stage1 + stage2 + vqgan
            print("\nstage (batch \(batch))                           seconds   share   per image")
            for (name, v) in [("stage 1: 256 tokens, top-k \(s1.topK)", stage1), ("stage 2: 256-token prefix + 256 codes, top-p 0.8", stage2),
                              ("MAGE VQGAN decode to 256x256", vqgan)] {
                print(name.padding(toLength: 48, withPad: " ", startingAt: 0)
                      + String(format: "%7.2f  %5.1f %%  %7.2f s", v, 100 * v / total, v / Double(batch)))
            }
            print(String(format: "total                                           %7.2f           %7.2f s  = %.4f images/s", total, total / Double(batch), Double(batch) / total))
        }

        /// A fixed stand-in for a random stream (speed does not depend on the draws).
        static func uniform(_ sequence: Int, _ step: Int) -> Double {
            let h = (sequence * 7919 + step * 104_729) % 1000
            return Double(h) / 1000
        }

        /// The fastest `min_wall_s` of each measurement over upstream's thread settings.
        static func anchor(_ url: URL, section: String) -> [String: Double] {
            guard let data = try? Data(contentsOf: url),
                  let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let s = root[section] as? [String: Any]
            else { return [:] }
            var out: [String: Double] = [:]
            for case let blas as [String: Any] in s.values {
                for case let threads as [String: Any] in blas.values {
                    for (name, v) in threads {
                        if let m = (v as? [String: Any])?["min_wall_s"] as? Double { out[name] = min(out[name] ?? .infinity, m) }
                    }
                }
            }
            return out
        }
    }
}
