import ArgumentParser
import DigitBench
import Foundation

/// Runs the rows of a suite file in process, through the same code the single commands use
/// (`reconstruct`'s `evaluate()`, `generate`, `fid`/`is`'s `InputResolver`), and writes the
/// report (`ReportWriter`: Markdown, CSV, JSON run record, SVG where the table has one).
///
/// Every row ends as a `RowResult`: `ok` with its numbers, `not-run` (weights or data missing,
/// or a task the runner cannot do yet: the reason is in `message`), or `failed` (the error).
/// Each row's result is also kept in `<output>/.work/rows/<row>.json` with a fingerprint of the
/// row's recipe, so `--resume` can skip rows whose record is complete.
struct SuiteRunner {
    struct Options {
        var suiteURL: URL
        /// Report directory (default `reports/<suite>`, relative to the current directory).
        var output: URL?
        /// `--weights seeded`: every row on seeded weights (labelled as such everywhere).
        var seeded = false
        var resume = false
        var shard = Shard.all
        /// Only these row ids (empty: all).
        var only: [String] = []
        /// File stem of the report (default: a UTC timestamp).
        var stem: String?
        /// Golden mode: stem `golden`, and the run record leaves out what changes from run to run
        /// (date, machine, toolchain, git commit, command, wall times) so the files can be committed
        /// and diffed.
        var golden = false
        var quiet = false
        var command: String?
        var environment = ProcessInfo.processInfo.environment
    }

    struct Outcome {
        var record: RunRecord
        var written: ReportWriter.Written
        /// "needs weights: …" lines of rows not run for missing weights.
        var needsWeights: [String]
        /// Rows that failed, or could not run for missing data.
        var problems: [String]
        /// Rows the runner cannot do yet (reported, not an error).
        var unsupported: [String]

        /// Non-zero when a row failed, lacked data, or lacked real weights.
        var exitCode: Int32 { needsWeights.isEmpty && problems.isEmpty ? 0 : 1 }
    }

    let options: Options
    var weightsMode: WeightsMode { options.seeded ? .seeded : .real }

    /// A row the runner could not attempt; becomes a `not-run` result.
    struct NotRun: Error {
        var kind: Kind
        var missing: String?
        var message: String
        enum Kind { case weights, data, unsupported }
    }

