import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct Logits: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One teacher-forced forward of a generator's transformer: logits for [class, prefix] as .npy.",
            discussion: """
                Writes float32 logits of shape (1 + T, V) for LlamaGen (row t predicts image token t), or, for \
                Open-MAGVIT2, OUT with the pre-token logits (T, 64) and OUT.post.npy with the post-token \
                logits (T, 4096). The prefix is an int64/int32 .npy of token ids (Open-MAGVIT2: the full \
                18-bit index, split as pre = index % 64, post = index / 64). For checking a port against \
                upstream's own forward on the same checkpoint.
                """)

        @Option(help: "Generator id: \(GeneratorID.allCases.map(\.rawValue).joined(separator: ", ")).")
        var model: String

        @Option(help: "The generator checkpoint (default: the released file under $DIGIT_BENCH_HOME/weights).")
        var checkpoint: String?

        @Option(help: "real: released checkpoints; seeded: deterministic stand-in weights (tests, dry runs).")
        var weights: String = "real"

        @Option(name: .customLong("class"), help: "Class id (1000 is the null class).")
        var classID: Int

        @Option(help: "Token ids (.npy, 1-D).")
        var prefix: String

        @Option(name: .shortAndLong, help: "Output .npy.")
        var output: String

        func validate() throws {
            guard GeneratorID(rawValue: model) != nil else {
                throw ValidationError(Suggest.unknown(model, kind: .generator, available: GeneratorID.allCases.map(\.rawValue)))
            }
            guard (0...1000).contains(classID) else { throw ValidationError("--class must be in 0...1000 (1000: null class)") }
        }

        func run() throws {
            let id = GeneratorID(rawValue: model)!
            guard !id.isDiGIT else {
                throw ValidationError("\(id.rawValue): DiGIT's fairseq models are checked with their own fixtures; `logits` covers LlamaGen and Open-MAGVIT2")
            }
            let tokens = try NPY.read(contentsOf: URL(fileURLWithPath: prefix)).int64s().map(Int.init)
            let w = id.isLlamaGen
                ? try GeneratorLoader.llamaGenGPTWeights(id, imageSize: LlamaGenGenerator.imageSizes(id)[0], weights: weights, checkpoint: checkpoint)
                : try GeneratorLoader.weights(id, weights: weights, checkpoint: checkpoint)
            if id.isLlamaGen {
                let gpt = try LlamaGenGPT(config: .preset(id.size)!, weights: w)
                guard tokens.allSatisfy({ (0..<gpt.config.vocabSize).contains($0) }) else {
                    throw ValidationError("prefix ids must be in 0..<\(gpt.config.vocabSize)")
                }
                let l = gpt.logits(classes: [classID], tokens: [tokens])
                try NPY.write(NPYArray(l.reshaped([l.dim(1), l.dim(2)])), to: URL(fileURLWithPath: output))
            } else {
                let g = try OpenMAGVIT2Generator(config: .preset(id.size)!, weights: w)
                let shift = 1 << g.transformer.config.factorizedBits[0]
                let (lp, lq) = g.transformer.logits(classes: [classID], pre: [tokens.map { $0 % shift }], post: [tokens.map { $0 / shift }])
                try NPY.write(NPYArray(lp.reshaped([lp.dim(1), lp.dim(2)])), to: URL(fileURLWithPath: output))
                try NPY.write(NPYArray(lq.reshaped([lq.dim(1), lq.dim(2)])), to: URL(fileURLWithPath: output.replacingOccurrences(of: ".npy", with: "") + ".post.npy"))
            }
            if w.isSeeded { FileHandle.standardError.write(Data("note: SEEDED weights; these are not real model outputs\n".utf8)) }
            print("wrote \(output)")
        }
    }
}
