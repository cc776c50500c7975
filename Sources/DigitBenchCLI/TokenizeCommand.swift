import ArgumentParser
import DigitBench
import Foundation

/// Options shared by `tokenize` and `detokenize`: which tokenizer and which weights.
struct TokenizerOptions: ParsableArguments {
    @Option(help: "Tokenizer id: \(LFQTokenizerID.allCases.map(\.rawValue).joined(separator: ", ")).")
    var tokenizer: String

    @Option(help: "Checkpoint file (default: the released file name under $DIGIT_BENCH_HOME, else ~/.cache/digit-bench).")
    var checkpoint: String?

    @Option(help: "real: the released checkpoint; seeded: deterministic stand-in weights (tests, dry runs).")
    var weights: String = "real"

    @Flag(name: .customLong("no-ema"), help: "Load the raw weights instead of the EMA copies (published numbers use EMA).")
    var noEMA = false

    func validate() throws {
        guard LFQTokenizerID(rawValue: tokenizer) != nil else {
            throw ValidationError(Suggest.unknown(tokenizer, kind: .tokenizer, available: LFQTokenizerID.allCases.map(\.rawValue)))
        }
        guard ["real", "seeded"].contains(weights) else { throw ValidationError("--weights must be real or seeded") }
    }

    /// The tokenizer with seeded weights, the `--checkpoint` file, or the registry's file under
    /// `$DIGIT_BENCH_HOME/weights` (a missing file is an error naming it and its source).
    func load() throws -> LFQTokenizer {
        let id = LFQTokenizerID(rawValue: tokenizer)!
        if weights == "seeded" {
            FileHandle.standardError.write(Data("note: \(id.rawValue) runs on SEEDED weights; outputs are not real model outputs\n".utf8))
            return try LFQTokenizer(id, weights: .seeded(), useEMA: !noEMA)
        }
        let url: URL
        if let checkpoint {
            url = URL(fileURLWithPath: checkpoint)
        } else {
            let file = try WeightsRegistry.files(usedBy: id.rawValue).first.unwrap(or: "no weights registered for \(id.rawValue)")
            if let missing = WeightsRegistry.firstMissing(for: id.rawValue) {
                throw WeightsError.missing(id: missing.id, message: WeightsRegistry.missingMessage(for: missing))
            }
            url = WeightsHome().path(for: file)
        }
        let (sd, _) = try Checkpoint.load(url, select: "state_dict")
        return try LFQTokenizer(id, stateDict: sd, useEMA: !noEMA)
    }

    /// "EMA weights" / "raw weights" / "SEEDED weights", for output lines.
    static func describe(_ model: LFQTokenizer) -> String {
        model.usesSeededWeights ? "SEEDED weights" : (model.loadedEMA ? "EMA weights" : "raw weights")
    }
}

extension Optional {
    func unwrap(or message: String) throws -> Wrapped {
        guard let self else { throw ValidationError(message) }
        return self
    }
}

extension DigitBenchCommand {
    struct Tokenize: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Encode images into token grids (int64 .npy of shape (N, h, w)).",
            discussion: """
                Directories are read recursively, sorted by path. Images are resized and center-cropped to the tokenizer's resolution as its upstream \
                evaluation does (Open-MAGVIT2: torchvision Resize(S) bilinear + CenterCrop(S)), \
                then encoded with the EMA weights unless --no-ema.
                """)

        @OptionGroup var options: TokenizerOptions

        @Argument(help: "Image files or directories of them (recursive, sorted by path).")
        var inputs: [String]

        @Option(name: .shortAndLong, help: "Output .npy file of int64 token ids, shape (N, h, w).")
        var output: String

        @Option(help: "Also write the continuous encoder latents (float32 (N, C, h, w)) to this .npy file.")
        var latents: String?

        @Option(help: "Images per forward pass.")
        var batchSize = 4

        func run() throws {
            let model = try options.load()
            let files = try imageFiles(inputs)
            guard !files.isEmpty else { throw ValidationError("no images found in \(inputs.joined(separator: " "))") }
            let s = model.inputResolution
            var tokens: [Int64] = []
            var latentValues: [Float] = []
            var grid = (0, 0), latentShape: [Int] = []
            for start in stride(from: 0, to: files.count, by: batchSize) {
                let chunk = files[start..<min(start + batchSize, files.count)]
                let images = try chunk.map {
                    Preprocess.torchvisionResizeCenterCrop(try ImageCodec.decode(contentsOf: $0), size: s, filter: .bilinear)
                }
                let enc = try model.encode(model.modelInput(ImageBatch(images: images)))
                tokens += enc.tokens.indices.map { Int64($0) }
                grid = (enc.tokens.height, enc.tokens.width)
                if latents != nil {
                    latentValues += enc.latent.scalars
                    latentShape = Array(enc.latent.shape.dropFirst())
                }
                FileHandle.standardError.write(Data("\(min(start + batchSize, files.count))/\(files.count) images\n".utf8))
            }
            try NPY.write(NPYArray(int64: tokens, shape: [files.count, grid.0, grid.1]), to: URL(fileURLWithPath: output))
            if let latents {
                try NPY.write(NPYArray(float32: latentValues, shape: [files.count] + latentShape), to: URL(fileURLWithPath: latents))
            }
            print("\(files.count) images -> \(output): tokens (\(files.count), \(grid.0), \(grid.1)), \(model.id), \(TokenizerOptions.describe(model))")
        }
    }
}

/// Image files named by `paths`: files as given, directories expanded by ``ImageFolderDataset``.
func imageFiles(_ paths: [String]) throws -> [URL] {
    var out: [URL] = []
    for p in paths {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else { throw ValidationError("no such file: \(p)") }
        if isDir.boolValue {
            let folder = try ImageFolderDataset(root: URL(fileURLWithPath: p))
            out += folder.files.map { folder.root.appendingPathComponent($0) }
        } else {
            out.append(URL(fileURLWithPath: p))
        }
    }
    return out
}
