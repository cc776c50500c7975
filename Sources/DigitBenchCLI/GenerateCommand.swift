import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sample images from LlamaGen, Open-MAGVIT2 or DiGIT (two-stage) generators, ready for FID.",
            discussion: """
                Writes one PNG per sample (OUT/000123.png, written atomically) plus OUT/labels.csv, or, with -o \
                FILE.npz, an ADM-style batch (arr_0: uint8 N x H x W x 3, arr_1: int64 labels) that \
                `digit-bench fid` and the ADM evaluator both read; the PNGs are then kept in FILE.npz.parts/ \
                until the batch is complete.

                Sample i's class and randomness depend only on (--seed, i): results do not change with \
                --batch, the thread count or --shard, and an interrupted run resumes where it stopped \
                (finished samples are skipped).

                Defaults are the published settings: LlamaGen cfg 2.0 (B, L), 1.75 (XL, XXL), 1.65 (3B), \
                top-k 0, top-p 1, temperature 1, generated at 256 px (B, L; --image-size 384 for the 384-px \
                checkpoints) or 384 px (XL, XXL, 3B) and resized bicubically to --image-size-eval 256 as \
                sample_c2i_ddp.py does; Open-MAGVIT2 cfg 1.9/2.0 (B), 1.9/1.9 (L), 1.75/1.85 (XL) \
                for its two sub-tokens, temperatures 1.0/1.0 (B) or 1.1/1.0 (L, XL); DiGIT stage 1 top-k \
                200 (digit-base), 400 (digit-large), 300 (-cls), stage 2 top-p 0.8, no CFG (--top-k sets \
                stage 1, --top-p stage 2; --checkpoint is stage 1, --stage2-checkpoint stage 2; the \
                unconditional models write label -1).

                Without the real checkpoint the command names the file, where it comes from and where to \
                put it, and exits non-zero. --weights seeded samples from seeded stand-in weights (tests, \
                dry runs); the output then says so.
                """)

        @Option(help: "Generator id: \(GeneratorID.allCases.map(\.rawValue).joined(separator: ", ")).")
        var model: String

        @Option(help: "The generator checkpoint (default: the released file under $DIGIT_BENCH_HOME/weights).")
        var checkpoint: String?

        @Option(name: .customLong("vq-checkpoint"), help: "LlamaGen: the VQ-16 tokenizer checkpoint (default: vq_ds16_c2i.pt under $DIGIT_BENCH_HOME/weights).")
        var vqCheckpoint: String?

        @Option(name: .customLong("stage2-checkpoint"), help: "DiGIT: the stage-2 checkpoint (default: digit_{base,large}_*_stage2.pt under $DIGIT_BENCH_HOME/weights); --checkpoint is stage 1.")
        var stage2Checkpoint: String?

        @Option(name: .customLong("image-size"), help: "LlamaGen: generated size, 256 (16x16 tokens; B, L) or 384 (24x24; default for XL, XXL, 3B), as upstream --image-size. With seeded weights or --checkpoint any multiple of 16 (smaller sizes make quick smoke runs).")
        var imageSize: Int?

        @Option(name: .customLong("image-size-eval"), help: "LlamaGen: size of the written images (default 256, or the generated size when smaller); 384-px samples are resized bicubically to it, as upstream --image-size-eval.")
        var imageSizeEval: Int?

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

        @Option(help: "Run seed; sample i uses (seed, i).")
        var seed: UInt64 = 0

        @Option(help: "Samples generated together.")
        var batch: Int = 8

        @OptionGroup var sharding: ShardOptions

        @Option(name: .shortAndLong, help: "Output directory of PNGs, or a .npz file (ADM batch).")
        var output: String

        func validate() throws {
            guard GeneratorID(rawValue: model) != nil else {
                throw ValidationError(Suggest.unknown(model, kind: .generator, available: GeneratorID.allCases.map(\.rawValue)))
            }
            guard ["real", "seeded"].contains(weights) else { throw ValidationError("--weights must be real or seeded") }
            guard num > 0, batch > 0 else { throw ValidationError("--num and --batch must be positive") }
            _ = try ClassSchedule(parsing: classes)
            if let imageSize, imageSize < 16 || imageSize % 16 != 0 { throw ValidationError("--image-size \(imageSize) is not a positive multiple of 16") }
        }

        func run() throws {
            let id = GeneratorID(rawValue: model)!
            let schedule = try ClassSchedule(parsing: classes)
            let shard = try sharding.resolve()
            let sampling = try samplingConfiguration(for: id)
            let asNPZ = output.hasSuffix(".npz")
            let output = asNPZ ? sharding.output(self.output, for: shard) : self.output
            let dir = URL(fileURLWithPath: asNPZ ? output + ".parts" : output)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)

            let range = shard.range(of: num)
            let todo = range.filter { !FileManager.default.fileExists(atPath: Self.samplePath(dir, $0).path) }
            let generator = try GeneratorLoader.load(
                id, weights: weights, checkpoint: checkpoint, vqCheckpoint: vqCheckpoint, stage2Checkpoint: stage2Checkpoint,
                imageSize: imageSize, evalSize: imageSizeEval)
            if !id.isClassConditional { log("generate: \(id.rawValue) is unconditional: labels are written as -1") }
            let note = generator.usesSeededWeights ? " on SEEDED weights (not real model outputs)" : ""
            log("generate: \(id.rawValue)\(note), samples \(range.lowerBound)..<\(range.upperBound) (shard \(shard)), \(range.count - todo.count) already done, seed \(seed)")
            let start = Date()
            var done = 0
            for chunk in stride(from: 0, to: todo.count, by: batch) {
                let idx = Array(todo[chunk..<min(chunk + batch, todo.count)])
                let labels = idx.map { id.isClassConditional ? schedule.classFor(sample: $0, seed: seed, numClasses: generator.numClasses) : -1 }
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
            // Shards share OUT: each writes its own labels file; `merge samples OUT` writes labels.csv.
            try writeLabelsCSV(dir: dir, range: range, name: shard == .all ? "labels.csv" : ShardSet.shardPath("labels.csv", shard))
            let stamp = ShardStamp(shard: shard, range: range, total: num, identity: identity(id: id, sampling: sampling))
            if asNPZ {
                try packNPZ(dir: dir, range: range, stamp: stamp, output: output)
            } else {
                try SampleBatch.writeStamp(stamp, dir: dir)
            }
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
            if id.isDiGIT {
                // DiGIT: top-k is stage 1's search, top-p stage 2's.
                if let topK { s[0].topK = topK; s[0].topP = 1 }
                if let topP { s[1].topP = topP; s[1].topK = 0 }
                return s
            }
            for i in s.indices {
                if let topK { s[i].topK = topK }
                if let topP { s[i].topP = topP }
            }
            return s
        }

        /// What shards of one `generate` run share: model, weights, sampling settings, seed, classes, count.
        func identity(id: GeneratorID, sampling: [SamplingConfiguration]) -> RunIdentity {
            RunIdentity(settings: [
                "command": "generate", "model": id.rawValue, "weights": weights,
                "checkpoint": checkpoint.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "registry",
                "num": "\(num)", "classes": classes, "seed": "\(seed)", "sampling": "\(sampling)",
            ])
        }

        func writeLabelsCSV(dir: URL, range: Range<Int>, name: String) throws {
            var csv = "sample,class\n"
            for i in range {
                let text = try String(contentsOf: Self.labelPath(dir, i), encoding: .utf8)
                csv += "\(i),\(text.trimmingCharacters(in: .whitespacesAndNewlines))\n"
            }
            try ImageCodec.writeAtomically(Data(csv.utf8), to: dir.appendingPathComponent(name))
        }

        /// Streams the shard's PNGs into an ADM-style batch, in sample-index order, with the shard
        /// stamp (one image in memory at a time; ZIP64 past 4 GiB).
        func packNPZ(dir: URL, range: Range<Int>, stamp: ShardStamp, output: String) throws {
            guard !range.isEmpty else { return }
            try ADMBatchWriter.pack(range.map { Self.samplePath(dir, $0) }, to: URL(fileURLWithPath: output), labels: true, label: { k in
                let url = Self.labelPath(dir, range.lowerBound + k)
                let text = try String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                guard let label = Int(text) else { throw ValidationError("\(url.path): not a class label: \(text)") }
                return label
            }, extra: [try SampleBatch.meta(stamp)])
        }

        func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
    }
}

