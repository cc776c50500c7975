import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct Detokenize: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decode token grids (.npy of shape (N, h, w) or (h, w)) into PNG images.",
            discussion: """
                Writes DIR/000000.png, … . Decoder outputs are clamped and converted to 8-bit as the \
                tokenizer's upstream evaluation does (Open-MAGVIT2: clamp to [-1, 1], (x+1)/2*255, truncated; \
                LlamaGen: clamp(127.5x + 128, 0, 255) to uint8; MAGE VQGAN: clip(x·255) truncated). \
                DiGIT's tokenizers have no decoder (see `reconstruct --stage2`).
                """)

        @OptionGroup var options: TokenizerOptions

        @Argument(help: "Token ids (.npy, integer dtype), as written by `digit-bench tokenize`.")
        var tokens: String

        @Option(name: .shortAndLong, help: "Output directory for the PNG files.")
        var output: String

        @Option(help: "Token grids per forward pass.")
        var batchSize = 4

        func run() throws {
            let array = try NPY.read(contentsOf: URL(fileURLWithPath: tokens))
            guard [.int64, .int32].contains(array.dtype), array.shape.count == 2 || array.shape.count == 3 else {
                throw ValidationError("\(tokens): expected integer tokens of shape (N, h, w) or (h, w), got \(array.dtype) \(array.shape)")
            }
            let shape = array.shape.count == 2 ? [1] + array.shape : array.shape
            let ids = array.int64s().map { Int($0) }
            guard case let .neural(model) = try options.load() else {
                throw ValidationError("\(options.tokenizer) has no decoder: DiGIT's tokens go back to pixels only through its stage-2 model and the MAGE VQGAN (`digit-bench reconstruct --tokenizer \(options.tokenizer) --stage2`, or `digit-bench generate`)")
            }
            let dir = URL(fileURLWithPath: output)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let per = shape[1] * shape[2]
            for start in stride(from: 0, to: shape[0], by: batchSize) {
                let n = min(batchSize, shape[0] - start)
                let grid = TokenGrid(batch: n, height: shape[1], width: shape[2],
                                     indices: Array(ids[(start * per)..<((start + n) * per)]))
                let images = Reconstruct.outputImages(model, try model.decode(grid))
                for i in 0..<n {
                    let url = dir.appendingPathComponent(String(format: "%06d.png", start + i))
                    try ImageCodec.writeAtomically(try ImageCodec.encodePNG(images.image(i)), to: url)
                }
            }
            print("\(shape[0]) token grids -> \(output)/ (\(model.id), \(TokenizerOptions.describe(model)))")
        }
    }
}
