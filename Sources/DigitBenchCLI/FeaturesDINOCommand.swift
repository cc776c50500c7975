import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    /// `digit-bench dino-features`: DINOv2 patch features as DiGIT's K-means dump makes them.
    /// (To be unified with `features` by the lead.)
    struct FeaturesDINO: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dino-features",
            abstract: "Dump DINOv2 patch features (DiGIT's K-means training data) to an (N, D) float32 .npy.",
            discussion: """
                Each image goes through one of DiGIT's input paths (--input-path: dump224 = Resize(224, \
                bicubic) + CenterCrop(224), DiGIT's feature dump; gen256 = Resize(256) + CenterCrop(256), \
                then bicubic x224/256 on the normalised tensor; lp224 = Resize(256) + CenterCrop(224)), \
                is ImageNet-normalised, and runs through the ViT up to the chosen block. The rows are \
                norm(block output) of the patch tokens (cls and registers dropped), image by image, \
                patches row-major: --layer -3 is DiGIT's feature (get_intermediate_layers(x, 3)[0], block \
                9 of ViT-B, 21 of ViT-L); --layer i >= 0 is block i.

                DiGIT's dump keeps all 256 patches of a random 10% of the images; --sample N keeps N \
                random patches per image instead (seeded per image: --seed plus the image's index).

                Example: digit-bench dino-features --extractor dinov2-vitb14-reg4 --checkpoint \
                dinov2_vitb14_reg4_pretrain.pth --layer -3 train/ -o feats.npy --sample 26
                """)

        @Argument(help: "Image files or directories (searched recursively for .png/.jpg/.jpeg, sorted by path).")
        var inputs: [String]

        @Option(help: "dinov2-vitb14-reg4 or dinov2-vitl14-reg4.")
        var extractor = DINOv2Model.vitb14reg4.rawValue

        @Option(help: "The DINOv2 checkpoint (dinov2_vit{b,l}14_reg4_pretrain.pth).")
        var checkpoint: String?

        @Option(help: "real (needs --checkpoint) or seeded (stand-in weights: the features are not real).")
        var weights = "real"

        @Option(parsing: .unconditional, help: "Block: -n = DiGIT's get_intermediate_layers(x, n) (block depth-n), i >= 0 = block i.")
        var layer = -3

        @Option(help: "Input path: dump224, gen256 or lp224.")
        var inputPath = DiGITInputPath.dump224.rawValue

        @Option(help: "Position-embedding interpolation: digit (DiGIT's, default) or hub (torch-hub antialiased).")
        var posEmbed = PositionEmbeddingInterpolation.digit.rawValue

        @Option(help: "Keep this many random patches per image (default: all).")
        var sample: Int?

        @Option(help: "Seed of the per-image patch sampling.")
        var seed: Int64 = 0

        @Option(help: "Images per forward pass.")
        var batchSize = 8

        @Option(name: .shortAndLong, help: "Output .npy, float32 (rows, D), written atomically.")
        var output: String

        func run() throws {
            guard let model = DINOv2Model(rawValue: extractor) else {
                throw ValidationError("unknown extractor '\(extractor)'; valid: \(DINOv2Model.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let path = DiGITInputPath(rawValue: inputPath) else {
                throw ValidationError("unknown --input-path '\(inputPath)'; valid: \(DiGITInputPath.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let interpolation = PositionEmbeddingInterpolation(rawValue: posEmbed) else {
                throw ValidationError("unknown --pos-embed '\(posEmbed)'; valid: digit, hub")
            }
            guard batchSize > 0, (sample ?? 1) > 0 else { throw ValidationError("--batch-size and --sample must be positive") }
            let w: DigitNN.Weights
            switch (weights, checkpoint) {
            case ("seeded", _):
                w = .seeded()
            case ("real", let file?):
                w = DigitNN.Weights(stateDict: try Checkpoint.load(URL(fileURLWithPath: file)).stateDict)
            case ("real", nil):
                throw ValidationError("--checkpoint is required: download \(model.checkpointURL) (or use --weights seeded for a dry run)")
            default:
                throw ValidationError("--weights must be real or seeded")
            }
            let net = try DINOv2(model, weights: w, interpolation: interpolation)
            guard let block = net.blockIndex(layer: layer) else {
                throw ValidationError("--layer \(layer) is outside -\(net.depth)...\(net.depth - 1)")
            }
            let files = try imageFiles(inputs)
            guard !files.isEmpty else { throw ValidationError("no .png/.jpg/.jpeg images in \(inputs.joined(separator: ", "))") }
            progressLine("\(net.provenance); block \(block); \(files.count) images via \(path.rawValue)")
            if net.isSeeded { progressLine("WARNING: seeded weights: these features are not real DINOv2 features") }

            let writer = try NPYRowWriter(URL(fileURLWithPath: output), columns: net.embedDim)
            let start = Date()
            var index = 0
            while index < files.count {
                let chunk = files[index..<min(index + batchSize, files.count)]
                let crops = try chunk.map { DiGITTokenizer.crop(try ImageCodec.decode(contentsOf: $0), path: path) }
                let x = DiGITTokenizer.encoderInput(croppedImages: ImageBatch(images: crops))
                let rows = net.patchFeatureRows(x, block: block, sample: sample, seed: seed, firstImageIndex: index)
                try writer.append(rows.values)
                index += chunk.count
                let elapsed = Date().timeIntervalSince(start)
                progressLine(String(format: "  %d/%d images, %.2f s/image, ETA %.0f s", index, files.count, elapsed / Double(index),
                                    elapsed / Double(index) * Double(files.count - index)))
            }
            try writer.finish()
            print("wrote \(output): float32 (\(writer.rows), \(net.embedDim))\(net.isSeeded ? " [SEEDED weights]" : "")")
        }

        /// Files given directly, and the images under given directories, sorted by path.
        func imageFiles(_ inputs: [String]) throws -> [URL] {
            let exts: Set<String> = ["png", "jpg", "jpeg"]
            var out: [URL] = []
            for p in inputs {
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else { throw ValidationError("\(p) does not exist") }
                if !isDir.boolValue { out.append(URL(fileURLWithPath: p)); continue }
                var found: [URL] = []
                let e = FileManager.default.enumerator(at: URL(fileURLWithPath: p), includingPropertiesForKeys: nil)
                while let u = e?.nextObject() as? URL {
                    if exts.contains(u.pathExtension.lowercased()) { found.append(u) }
                }
                out += found.sorted { $0.path < $1.path }
            }
            return out
        }
    }
}

