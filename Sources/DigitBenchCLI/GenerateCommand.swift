import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sample class-conditional images from an autoregressive generator, ready for FID.",
            discussion: """
                Writes one PNG per sample (OUT/000123.png, written atomically) plus OUT/labels.csv, or, with -o \
                FILE.npz, an ADM-style batch (arr_0: uint8 N x H x W x 3, arr_1: int64 labels) that \
                `digit-bench fid` and the ADM evaluator both read; the PNGs are then kept in FILE.npz.parts/ \
                until the batch is complete.

                Sample i's class and randomness depend only on (--seed, i): results do not change with \
                --batch, the thread count or --shard, and an interrupted run resumes where it stopped \
                (finished samples are skipped).

                Defaults are the published settings: LlamaGen cfg 2.0 (B, L), 1.75 (XL, XXL), 1.65 (3B), \
                top-k 0, top-p 1, temperature 1; Open-MAGVIT2 cfg 1.9/2.0 (B), 1.9/1.9 (L), 1.75/1.85 (XL) \
                for its two sub-tokens, temperatures 1.0/1.0 (B) or 1.1/1.0 (L, XL).

                Without the real checkpoint the command names the file, where it comes from and where to \
                put it, and exits non-zero. --weights seeded samples from seeded stand-in weights (tests, \
                dry runs); the output then says so.
                """)

        @Option(help: "Generator id: \(GeneratorID.allCases.map(\.rawValue).joined(separator: ", ")).")
        var model: String

        @Option(help: "The generator checkpoint (default: the released file under $DIGIT_BENCH_HOME/weights).")
        var checkpoint: String?

        @Option(help: "real: released checkpoints; seeded: deterministic stand-in weights (tests, dry runs).")
        var weights: String = "real"

        @Option(help: "Number of samples in the whole run (all shards).")
        var num: Int

        @Option(help: "Classes: N-per-class (sample i gets class i/N), random, or a comma-separated list (cycled).")
        var classes: String = "50-per-class"

        @Option(help: "Classifier-free guidance scale (Open-MAGVIT2: one value or two comma-separated, per sub-token).")
        var cfg: String?

        @Option(name: .customLong("top-k"), help: "Keep the k most likely tokens (0: all).")
        var topK: Int?

        @Option(name: .customLong("top-p"), help: "Nucleus sampling threshold (1: off).")
        var topP: Float?

        @Option(help: "Sampling temperature (Open-MAGVIT2: one value or two comma-separated).")
        var temperature: String?

        @Option(name: .customLong("image-size"), help: "Image size in pixels (LlamaGen: a multiple of 16, the token grid is size/16 square, e.g. 384 for the *_384 checkpoints; Open-MAGVIT2: 256).")
        var imageSize: Int = 256

        @Option(help: "Run seed; sample i uses (seed, i).")
        var seed: UInt64 = 0

        @Option(help: "Samples generated together.")
        var batch: Int = 8

        @Option(help: "Generate only part i/N of the samples (0-based).")
        var shard: String = "0/1"

        @Option(name: .shortAndLong, help: "Output directory of PNGs, or a .npz file (ADM batch).")
        var output: String

        func validate() throws {
            guard GeneratorID(rawValue: model) != nil else {
                throw ValidationError(Suggest.unknown(model, kind: .generator, available: GeneratorID.allCases.map(\.rawValue)))
            }
            guard ["real", "seeded"].contains(weights) else { throw ValidationError("--weights must be real or seeded") }
            guard num > 0, batch > 0 else { throw ValidationError("--num and --batch must be positive") }
            _ = try Shard(parsing: shard)
            _ = try ClassSchedule(parsing: classes)
            let id = GeneratorID(rawValue: model)!
            guard id.isLlamaGen ? (imageSize >= 16 && imageSize % 16 == 0) : imageSize == 256 else {
                throw ValidationError("--image-size \(imageSize): \(id.isLlamaGen ? "LlamaGen needs a multiple of 16" : "Open-MAGVIT2 generates 256 px only")")
            }
        }

        func run() throws {
            let id = GeneratorID(rawValue: model)!
            let schedule = try ClassSchedule(parsing: classes)
            let shard = try Shard(parsing: shard)
            let sampling = try samplingConfiguration(for: id)
            let asNPZ = output.hasSuffix(".npz")
            let dir = URL(fileURLWithPath: asNPZ ? output + ".parts" : output)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)

            let range = shard.range(of: num)
            let todo = range.filter { !FileManager.default.fileExists(atPath: Self.samplePath(dir, $0).path) }
            let generator = try GeneratorLoader.load(id, weights: weights, checkpoint: checkpoint, imageSize: imageSize)
            let note = generator.usesSeededWeights ? " on SEEDED weights (not real model outputs)" : ""
            log("generate: \(id.rawValue)\(note), samples \(range.lowerBound)..<\(range.upperBound) (shard \(shard)), \(range.count - todo.count) already done, seed \(seed)")
            let start = Date()
            var done = 0
            for chunk in stride(from: 0, to: todo.count, by: batch) {
                let idx = Array(todo[chunk..<min(chunk + batch, todo.count)])
                let labels = idx.map { schedule.classFor(sample: $0, seed: seed, numClasses: generator.numClasses) }
                let images = try generator.generate(
                    classes: labels, rngs: idx.map { SampleRNG(seed: seed, sample: $0) }, sampling: sampling)
                for (r, i) in idx.enumerated() {
                    let px = Array(images.pixels[(r * images.height * images.width * 3)..<((r + 1) * images.height * images.width * 3)])
                    let png = try ImageCodec.encodePNG(RGBImage(width: images.width, height: images.height, pixels: px))
                    try ImageCodec.writeAtomically(png, to: Self.samplePath(dir, i))
                    try ImageCodec.writeAtomically(Data("\(labels[r])\n".utf8), to: Self.labelPath(dir, i))
                }
                done += idx.count
                let rate = Double(done) / max(Date().timeIntervalSince(start), 1e-9)
                let eta = Double(todo.count - done) / max(rate, 1e-9)
                log(String(format: "  %d/%d  %.3f img/s  ETA %.0f s", done, todo.count, rate, eta))
            }
            try writeLabelsCSV(dir: dir, range: range)
            if asNPZ { try packNPZ(dir: dir, range: range) }
            print("wrote \(range.count) samples of \(id.rawValue)\(note) to \(output)")
        }

        static func samplePath(_ dir: URL, _ i: Int) -> URL { dir.appendingPathComponent(String(format: "%06d.png", i)) }
        static func labelPath(_ dir: URL, _ i: Int) -> URL { dir.appendingPathComponent(String(format: ".%06d.label", i)) }

        func samplingConfiguration(for id: GeneratorID) throws -> [SamplingConfiguration] {
            var s = id.publishedSampling
            func values(_ text: String?, _ name: String) throws -> [Float]? {
                guard let text else { return nil }
                let v = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
                guard !v.isEmpty, v.count <= s.count, v.allSatisfy({ $0 != nil }) else {
                    throw ValidationError("--\(name) takes \(s.count == 1 ? "one number" : "one or two comma-separated numbers")")
                }
                return v.map { $0! }
            }
            if let c = try values(cfg, "cfg") { for i in s.indices { s[i].cfgScale = c[min(i, c.count - 1)] } }
            if let t = try values(temperature, "temperature") { for i in s.indices { s[i].temperature = t[min(i, t.count - 1)] } }
            for i in s.indices {
                if let topK { s[i].topK = topK }
                if let topP { s[i].topP = topP }
            }
            return s
        }

        func writeLabelsCSV(dir: URL, range: Range<Int>) throws {
            var csv = "sample,class\n"
            for i in range {
                let text = try String(contentsOf: Self.labelPath(dir, i), encoding: .utf8)
                csv += "\(i),\(text.trimmingCharacters(in: .whitespacesAndNewlines))\n"
            }
            try ImageCodec.writeAtomically(Data(csv.utf8), to: dir.appendingPathComponent("labels.csv"))
        }

        /// Packs the shard's PNGs into an ADM-style batch, in sample-index order.
        func packNPZ(dir: URL, range: Range<Int>) throws {
            var pixels: [UInt8] = []
            var labels: [Int64] = []
            var (h, w) = (0, 0)
            for i in range {
                let img = try ImageCodec.decode(contentsOf: Self.samplePath(dir, i))
                (h, w) = (img.height, img.width)
                pixels += img.pixels
                labels.append(Int64(try String(contentsOf: Self.labelPath(dir, i), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))!)
            }
            let arr0 = NPYArray(dtype: .uint8, shape: [range.count, h, w, 3], data: pixels)
            try NPZ.write([("arr_0", arr0), ("arr_1", NPYArray(int64: labels, shape: [labels.count]))], to: URL(fileURLWithPath: output))
        }

        func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
    }
}