/// Builds generators from seeded weights or a checkpoint, strictly.
enum GeneratorLoader {
    /// A registered file, or the error naming it, its source, checksum and where to put it.
    static func registered(_ fileID: String, home: WeightsHome = WeightsHome()) throws -> URL {
        try registered(WeightsRegistry.lookup(fileID), home: home)
    }

    static func registered(_ file: WeightFile, home: WeightsHome = WeightsHome()) throws -> URL {
        guard (try? WeightsRegistry.status(of: file, home: home, hash: false))?.isUsable == true else {
            throw WeightsError.missing(id: file.id, message: WeightsRegistry.missingMessage(for: file, home: home))
        }
        return home.path(for: file)
    }

    /// Open-MAGVIT2: seeded weights, the `--checkpoint` file, or the registry's (Lightning
    /// `state_dict` holding `transformer.*` and `first_stage_model.*`).
    static func weights(_ id: GeneratorID, weights: String, checkpoint: String?) throws -> Weights {
        if weights == "seeded" { return .seeded() }
        return Weights(stateDict: try Checkpoint.load(checkpointURL(id, checkpoint: checkpoint), select: "state_dict").0)
    }

    /// The file `weights(_:weights:checkpoint:)` reads: `checkpoint`, or the generator's own
    /// registered file (LlamaGen GPTs also list the shared VQ file); a missing one is an error naming it.
    static func checkpointURL(_ id: GeneratorID, checkpoint: String?) throws -> URL {
        if let checkpoint { return URL(fileURLWithPath: checkpoint) }
        if let missing = WeightsRegistry.firstMissing(for: id.rawValue) {
            throw WeightsError.missing(id: missing.id, message: WeightsRegistry.missingMessage(for: missing))
        }
        let files = WeightsRegistry.files(usedBy: id.rawValue)
        let file = try (files.first { $0.usedBy == [id.rawValue] } ?? files.first).unwrap(or: "no weights registered for \(id.rawValue)")
        return WeightsHome().path(for: file)
    }