    func run() throws -> Outcome {
        let suite = try Suite.load(options.suiteURL)
        if suite.weights == .seeded || suite.rows.contains(where: { $0.weights == .seeded }), !options.seeded {
            throw ValidationError("\(options.suiteURL.path): suite \(suite.name) is meant for seeded weights (weights: seeded); run it with --weights seeded")
        }
        for id in options.only where suite.row(id) == nil {
            throw ValidationError(Suggest.unknown(id, kind: .baselineRow, available: suite.rows.map(\.id)))
        }
        let selected = suite.rows.filter { options.only.isEmpty || options.only.contains($0.id) }
        let mine = Array(selected[options.shard.range(of: selected.count)])
        let outDir = options.output ?? URL(fileURLWithPath: "reports").appendingPathComponent(suite.name)
        let work = outDir.appendingPathComponent(".work")
        let stem = options.stem ?? (options.golden ? "golden" : ReportWriter.timestamp())
        let baseline = try suite.baseline.map { try BaselineTable.load(resolve($0, relativeTo: options.suiteURL)) }

        log("suite \(suite.name) v\(suite.version): \(mine.count) of \(suite.rows.count) rows"
            + (options.shard == .all ? "" : " (shard \(options.shard))") + ", weights \(weightsMode.rawValue)"
            + (options.seeded ? " (SEEDED: numbers are test values, not comparable with published ones)" : "")
            + " -> \(outDir.path)/\(stem).*")

        var results: [RowResult] = []
        var needsWeights: [String] = [], problems: [String] = [], unsupported: [String] = []
        for (n, row) in mine.enumerated() {
            let tag = "[\(n + 1)/\(mine.count)] \(row.id)"
            let fingerprint = Self.fingerprint(row, suite: suite, weights: weightsMode)
            let recordURL = work.appendingPathComponent("rows").appendingPathComponent("\(row.id).json")
            if options.resume, let saved = try? StoredRow.load(recordURL), saved.fingerprint == fingerprint, saved.result.status == .ok {
                log("\(tag): complete in \(recordURL.path), skipped (--resume)")
                results.append(saved.result)
                continue
            }
            log("\(tag): \(row.task) \(row.registryID ?? "?")\(options.seeded ? " on SEEDED weights" : "")")
            let start = Date()
            var result: RowResult
            do {
                result = try runRow(row, reportDirectory: outDir, work: work.appendingPathComponent(row.id), stem: stem)
                result.wallTimeSeconds = Date().timeIntervalSince(start)
                let numbers = result.metrics.map { "\($0.metric) \($0.value.map { Format.shortest(($0 * 1e6).rounded() / 1e6) } ?? "-")" }
                log("\(tag): done in \(String(format: "%.1f", result.wallTimeSeconds!)) s: \(numbers.joined(separator: ", "))")
            } catch let e as NotRun {
                result = base(row, status: .notRun)
                result.missing = e.missing
                result.message = e.message
                switch e.kind {
                case .weights: needsWeights.append("\(row.id): \(e.message)")
                case .data: problems.append("\(row.id): \(e.message)")
                case .unsupported: unsupported.append("\(row.id): \(e.message)")
                }
                log("\(tag): not run: \(e.message)")
            } catch {
                result = base(row, status: .failed)
                result.message = "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
                result.wallTimeSeconds = Date().timeIntervalSince(start)
                problems.append("\(row.id): failed: \(result.message!)")
                log("\(tag): FAILED: \(error)")
            }
            try StoredRow(fingerprint: fingerprint, result: result).save(recordURL)
            results.append(result)
        }

        var record = RunRecord(
            suite: suite.name, suiteVersion: suite.version, suiteFile: relativePath(options.suiteURL), baseline: suite.baseline,
            digitBenchVersion: DigitBenchVersion.string, gitCommit: Self.gitCommit(near: options.suiteURL),
            toolchain: "Swift \(DoctorReport.compilerVersion)", date: RunRecord.now(),
            machine: MachineInfo.current(blas: Threads.blasDescription), command: options.command, rows: results)
        if options.golden { record = Self.normalizedForGolden(record) }
        let report = Report(record: record, baseline: baseline)
        let written = try ReportWriter.write(report, to: outDir, stem: stem)
        return Outcome(record: record, written: written, needsWeights: needsWeights, problems: problems, unsupported: unsupported)
    }

    /// The run record without what differs between identical runs (date, machine, toolchain,
    /// commit, command, wall times), for committed golden reports.
    static func normalizedForGolden(_ r: RunRecord) -> RunRecord {
        var g = r
        g.date = "not recorded (golden report)"
        g.gitCommit = nil
        g.toolchain = "not recorded (golden report)"
        g.command = nil
        g.machine = MachineInfo(hostname: "-", os: "not recorded", cpu: "not recorded", cores: 0, memoryGiB: 0, blas: nil)
        g.rows = g.rows.map { var row = $0; row.wallTimeSeconds = nil; return row }
        return g
    }

    // MARK: Rows

    func base(_ row: SuiteRow, status: RowStatus) -> RowResult {
        RowResult(
            id: row.id, task: row.task, model: row.registryID ?? "?", status: status, weights: weightsMode,
            evaluationProtocol: row.evaluationProtocol, dataset: row.dataset, seed: row.seed, numSamples: row.numSamples,
            metrics: row.metrics.map { MetricResult(metric: $0, value: nil, evaluationProtocol: row.evaluationProtocol(for: $0)) },
            tolerance: row.tolerance.isEmpty ? nil : row.tolerance)
    }

