import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct Prepare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply a preprocessing recipe to a dataset and write PNGs or an ADM .npz batch (FID reference sets).",
            discussion: """
                Reproduces the step run today with LlamaGen's val.sh / ADM's center_crop_arr or DiGIT's \
                prepare_imgnet_val.py: every image is decoded as Pillow does, transformed by the recipe \
                exactly as the reference code does, and written as PNG under OUT, mirroring the input's \
                relative paths (so an ImageFolder tree stays a tree).

                Recipes: adm-N (ADM/LlamaGen center_crop_arr), torchvision-N (Resize(N, bicubic) + \
                CenterCrop(N), DiGIT/MAGE validation), torchvision-bilinear-N, pil-<filter>:WxH \
                (Image.resize; filters box, bilinear, hamming, bicubic, lanczos), reduce:F or reduce:FXxFY, none.

                With -o FILE.npz the result is an ADM-style batch (arr_0 uint8 N x H x W x 3 in dataset \
                order, plus arr_1 int64 labels with --imagefolder), the file `digit-bench fid`, \
                LlamaGen's and ADM's evaluator read as a reference set: the PNGs are written to \
                FILE.npz.parts/ first (that is what makes it resumable) and then streamed into the .npz \
                one image at a time, so memory stays bounded and batches past 4 GiB get ZIP64 fields. \
                Delete FILE.npz.parts/ afterwards if you don't need the PNGs.

                Streaming with bounded memory (one batch decoded at a time, in parallel); resumable \
                (outputs that exist are skipped, every file is written atomically); --shard i/N \
                processes the i-th contiguous part. A record (prepare-record[-shard-i-of-N].json) lists \
                counts and skipped files.
                """)

        @Argument(help: "An image directory (recursive), an ImageFolder tree (with --imagefolder) or a .txt file list.")
        var input: String

        @Option(name: .shortAndLong, help: "Output directory of PNGs, or FILE.npz for an ADM-style batch.")
        var output: String

        @Option(help: "Preprocessing recipe, e.g. adm-256, torchvision-256, pil-bicubic:299x299.")
        var recipe: String

        @Flag(help: "Treat INPUT as a torchvision ImageFolder tree (class = sorted sub-directory).")
        var imagefolder = false

        @Option(name: .customLong("on-error"), help: "fail (default) or skip unreadable images (skips are recorded).")
        var onError: String = "fail"

        @OptionGroup var sharding: ShardOptions

        @Option(help: "Images decoded in parallel per batch.")
        var batchSize = 64

        @Option(help: "Process at most this many images of the shard (smoke tests).")
        var limit: Int?

        func run() throws {
            let recipe = try Recipe(parsing: self.recipe)
            guard let policy = OnError(rawValue: onError) else {
                throw ValidationError("--on-error must be fail or skip")
            }
            let shard = try sharding.resolve()
            let asNPZ = output.lowercased().hasSuffix(".npz")
            var dataset = try openDataset(input, imageFolderTree: imagefolder)
            if let limit { dataset = LimitedDataset(base: dataset, limit: min(limit, dataset.count)) }
            let outDir = URL(fileURLWithPath: asNPZ ? output + ".parts" : output)
            try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
            let names = OutputNames(dataset: dataset)
            let ds = dataset
            let loader = DatasetLoader(
                dataset: dataset, recipe: recipe, batchSize: batchSize, onError: policy, shard: shard,
                isDone: { i in FileManager.default.fileExists(atPath: outDir.appendingPathComponent(names.name(i, in: ds)).path) })
            let todo = loader.indices
            let present = todo.filter { loader.isDone!($0) }.count
            var written = 0
            let start = Date()
            let skipped = try loader.forEachBatch { batch in
                // Encoding is independent per image: run it in parallel too.
                var errors = [Error?](repeating: nil, count: batch.images.count)
                errors.withUnsafeMutableBufferPointer { errs in
                    parallelFor(batch.images.count) { j in
                        do {
                            let url = outDir.appendingPathComponent(names.name(batch.indices[j], in: ds))
                            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                            try ImageCodec.writeAtomically(ImageCodec.encodePNG(batch.images[j]), to: url)
                        } catch { errs[j] = error }
                    }
                }
                if let e = errors.compactMap({ $0 }).first { throw e }
                written += batch.images.count
                Progress.report(done: written + present, total: todo.count, since: start, extra: "written \(written)")
            }
            FileHandle.standardError.write("\n".data(using: .utf8)!)
            let record = PrepareRecord(
                digitBench: DigitBenchVersion.string, input: input, output: output, recipe: recipe.description,
                shard: shard.description, items: todo.count, written: written, alreadyPresent: present,
                skipped: skipped, seconds: Date().timeIntervalSince(start))
            let name = shard.count == 1 ? "prepare-record.json" : "prepare-record-shard-\(shard.index)-of-\(shard.count).json"
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try ImageCodec.writeAtomically(encoder.encode(record), to: outDir.appendingPathComponent(name))
            if asNPZ {
                // Shards share OUT.npz.parts/ and each packs its own OUT.shard-i-of-N.npz.
                let npz = sharding.output(output, for: shard)
                let n = try packADMBatch(indices: todo.filter { loader.isDone!($0) }, dataset: ds, names: names, from: outDir, to: npz)
                print("\(npz): \(n) images packed (arr_0\(imagefolder ? " + arr_1 labels" : ""))")
            }
            print("\(recipe): \(written) written, \(present) already present, \(skipped.count) skipped of \(todo.count) (shard \(shard)) -> \(asNPZ ? outDir.path : output)")
            for s in skipped { print("skipped \(s.id): \(s.reason)") }
        }
    }
}