    /// LlamaGen: the GPT (`{'model': state_dict}` from DDP training or a raw FSDP state dict, as
    /// `sample_c2i_ddp.py` accepts; a stray `freqs_cis` buffer, which upstream's non-strict load
    /// skips, is dropped) and the VQ-16 tokenizer (`{'model': state_dict}`).
    static func llamaGenWeights(_ id: GeneratorID, imageSize: Int, weights: String, checkpoint: String?, vqCheckpoint: String?) throws -> (gpt: Weights, vq: Weights) {
        if weights == "seeded" { return (.seeded(), .seeded()) }
        return (try llamaGenGPTWeights(id, imageSize: imageSize, weights: weights, checkpoint: checkpoint),
                Weights(stateDict: try ddpStateDict(vqCheckpoint.map { URL(fileURLWithPath: $0) } ?? registered("llamagen-vq16"))))
    }

    static func llamaGenGPTWeights(_ id: GeneratorID, imageSize: Int, weights: String, checkpoint: String?) throws -> Weights {
        if weights == "seeded" { return .seeded() }
        var sd = try ddpStateDict(checkpoint.map { URL(fileURLWithPath: $0) } ?? registered("llamagen-gpt-\(id.size.lowercased())-\(imageSize)"))
        sd["freqs_cis"] = nil
        return Weights(stateDict: sd)
    }

    /// `checkpoint['model']` when the file holds `{'model': …}`, else the file's state dict.
    private static func ddpStateDict(_ url: URL) throws -> StateDict {
        let (sd, _) = try Checkpoint.load(url)
        return sd.keys.contains(where: { $0.hasPrefix("model.") }) ? sd.selecting(prefix: "model.") : sd
    }