    func runRow(_ row: SuiteRow, reportDirectory: URL, work: URL, stem: String) throws -> RowResult {
        try checkWeights(row)
        let imageName = "images/\(options.golden ? "" : stem + "-")\(row.id).png"
        let grid = reportDirectory.appendingPathComponent(imageName)
        var result = base(row, status: .ok)
        let values: [String: Double]
        switch row.task {
        case "reconstruct":
            if let id = row.tokenizer, DiGITTokenizerID(rawValue: id) != nil {
                (values, result.numSamples) = try codebookOnly(row, id: DiGITTokenizerID(rawValue: id)!)
            } else {
                (values, result.numSamples) = try reconstruct(row, work: work, grid: grid)
                result.images = [imageName]
            }
        case "generate":
            (values, result.numSamples, result.numReference) = try generate(row, work: work, grid: grid)
            result.images = [imageName]
        case "linear-probe":
            throw NotRun(kind: .unsupported, message: "not supported by `suite run` yet: run `digit-bench linear-probe --model \(row.model ?? "digit-base") --train DIR --val DIR` for this row")
        default:
            throw NotRun(kind: .unsupported, message: "unknown task \(row.task)")
        }
        result.metrics = try row.metrics.map { m in
            guard let v = values[m] else { throw ValidationError("the \(row.task) run produced no \(m) (it has \(values.keys.sorted().joined(separator: ", ")))") }
            return MetricResult(metric: m, value: v, evaluationProtocol: row.evaluationProtocol(for: m))
        }
        result.checkpoints = checkpointUses(row)
        return result
    }

    /// `reconstruct` on the row's images; the numbers by suite metric name.
    func reconstruct(_ row: SuiteRow, work: URL, grid: URL) throws -> ([String: Double], Int) {
        guard let tokenizer = row.tokenizer else { throw ValidationError("reconstruct row without a tokenizer") }
        let (data, count) = try images(for: row, work: work)
        var args = ["--tokenizer", tokenizer, "--weights", weightsMode.rawValue, "--data", data,
                    "--grid", grid.path, "--grid-tile", "128"]
        if !row.metrics.contains("rfid") { args.append("--no-fid") }
        if row.protocols.values.contains("openmagvit2-2024") { args += ["--protocol", "openmagvit2-2024"] }
        if let b = row.options["batch"] { args += ["--batch", b] }
        if options.quiet { args.append("--quiet") }
        let r = try DigitBenchCommand.Reconstruct.parse(args).evaluate()
        let m = r.json["metrics"] as? [String: Any] ?? [:]
        func value(_ key: String) -> Double? { (m[key] as? [String: Any])?["value"] as? Double }
        var out: [String: Double] = [:]
        let proto2024 = { (metric: String) in row.evaluationProtocol(for: metric) == "openmagvit2-2024" }
        out["rfid"] = value("rfid")
        out["psnr"] = proto2024("psnr") ? value("psnr_openmagvit2_2024") : value("psnr")
        out["ssim"] = proto2024("ssim") ? value("ssim_openmagvit2_2024") : value("ssim")
        out["usage_pct"] = value("codebook_usage").map { $0 * 100 }
        out["perplexity"] = value("codebook_perplexity")
        out["bpp"] = value("bits_per_pixel")
        // rFID's Inception input protocol is the reconstruction protocol's (llamagen: adm, else pytorch-fid).
        if row.metrics.contains("rfid"), let want = row.evaluationProtocol(for: "rfid"),
            let used = (r.json["protocol"] as? String).flatMap(ReconProtocol.init(rawValue:))?.inception.rawValue, used != want
        {
            throw ValidationError("rFID: reconstruct computes it with the \(used) input protocol for \(tokenizer), the suite asks for \(want)")
        }
        return (out, count)
    }

    /// Decoder-less DiGIT tokenizers: codebook statistics of the row's images.
    func codebookOnly(_ row: SuiteRow, id: DiGITTokenizerID) throws -> ([String: Double], Int) {
        let dir = try datasetDirectory(row.dataset ?? "bundled")
        if options.seeded { note("\(id.rawValue) runs on SEEDED weights (DINOv2 encoder and centroids)") }
        let tokenizer = try DiGITCodebook.tokenizer(id, seeded: options.seeded, checkpoint: nil, home: WeightsHome(environment: options.environment))
        let dataset = try ImageFolderDataset(root: dir)
        let (histogram, count) = try DiGITCodebook.histogram(tokenizer, dataset: dataset, limit: row.numSamples)
        let u = CodebookUsage(histogram: histogram)
        return (["usage_pct": u.fraction * 100, "perplexity": u.perplexity], count)
    }