extension DigitBenchCommand.Prepare {
    /// Streams the prepared PNGs (in dataset order) into the ADM batch at `output`.
    func packADMBatch(indices: [Int], dataset: any ImageDataset, names: OutputNames, from dir: URL, to output: String) throws -> Int {
        guard !indices.isEmpty else { throw ValidationError("nothing to pack into \(output): no image was prepared") }
        let start = Date()
        try ADMBatchWriter.pack(indices.map { dir.appendingPathComponent(names.name($0, in: dataset)) }, to: URL(fileURLWithPath: output),
                                labels: imagefolder, label: { dataset.label(indices[$0]) }) { done in
            if done % 256 == 0 || done == indices.count { Progress.report(done: done, total: indices.count, since: start, extra: "packing \(output)") }
        }
        FileHandle.standardError.write("\n".data(using: .utf8)!)
        return indices.count
    }
}

/// What `prepare` records next to its outputs.
struct PrepareRecord: Codable {
    var digitBench: String
    var input: String
    var output: String
    var recipe: String
    var shard: String
    var items: Int
    var written: Int
    var alreadyPresent: Int
    var skipped: [SkippedItem]
    var seconds: Double
}

/// Output file names: the item's relative path with a .png extension, or its zero-padded index when
/// the path is absolute or leaves the directory.
struct OutputNames: Sendable {
    let digits: Int
    init(dataset: any ImageDataset) { digits = max(6, String(dataset.count).count) }

    func name(_ index: Int, in dataset: any ImageDataset) -> String {
        let id = dataset.itemID(index)
        if !id.hasPrefix("/") && !id.split(separator: "/").contains("..") && !id.contains("[") {
            return (id as NSString).deletingPathExtension + ".png"
        }
        let s = String(index)
        return String(repeating: "0", count: max(0, digits - s.count)) + s + ".png"
    }
}

/// The first `limit` items of a dataset.
struct LimitedDataset: ImageDataset {
    let base: any ImageDataset
    let limit: Int
    var source: String { base.source }
    var count: Int { limit }
    func itemID(_ index: Int) -> String { base.itemID(index) }
    func label(_ index: Int) -> Int? { base.label(index) }
    func load(_ index: Int) throws -> RGBImage { try base.load(index) }
}

/// One-line progress with ETA on stderr.
enum Progress {
    static func report(done: Int, total: Int, since start: Date, extra: String = "") {
        let elapsed = Date().timeIntervalSince(start)
        let rate = Double(done) / max(elapsed, 1e-9)
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let line = String(format: "\r%d/%d  %.1f/s  ETA %.0fs  %@", done, total, rate, eta, extra)
        FileHandle.standardError.write(line.data(using: .utf8)!)
    }
}