/// Builds generators from seeded weights or a checkpoint, strictly.
enum GeneratorLoader {
    /// Seeded weights, the `--checkpoint` file, or the registry's file (a missing file is an error
    /// naming it, its source and where to put it).
    static func weights(_ id: GeneratorID, weights: String, checkpoint: String?) throws -> Weights {
        if weights == "seeded" { return .seeded() }
        let url: URL
        if let checkpoint {
            url = URL(fileURLWithPath: checkpoint)
        } else {
            if let missing = WeightsRegistry.firstMissing(for: id.rawValue) {
                throw WeightsError.missing(id: missing.id, message: WeightsRegistry.missingMessage(for: missing))
            }
            // The generator's own file (LlamaGen GPTs also list the shared VQ file).
            let files = WeightsRegistry.files(usedBy: id.rawValue)
            let file = try (files.first { $0.usedBy == [id.rawValue] } ?? files.first).unwrap(or: "no weights registered for \(id.rawValue)")
            url = WeightsHome().path(for: file)
        }
        // LlamaGen: {'model': state_dict} (DDP) or a raw state dict (FSDP); Open-MAGVIT2: Lightning.
        let (sd, _) = try Checkpoint.load(url, select: id.isLlamaGen ? nil : "state_dict")
        if id.isLlamaGen, sd.keys.contains(where: { $0.hasPrefix("model.") }) {
            return Weights(stateDict: sd.selecting(prefix: "model."))
        }
        return Weights(stateDict: sd)
    }