    /// DiGIT: stage 1 (`--checkpoint` or the registry's `digit-<size>[-cls]-stage1`), stage 2
    /// (`--stage2-checkpoint` or `digit-<size>-stage2`), and the MAGE VQGAN saved inside the stage-2
    /// checkpoint as `vqgan.*` (else the registry's `vqgan_jax_strongaug.ckpt`).
    static func digit(_ id: GeneratorID, weights: String, checkpoint: String?, stage2Checkpoint: String?) throws -> DiGITGenerator {
        if weights == "seeded" { return try DiGITGenerator.seeded(id: id) }
        let s1 = try checkpoint.map { URL(fileURLWithPath: $0) } ?? registered("digit-\(id.size)\(id.isClassConditional ? "-cls" : "")-stage1")
        let stage1 = try DiGITStage1.load(contentsOf: s1)
        let (stage2, vqgan) = try digitStage2(size: id.size, stage2Checkpoint: stage2Checkpoint)
        return try DiGITGenerator(id: id, stage1: stage1, stage2: stage2, vqgan: vqgan, usesSeededWeights: false)
    }

    /// DiGIT's pixel path: stage 2 (`--stage2-checkpoint` or the registry's `digit-<size>-stage2`)
    /// and the MAGE VQGAN saved in it as `vqgan.*` (else the registry's `vqgan_jax_strongaug.ckpt`).
    static func digitStage2(size: String, stage2Checkpoint: String?) throws -> (DiGITStage2, MAGEVQGAN) {
        let s2 = try stage2Checkpoint.map { URL(fileURLWithPath: $0) } ?? registered("digit-\(size)-stage2")
        let stage2 = try DiGITStage2.load(contentsOf: s2)
        let inStage2 = try Checkpoint.open(s2).stateDict(select: "model").selecting(prefix: "vqgan.")
        let vqgan = inStage2.count > 0
            ? try MAGEVQGAN(stateDict: inStage2)
            : try MAGEVQGAN(stateDict: Checkpoint.load(registered(MAGEVQGAN.id)).stateDict)
        return (stage2, vqgan)
    }

    static func load(_ id: GeneratorID, weights: String, checkpoint: String?, vqCheckpoint: String? = nil, stage2Checkpoint: String? = nil,
                     imageSize: Int? = nil, evalSize: Int? = nil) throws -> any ImageGenerator {
        if id.isDiGIT {
            guard imageSize == nil || imageSize == 256, vqCheckpoint == nil else {
                throw ValidationError("\(id.rawValue) generates 256-px images; --image-size and --vq-checkpoint are for LlamaGen models")
            }
            return try digit(id, weights: weights, checkpoint: checkpoint, stage2Checkpoint: stage2Checkpoint)
        }
        if stage2Checkpoint != nil { throw ValidationError("--stage2-checkpoint is for DiGIT models") }
        if id.isLlamaGen {
            let size = imageSize ?? LlamaGenGenerator.imageSizes(id).first!
            // The registry holds the released sizes; seeded weights and explicit checkpoints take any multiple of 16.
            guard LlamaGenGenerator.imageSizes(id).contains(size) || weights == "seeded" || checkpoint != nil else {
                throw ValidationError("\(id.rawValue) is released at \(LlamaGenGenerator.imageSizes(id).map(String.init).joined(separator: " or ")) px, not \(size)")
            }
            let (g, v) = try llamaGenWeights(id, imageSize: size, weights: weights, checkpoint: checkpoint, vqCheckpoint: vqCheckpoint)
            return try LlamaGenGenerator(id: id, imageSize: size, evalSize: evalSize ?? min(size, 256), gptWeights: g, vqWeights: v)
        }
        guard imageSize == nil || imageSize == 256, vqCheckpoint == nil else {
            throw ValidationError("\(id.rawValue) generates 256-px images from one checkpoint; --image-size and --vq-checkpoint are for LlamaGen models")
        }
        let w = try self.weights(id, weights: weights, checkpoint: checkpoint)
        return try OpenMAGVIT2Generator(config: .preset(id.size)!, weights: w)
    }
}
