import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    /// `digit-bench bench tokenizer`: encode+decode throughput against the machine's sgemm rate.
    struct BenchTokenizer: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tokenizer",
            abstract: "Time encode + decode of one batch at the tokenizer's resolution (against its FLOP-bound time).",
            discussion: """
                FLOPs count 2 per multiply-add of every convolution and linear layer. The FLOP-bound time \
                divides them by the sgemm rate measured here (2048³ sgemm). Upstream PyTorch reference \
                (torch 1.13 CPU, 2 threads, shared machine; shared/fixtures/lfq/timings.json): lfq-256 \
                22.9 s encode + 25.3 s decode per 256 px image; MAGE VQGAN (shared/fixtures/vqgan, idle): \
                1.02 s encode + 1.56 s decode. Side by side with torch in one run: `bench peers --only tokenizer,lfq`.
                """)

        @OptionGroup var options: TokenizerOptions

        @Option(help: "Images per batch.")
        var batch = 1

        @Option(help: "Timed passes (after one warm-up pass).")
        var repeats = 1

        func run() throws {
            guard case let .neural(model) = try options.load() else {
                throw ValidationError("\(options.tokenizer) has no decoder; time DINOv2 with `digit-bench bench dinov2`")
            }
            let s = model.inputResolution
            let lo = model.inputRange.bounds.lowerBound, hi = model.inputRange.bounds.upperBound
            var rng = SystemRandomNumberGenerator()
            let x = Tensor(shape: [batch, 3, s, s], scalars: (0..<(batch * 3 * s * s)).map { _ in Float.random(in: lo...hi, using: &rng) })
            // FLOPs: LFQ per half, LlamaGen VQ and MAGE VQGAN in total.
            let split = (model as? LFQTokenizer)?.flops(imageSide: s)
            let total = split.map { $0.encoder + $0.decoder } ?? (model as? LlamaGenVQ).map { PeerFlops.llamaGenVQ($0.config, side: s) }
                ?? (model as? MAGEVQGAN).map { PeerFlops.mageVQGAN($0.config, side: s) }
            let gemmRate = Self.sgemmGFLOPs()
            var encode = Double.infinity, decode = Double.infinity
            var tokens = try model.encode(x).tokens  // warm-up
            for _ in 0..<max(1, repeats) {
                var t = Date()
                tokens = try model.encode(x).tokens
                encode = min(encode, Date().timeIntervalSince(t))
                t = Date()
                _ = try model.decode(tokens)
                decode = min(decode, Date().timeIntervalSince(t))
            }
            print("tokenizer       \(model.id) (\(TokenizerOptions.describe(model))), batch \(batch) at \(s) px, \(Threads.count) threads")
            print(String(format: "sgemm           %.1f GFLOP/s (2048^3, measured now)", gemmRate))
            if let split {
                print(String(format: "GFLOP / image   encoder %.1f + decoder %.1f = %.1f", split.encoder / 1e9, split.decoder / 1e9, (split.encoder + split.decoder) / 1e9))
                print(String(format: "encode          %.2f s  (%.1f GFLOP/s)", encode, Double(batch) * split.encoder / 1e9 / encode))
                print(String(format: "decode          %.2f s  (%.1f GFLOP/s)", decode, Double(batch) * split.decoder / 1e9 / decode))
            } else {
                if let total { print(String(format: "GFLOP / image   %.1f (encoder + decoder)", total / 1e9)) }
                print(String(format: "encode          %.2f s", encode))
                print(String(format: "decode          %.2f s", decode))
            }
            if let total {
                let bound = Double(batch) * total / 1e9 / gemmRate
                print(String(format: "encode+decode   %.2f s = %.2fx the FLOP-bound %.2f s", encode + decode, (encode + decode) / bound, bound))
            } else {
                print(String(format: "encode+decode   %.2f s (no FLOP count for this architecture)", encode + decode))
            }
        }

        /// Best of three 2048³ sgemms, in GFLOP/s.
        static func sgemmGFLOPs(n: Int = 2048) -> Double {
            let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
            var c = [Float](repeating: 0, count: n * n)
            var best = Double.infinity
            for _ in 0..<3 {
                let t = Date()
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            Gemm.sgemm(m: n, n: n, k: n, a: pa.baseAddress!, lda: n, b: pb.baseAddress!, ldb: n,
                                       c: pc.baseAddress!, ldc: n)
                        }
                    }
                }
                best = min(best, Date().timeIntervalSince(t))
            }
            return 2 * Double(n * n * n) / best / 1e9
        }
    }
}
