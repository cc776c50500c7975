import ArgumentParser
import DigitBench
import Foundation

/// Options shared by `tokenize` and `detokenize`: which tokenizer and which weights.
struct TokenizerOptions: ParsableArguments {
    @Option(help: "Tokenizer id: \(TokenizerOptions.ids.joined(separator: ", ")) (the DiGIT ones encode only).")
    var tokenizer: String

    @Option(help: "Checkpoint file (default: the registry's file under $DIGIT_BENCH_HOME/weights; see `digit-bench weights`). For digit-base-8k/digit-large-16k: a DiGIT checkpoint holding the encoder and centroids.")
    var checkpoint: String?

    @Option(help: "real: the released checkpoint; seeded: deterministic stand-in weights (tests, dry runs).")
    var weights: String = "real"

    @Flag(name: .customLong("no-ema"), help: "Open-MAGVIT2: load the raw weights instead of the EMA copies (published numbers use EMA).")
    var noEMA = false

    /// Every tokenizer `tokenize` takes: the neural ones of `reconstruct`, then DiGIT's.
    static var ids: [String] { ReconCodec.neuralIDs + DiGITTokenizerID.allCases.map(\.rawValue) }

    func validate() throws {
        guard Self.ids.contains(tokenizer) else {
            throw ValidationError(Suggest.unknown(tokenizer, kind: .tokenizer, available: Self.ids))
        }
        guard ["real", "seeded"].contains(weights) else { throw ValidationError("--weights must be real or seeded") }
        if noEMA && LFQTokenizerID(rawValue: tokenizer) == nil { throw ValidationError("--no-ema is for the Open-MAGVIT2 (lfq-*) tokenizers") }
    }

    /// A loaded tokenizer: one with a decoder, or DiGIT's encode-only one.
    enum Loaded {
        case neural(any ImageTokenizer)
        case digit(DiGITTokenizer)

        var id: String {
            switch self {
            case let .neural(t): t.id
            case let .digit(t): t.id?.rawValue ?? "digit"
            }
        }
    }

    /// The tokenizer with seeded weights, the `--checkpoint` file, or the registry's file under
    /// `$DIGIT_BENCH_HOME/weights` (a missing file is an error naming it and its source; there is
    /// no fallback to seeded weights).
    func load() throws -> Loaded {
        let seeded = weights == "seeded"
        if let id = DiGITTokenizerID(rawValue: tokenizer) {
            if seeded { note("\(id.rawValue) runs on SEEDED weights; tokens are test values, not the model's") }
            return .digit(try DiGITCodebook.tokenizer(id, seeded: seeded, checkpoint: checkpoint))
        }
        guard case let .neural(t) = try ReconCodec.load(tokenizer, checkpoint: checkpoint, seeded: seeded, useEMA: !noEMA) else {
            throw ValidationError("\(tokenizer) is not a neural tokenizer")
        }
        return .neural(t)
    }

    /// "EMA weights" / "raw weights" / "SEEDED weights" / "released weights", for output lines.
    static func describe(_ model: any ImageTokenizer) -> String {
        if model.usesSeededWeights { return "SEEDED weights" }
        if let lfq = model as? LFQTokenizer { return lfq.loadedEMA ? "EMA weights" : "raw weights" }
        return "released weights"
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
                Directories are read recursively, sorted by path. Images are resized and cropped to the \
                tokenizer's resolution as its upstream evaluation does: Open-MAGVIT2 torchvision Resize(S) \
                bilinear + CenterCrop(S) (EMA weights unless --no-ema); LlamaGen ADM center_crop_arr(256); \
                MAGE VQGAN Resize(256) bicubic + CenterCrop(256); DiGIT's generation path (Resize 256 \
                bicubic + CenterCrop 256, normalise, bicubic ×224/256, DINOv2 block L−3 + final norm, \
                nearest centroid), whose ids are cluster indices 0..<K (DiGIT's stage-1 GPT adds 5, \
                stage 2 adds 1034). --latents writes the continuous encoder output (DiGIT: the DINOv2 \
                features, (N, D, 16, 16)).

                Example: digit-bench tokenize --tokenizer llamagen-vq16 photos/ -o tokens.npy
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

        func validate() throws {
            guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        }

        func run() throws {
            let model = try options.load()
            let files = try imageFiles(inputs)
            guard !files.isEmpty else { throw ValidationError("no images found in \(inputs.joined(separator: " "))") }
            var tokens: [Int64] = []
            var latentValues: [Float] = []
            var grid = (0, 0), latentShape: [Int] = []
            for start in stride(from: 0, to: files.count, by: batchSize) {
                let chunk = files[start..<min(start + batchSize, files.count)]
                let photos = try chunk.map { try ImageCodec.decode(contentsOf: $0) }
                let enc: TokenizerEncoding
                switch model {
                case let .neural(t):
                    let recipe = ReconCodec.neural(t).recipe
                    enc = try t.encode(t.modelInput(ImageBatch(images: photos.map(recipe.apply))))
                case let .digit(t):
                    enc = t.encoding(images: photos)
                }
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
            let weights: String
            switch model {
            case let .neural(t): weights = TokenizerOptions.describe(t)
            case let .digit(t): weights = t.usesSeededWeights ? "SEEDED weights" : "released weights"
            }
            print("\(files.count) images -> \(output): tokens (\(files.count), \(grid.0), \(grid.1)), \(model.id), \(weights)")
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