    static func load(_ id: GeneratorID, weights: String, checkpoint: String?, imageSize: Int = 256) throws -> any ImageGenerator {
        let w = try self.weights(id, weights: weights, checkpoint: checkpoint)
        if id.isLlamaGen {
            // The token grid is imageSize/16 square (VQ-16); the rotary table follows the block size.
            let grid = imageSize / 16
            let gpt = try LlamaGenGPT(config: .preset(id.size, blockSize: grid * grid)!, weights: w)
            if weights == "seeded" { return LlamaGenGenerator(id: id, gpt: gpt, vq: try LlamaGenVQ(seeded: .vq16), usesSeededWeights: true) }
            // The VQ-16 tokenizer decodes every LlamaGen c2i model's tokens.
            let file = try WeightsRegistry.file("llamagen-vq16").unwrap(or: "no weights registered for llamagen-vq16")
            let url = WeightsHome().path(for: file)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw WeightsError.missing(id: file.id, message: WeightsRegistry.missingMessage(for: file))
            }
            let vq = try LlamaGenVQ(.vq16, stateDict: try Checkpoint.load(url).stateDict)
            return LlamaGenGenerator(id: id, gpt: gpt, vq: vq, usesSeededWeights: false)
        }
        return try OpenMAGVIT2Generator(config: .preset(id.size)!, weights: w)
    }
}