/// Streams float32 rows into a `.npy` (v1.0, 128-byte header rewritten with the final row count),
/// through a temporary file renamed into place at the end.
private final class NPYRowWriter {
    let url: URL, temp: URL, columns: Int
    let handle: FileHandle
    private(set) var rows = 0

    init(_ url: URL, columns: Int) throws {
        self.url = url
        self.columns = columns
        temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial")
        _ = FileManager.default.createFile(atPath: temp.path, contents: nil)
        handle = try FileHandle(forWritingTo: temp)
        try handle.write(contentsOf: header())
    }

    func header() -> Data {
        var h = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows), \(columns)), }"
        h += String(repeating: " ", count: 128 - 10 - h.utf8.count - 1) + "\n"
        return Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(h.utf8.count & 0xFF), UInt8(h.utf8.count >> 8)]) + Data(h.utf8)
    }

    func append(_ values: [Float]) throws {
        precondition(values.count % columns == 0, "NPYRowWriter: \(values.count) values are not rows of \(columns)")
        try handle.write(contentsOf: values.withUnsafeBytes { Data($0) })
        rows += values.count / columns
    }

    func finish() throws {
        try handle.seek(toOffset: 0)
        try handle.write(contentsOf: header())
        try handle.close()
        if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
        try FileManager.default.moveItem(at: temp, to: url)
    }
}

private func progressLine(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