    /// `generate` into the work directory, then FID (and IS) of the samples against the row's
    /// reference, through `fid`/`is`'s input resolver.
    func generate(_ row: SuiteRow, work: URL, grid: URL) throws -> ([String: Double], Int, Int?) {
        guard let model = row.model else { throw ValidationError("generate row without a model") }
        guard GeneratorID(rawValue: model) != nil else {
            throw NotRun(kind: .unsupported, message: "not supported by `suite run` yet: \(model) generation is not wired into `digit-bench generate`")
        }
        guard let n = row.numSamples else { throw ValidationError("generate row without num_samples") }
        let samples = work.appendingPathComponent("samples-\(weightsMode.rawValue)")
        var args = ["--model", model, "--weights", weightsMode.rawValue, "--num", "\(n)", "--seed", "\(row.seed ?? 0)", "-o", samples.path]
        // Suites write per-sub-token values as "1.9/2.0"; `generate` takes "1.9,2.0".
        for (key, flag) in [("cfg", "--cfg"), ("classes", "--classes"), ("top_k", "--top-k"), ("top_p", "--top-p"), ("temperature", "--temperature"), ("batch", "--batch"), ("image_size", "--image-size")] {
            if let v = row.options[key] { args += [flag, key == "classes" ? v : v.replacingOccurrences(of: "/", with: ",")] }
        }
        let gen = try DigitBenchCommand.Generate.parse(args)
        do {
            try gen.run()
        } catch let e as ValidationError where e.message.contains("not wired") {
            throw NotRun(kind: .unsupported, message: "not supported by `suite run` yet: \(e.message)")
        }
        let sampleDataset = try ImageFolderDataset(root: samples)
        let tiles = try (0..<min(16, sampleDataset.count)).map { try sampleDataset.load($0) }
        let labels = try (0..<tiles.count).map { i in
            "CLASS " + (try String(contentsOf: DigitBenchCommand.Generate.labelPath(samples, i), encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try writeGrid(tiles, columns: min(4, tiles.count), labels: labels, tile: 128, to: grid)

        var out: [String: Double] = [:]
        var numReference: Int?
        let fidMetrics = row.metrics.filter { $0 == "fid" }
        if !fidMetrics.isEmpty {
            let proto = try InceptionProtocol(parsing: row.evaluationProtocol(for: "fid") ?? "adm")
            let reference = try referencePath(row, work: work)
            var resolver = InputResolver(options: try EvalOptions.parse(["--weights", weightsMode.rawValue, "--protocol", proto.rawValue] + (options.quiet ? ["--quiet"] : [])))
            let a = try resolver.statistics(samples.path, label: "fid samples")
            let b = try resolver.statistics(reference, label: "fid reference")
            let p = try resolver.commonProtocol([a, b])
            out["fid"] = try FrechetDistance.compute(a.stats, b.stats, protocol: p.frechetProtocol).value
            numReference = b.count
        }
        if row.metrics.contains("is") {
            let proto = try InceptionProtocol(parsing: row.evaluationProtocol(for: "is") ?? "torch-fidelity")
            var resolver = InputResolver(options: try EvalOptions.parse(["--weights", weightsMode.rawValue, "--protocol", proto.rawValue] + (options.quiet ? ["--quiet"] : [])))
            let (feats, _) = try resolver.features(samples.path, features: [.logitsUnbiased], label: "is samples")
            let logits = feats[.logitsUnbiased]!
            let splits = Int(row.options["is_splits"] ?? "") ?? min(10, n)
            let score = proto == .adm ? try InceptionScore.adm(logits: logits) : try InceptionScore.torchFidelity(logits: logits, splits: splits)
            out["is"] = score.mean
        }
        return (out, n, numReference)
    }

    // MARK: Inputs

    /// The row's images: the dataset directory, or (when `num_samples` asks for fewer) a file list
    /// of the first `num_samples` in dataset order.
    func images(for row: SuiteRow, work: URL) throws -> (String, Int) {
        let dir = try datasetDirectory(row.dataset ?? "bundled")
        let folder = try ImageFolderDataset(root: dir)
        let count = min(row.numSamples ?? folder.count, folder.count)
        if let n = row.numSamples, n > folder.count {
            note("\(row.id): num_samples \(n) but dataset \(row.dataset ?? "bundled") has \(folder.count) images; using \(folder.count)")
        }
        guard count < folder.count else { return (dir.path, count) }
        let list = work.appendingPathComponent("images.txt")
        let text = folder.files.prefix(count).map { dir.appendingPathComponent($0).path }.joined(separator: "\n") + "\n"
        try AtomicFile.write(text, to: list)
        return (list.path, count)
    }

    /// `bundled` (the sample images), else `$DIGIT_BENCH_DATA/<name>` or `$DIGIT_BENCH_HOME/data/<name>`.
    func datasetDirectory(_ name: String) throws -> URL {
        if name == "bundled" {
            guard let dir = bundledSamplesDirectory(environment: options.environment) else {
                throw NotRun(kind: .data, message: "the bundled sample images are missing (set DIGIT_BENCH_SAMPLES)")
            }
            return dir
        }
        let candidates = dataCandidates(name)
        if let hit = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) { return hit }
        throw NotRun(kind: .data, missing: name, message: "dataset \(name) missing: put it (an image folder) at \(candidates.map(\.path).joined(separator: " or "))")
    }

    func dataCandidates(_ name: String) -> [URL] {
        var c: [URL] = []
        if let d = options.environment["DIGIT_BENCH_DATA"], !d.isEmpty { c.append(URL(fileURLWithPath: d).appendingPathComponent(name)) }
        c.append(WeightsHome(environment: options.environment).root.appendingPathComponent("data").appendingPathComponent(name))
        return c
    }

    /// The FID reference of a generate row: `bundled` → the sample images preprocessed with the
    /// row's recipe at its resolution (written once into the work directory); a dataset name → its
    /// directory; otherwise a path (statistics .npz, ADM batch or folder), relative to the suite file
    /// or `$DIGIT_BENCH_DATA`.
    func referencePath(_ row: SuiteRow, work: URL) throws -> String {
        let ref = row.reference ?? "bundled"
        if ref == "bundled" {
            let src = try ImageFolderDataset(root: try datasetDirectory("bundled"))
            let size = row.resolution ?? 256
            let recipe = row.preprocessing ?? "center-crop-arr"
            let dir = work.appendingPathComponent("reference-\(recipe)-\(size)")
            for i in 0..<src.count {
                let url = dir.appendingPathComponent(String(format: "%06d.png", i))
                if FileManager.default.fileExists(atPath: url.path) { continue }
                let im = try src.load(i)
                let prepared: RGBImage
                switch recipe {
                case "center-crop-arr": prepared = Preprocess.centerCropArr(im, size: size)
                case "resize-center-crop": prepared = Preprocess.torchvisionResizeCenterCrop(im, size: size, filter: .bicubic)
                default: prepared = im
                }
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                try ImageCodec.writeAtomically(try ImageCodec.encodePNG(prepared), to: url)
            }
            return dir.path
        }
        if PublicIDs.datasets.contains(ref) { return try datasetDirectory(ref).path }
        let candidates = [resolve(ref, relativeTo: options.suiteURL)] + dataCandidates(ref)
        if let hit = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) { return hit.path }
        throw NotRun(kind: .data, missing: ref, message: "FID reference \(ref) missing: put it at \(candidates.map(\.path).joined(separator: " or "))")
    }

    // MARK: Weights

    /// Registry ids whose files the row loads: its model/tokenizer, its `checkpoints`, and the FID
    /// Inception when a metric needs it.
    func registryIDs(_ row: SuiteRow) -> [String] {
        var ids = [row.registryID].compactMap { $0 }
        if row.task == "generate", let t = row.tokenizer, t != row.model { ids.append(t) }
        if row.metrics.contains(where: { ["fid", "is", "rfid", "kid", "sfid", "precision", "recall"].contains($0) }) { ids.append("inception-v3") }
        return ids
    }

    /// Real-weights runs: every file the row needs must be present (no fallback to seeded weights).
    func checkWeights(_ row: SuiteRow) throws {
        guard !options.seeded else { return }
        let home = WeightsHome(environment: options.environment)
        var missing: [WeightFile] = []
        func usable(_ f: WeightFile) -> Bool { (try? WeightsRegistry.status(of: f, home: home, hash: false))?.isUsable == true }
        // The row's `checkpoints` when it lists them (e.g. the 256-px file of a model that also has a
        // 384-px one), else every file of its model/tokenizer; plus the Inception when needed. A file
        // whose alternative is present, or already listed as missing, is not listed.
        var needed = row.checkpoints.compactMap(WeightsRegistry.file)
        for id in registryIDs(row) where row.checkpoints.isEmpty || id == "inception-v3" {
            needed += WeightsRegistry.files(usedBy: id)
        }
        for f in needed where !missing.contains(f) && !usable(f) {
            if let alt = f.alternative.flatMap(WeightsRegistry.file), usable(alt) || missing.contains(alt) { continue }
            missing.append(f)
        }
        guard let first = missing.first else { return }
        let text = missing.map { Self.needsWeights($0, home: home) }.joined(separator: "; ")
        throw NotRun(kind: .weights, missing: first.fileName, message: text)
    }

    /// `needs weights: FILE (sha256 …, from …, put at …)`.
    static func needsWeights(_ f: WeightFile, home: WeightsHome) -> String {
        let from = f.url ?? "\(f.page) (download by hand)"
        return "needs weights: \(f.fileName) (\(f.checksumDescription), from \(from), put at \(home.path(for: f).path); `digit-bench weights fetch \(f.id)`)"
    }

    /// The files a row used: registry files (sha256 when published; nil for seeded runs).
    func checkpointUses(_ row: SuiteRow) -> [CheckpointUse] {
        guard !options.seeded else {
            return registryIDs(row).map { CheckpointUse(id: $0, file: "seeded", sha256: nil) }
        }
        let home = WeightsHome(environment: options.environment)
        var files: [WeightFile] = []
        for id in registryIDs(row) { for f in WeightsRegistry.files(usedBy: id) where !files.contains(f) { files.append(f) } }
        files += row.checkpoints.compactMap(WeightsRegistry.file).filter { !files.contains($0) }
        return files.filter { FileManager.default.fileExists(atPath: home.path(for: $0).path) }.map {
            CheckpointUse(id: $0.id, file: $0.fileName, sha256: $0.sha256)
        }
    }

    // MARK: Helpers

    static func fingerprint(_ row: SuiteRow, suite: Suite, weights: WeightsMode) -> String {
        func map(_ d: [String: String]) -> String { d.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }
        let parts: [String] = [
            "suite=\(suite.name) v\(suite.version)", "weights=\(weights.rawValue)", "id=\(row.id)", "task=\(row.task)",
            "model=\(row.model ?? "")", "tokenizer=\(row.tokenizer ?? "")", "checkpoints=\(row.checkpoints.joined(separator: ","))",
            "dataset=\(row.dataset ?? "")", "preprocessing=\(row.preprocessing ?? "")", "resolution=\(row.resolution.map(String.init) ?? "")",
            "reference=\(row.reference ?? "")", "protocol=\(row.evaluationProtocol ?? "")", "protocols=\(map(row.protocols))",
            "metrics=\(row.metrics.joined(separator: ","))", "num_samples=\(row.numSamples.map(String.init) ?? "")",
            "seed=\(row.seed.map(String.init) ?? "")", "options=\(map(row.options))", "digit-bench=\(DigitBenchVersion.string)",
        ]
        return parts.joined(separator: ";")
    }

    func resolve(_ path: String, relativeTo suiteURL: URL) -> URL {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path) }
        // Paths in suites are relative to the repository root (the suite file's parent's parent).
        let root = suiteURL.deletingLastPathComponent().deletingLastPathComponent()
        let fromRoot = root.appendingPathComponent(path)
        if FileManager.default.fileExists(atPath: fromRoot.path) { return fromRoot }
        return URL(fileURLWithPath: path)
    }

    /// The suite file as written relative to the repository root when it is inside one.
    func relativePath(_ url: URL) -> String {
        let dir = url.deletingLastPathComponent().lastPathComponent
        return dir == "suites" ? "suites/\(url.lastPathComponent)" : url.path
    }

    /// `git rev-parse --short=12 HEAD` in the suite's directory (nil outside a checkout).
    static func gitCommit(near url: URL) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", url.deletingLastPathComponent().path, "rev-parse", "--short=12", "HEAD"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        let s = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return s.isEmpty ? nil : s
    }

    func log(_ s: String) {
        FileHandle.standardError.write(Data("suite: \(s)\n".utf8))
    }
}

/// A row's result as kept for `--resume`: the result and the fingerprint of the recipe that made it.
struct StoredRow: Codable {
    var fingerprint: String
    var result: RowResult

    static func load(_ url: URL) throws -> StoredRow { try JSONDecoder().decode(StoredRow.self, from: Data(contentsOf: url)) }

    func save(_ url: URL) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(enc.encode(self), to: url)
    }
}
