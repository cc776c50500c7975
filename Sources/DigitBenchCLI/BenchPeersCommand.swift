import ArgumentParser
import DigitBench
import Dispatch
import Foundation

extension DigitBenchCommand.Bench {
    /// `digit-bench bench peers`: every workload of issue #13 timed on both sides in one run — ours
    /// in this process, the reference tool in a Python subprocess (tools/peers/bench_peers.py) — on
    /// the same inputs and thread count, with a check that both computed the same thing.
    struct Peers: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Side-by-side benchmark against the reference tools (PyTorch, pytorch-fid, torch-fidelity, scipy, Pillow, faiss, scikit-learn).",
            discussion: """
                Install the peers once with tools/bench-peers.sh (Debian python3-torch 1.13 CPU + a venv \
                with pinned pytorch-fid, torch-fidelity, scipy, faiss-cpu, scikit-learn, Pillow). Every \
                model runs on seeded weights on both sides (nothing is downloaded). Each row prints our \
                rate, the peer's, the speed-up against its target, the machine limit it is measured \
                against (sgemm GFLOP/s or memory GB/s, both measured in this run) and the peak RSS of \
                each side. Rows whose peer is missing print "peer unavailable" and the run goes on. \
                Results go to OUTPUT/peers.md and OUTPUT/peers.csv (written atomically). Numbers are \
                meaningful only on an otherwise idle machine.

                Rows: \(PeerRowID.allCases.map(\.rawValue).joined(separator: ", ")).
                """)

        @Option(help: "Python with the peers (default: $DIGIT_BENCH_PEERS_PYTHON, else ~/.cache/digit-bench/peers-venv/bin/python).")
        var python: String?

        @Option(help: "Threads for both sides (DIGIT_BENCH_THREADS here; torch/OpenMP/BLAS threads there).")
        var threads = 2

        @Option(help: "Only these rows (comma-separated).")
        var only: String?

        @Flag(help: "Small inputs (a 1–3 minute smoke run).")
        var quick = false

        @Option(name: [.short, .customLong("output")], help: "Directory for peers.md and peers.csv.")
        var output = "reports/bench"

        @Option(help: "shared/ directory (fixtures, seeded-weights tool; default $DIGIT_BENCH_SHARED or ../shared).")
        var shared: String?

        @Option(help: "The peer driver script.")
        var script = "tools/peers/bench_peers.py"

        @Option(help: "A note printed at the top of the report (e.g. the machine's load).")
        var note: String?

        @Option(help: "K-Means row shape N,D,K,ITERATIONS (default 65536,256,1024,10; DiGIT's codebook is D = 768, K = 8192, and faiss trains on at most 256·K points).")
        var kmeansShape: String?

        /// `--kmeans-shape` parsed, or nil for the default.
        func parsedKMeansShape() throws -> KMeansShape? {
            guard let kmeansShape else { return nil }
            let v = kmeansShape.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard v.count == 4, let n = v[0], let d = v[1], let k = v[2], let it = v[3], n > 0, d > 0, k > 0, k <= n, it > 0 else {
                throw ValidationError("--kmeans-shape must be N,D,K,ITERATIONS with positive values and K ≤ N, got '\(kmeansShape)'")
            }
            return KMeansShape(n: n, d: d, k: k, iterations: it)
        }

        func validate() throws {
            guard threads > 0 else { throw ValidationError("--threads must be positive") }
            if let only { _ = try PeerRowID.parse(only) }
            _ = try parsedKMeansShape()
        }

        func run() throws {
            // Threads.count reads DIGIT_BENCH_THREADS once, on first use: set it before anything does.
            setenv("DIGIT_BENCH_THREADS", "\(threads)", 1)
            if Threads.count != threads {
                FileHandle.standardError.write(Data("bench peers: warning: threads already fixed at \(Threads.count)\n".utf8))
            }
            let rows = try only.map(PeerRowID.parse) ?? PeerRowID.allCases
            let sharedRoot = shared ?? ProcessInfo.processInfo.environment["DIGIT_BENCH_SHARED"] ?? "../shared"
            let work = FileManager.default.temporaryDirectory.appendingPathComponent("digit-bench-peers-\(getpid())")
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: work) }

            let peer = PeerRunner(python: python, script: script, shared: sharedRoot, threads: threads)
            let loadStart = MachineProbe.loadAverage()
            say("bench peers: \(quick ? "quick" : "full") run, \(Threads.count) threads, rows \(rows.map(\.rawValue).joined(separator: ","))")
            say("bench peers: peer python \(peer.python ?? "not found") (\(peer.pythonVersion)), torch \(peer.torchVersion)")
            let gemmSize = quick ? 1024 : 2048
            let sgemm = 2 * pow(Double(gemmSize), 3) / 1e9 / GemmBench.seconds(m: gemmSize, n: gemmSize, k: gemmSize, repeat: 3)
            let bandwidth = MachineProbe.streamCopyGBs()
            say(String(format: "bench peers: sgemm %d³ %.1f GFLOP/s, stream copy %.1f GB/s", gemmSize, sgemm, bandwidth))

            let ctx = PeerContext(work: work, shared: URL(fileURLWithPath: sharedRoot), quick: quick, peer: peer,
                                  sgemmGFLOPs: sgemm, memoryGBs: bandwidth, kmeansShape: try parsedKMeansShape())
            var results: [PeerBenchRow] = []
            for id in rows {
                say("bench peers: \(id.rawValue) …")
                let dir = work.appendingPathComponent(id.rawValue)
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                let produced = try id.run(ctx.with(work: dir))
                for r in produced { say("  " + PeerConsole.line(r)) }
                results += produced
            }

            var machineNote = note ?? ""
            if machineNote.isEmpty, let l = Double(loadStart.split(separator: " ").first ?? ""), l > 0.5 * Double(Threads.count) {
                machineNote = "Measured while the machine was busy (load average \(loadStart) at the start): treat the numbers as indicative."
            }
            let machine = PeerBenchMachine(
                cpu: MachineProbe.cpuModel(), cores: ProcessInfo.processInfo.activeProcessorCount,
                memoryGiB: Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824, blas: Threads.blasDescription,
                torch: peer.torchVersion, python: peer.pythonVersion, threads: Threads.count,
                date: ISO8601DateFormatter().string(from: Date()), loadStart: loadStart, loadEnd: MachineProbe.loadAverage(),
                sgemmGFLOPs: sgemm, memoryGBs: bandwidth, note: machineNote)
            print(PeerConsole.table(results, machine: machine))
            let written = try PeerBenchReport.write(results, machine: machine, to: URL(fileURLWithPath: output))
            print("wrote \(written.markdown.path) and \(written.csv.path)")
        }
    }
}

// MARK: - Rows

/// The rows of the side-by-side table, in run order.
enum PeerRowID: String, CaseIterable {
    case inception, frechet, decode, tokenizer, lfq, dinov2, gpt, kmeans, probe

    static func parse(_ list: String) throws -> [PeerRowID] {
        try list.split(separator: ",").map { s in
            let name = s.trimmingCharacters(in: .whitespaces)
            guard let id = PeerRowID(rawValue: name) else {
                throw ValidationError("unknown row '\(name)'; rows: \(allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return id
        }
    }

    /// Python modules the peer side of this row imports.
    var modules: [String] {
        switch self {
        case .inception: ["torch", "torchvision", "pytorch_fid", "torch_fidelity"]
        case .frechet: ["scipy", "pytorch_fid"]
        case .decode: ["PIL"]
        case .tokenizer, .lfq, .dinov2, .gpt: ["torch"]
        case .kmeans: ["faiss"]
        case .probe: ["sklearn"]
        }
    }

    func run(_ c: PeerContext) throws -> [PeerBenchRow] {
        switch self {
        case .inception: try PeerRows.inception(c)
        case .frechet: [try PeerRows.frechet(c)]
        case .decode: [try PeerRows.decode(c)]
        case .tokenizer: [try PeerRows.tokenizer(c)]
        case .lfq: [try PeerRows.lfq(c)]
        case .dinov2: [try PeerRows.dinov2(c)]
        case .gpt: [try PeerRows.gpt(c, batch: 1), try PeerRows.gpt(c, batch: 16)]
        case .kmeans: [try PeerRows.kmeans(c)]
        case .probe: [try PeerRows.probe(c)]
        }
    }
}

/// The K-Means row's problem size.
struct KMeansShape {
    var n: Int, d: Int, k: Int, iterations: Int
}

struct PeerContext {
    var work: URL
    var shared: URL
    var quick: Bool
    var peer: PeerRunner
    var sgemmGFLOPs: Double
    var memoryGBs: Double
    /// `--kmeans-shape`, when given.
    var kmeansShape: KMeansShape? = nil

    func with(work: URL) -> PeerContext {
        var c = self
        c.work = work
        return c
    }

    func file(_ name: String) -> URL { work.appendingPathComponent(name) }
    var repeats: Int { quick ? 1 : 2 }

    /// Seconds `flops` take at the sgemm rate.
    func sgemmSeconds(_ flops: Double) -> Double { flops / (sgemmGFLOPs * 1e9) }

    /// Runs the peer side of `row`; nil (with the reason) when the peer is missing or failed.
    func runPeer(_ row: PeerRowID, _ args: [String] = []) -> (json: [String: Any]?, unavailable: String?) {
        if let missing = peer.missing(row.modules) { return (nil, missing) }
        do {
            return (try peer.run(row.rawValue, work: work, args: ["--repeats", "\(repeats)"] + args), nil)
        } catch {
            return (nil, "peer failed: \(error)")
        }
    }

    func loadNPY(_ name: String) throws -> NPYArray { try NPY.read(contentsOf: file(name)) }
}

/// Our side of each row. Each returns the row(s) with our time, the peer's time and a check.
enum PeerRows {
    // MARK: Inception

    static func inception(_ c: PeerContext) throws -> [PeerBenchRow] {
        let n = c.quick ? 4 : 16
        let photos = try PeerInputs.photos(c.shared)
        let crops = (0..<n).map { Recipe.centerCropArr(size: 256).apply(photos[$0 % photos.count]) }
        let batch = ImageBatch(images: crops)                                   // (N, 256, 256, 3) uint8
        try NPY.write(NPYArray(dtype: .uint8, shape: [n, 256, 256, 3], data: batch.pixels), to: c.file("images.npy"))

        let net = try InceptionV3(weights: .seeded())
        let bound = c.sgemmSeconds(net.gemmFlops()) * Double(n)
        var ours: [InceptionProtocol: (seconds: Double, pool3: [Float], rss: Int)] = [:]
        for p in [InceptionProtocol.pytorchFid, .torchFidelity] {
            PeakRSS.reset()
            var pool3: [Float] = []
            let s = try bestSeconds(c.repeats, warmup: true) { pool3 = try net.extract(batch, protocol: p, features: [.pool3])[.pool3]!.scalars }
            ours[p] = (s, pool3, PeakRSS.kilobytes())
        }
        let (json, unavailable) = c.runPeer(.inception)
        let peers = (json?["peers"] as? [[String: Any]]) ?? []
        let anchor = PeerInputs.inceptionAnchor(c.shared)
        return [(InceptionProtocol.pytorchFid, "pytorch-fid", "pytorch_fid_pool3.npy"),
                (.torchFidelity, "torch-fidelity", "torch_fidelity_pool3.npy")].map { p, name, file in
            let peer = peers.first { $0["name"] as? String == name }
            var check = "—"
            if peer != nil, let theirs = try? c.loadNPY(file).floats() {
                check = PeerChecks.close(ours[p]!.pool3, theirs, atol: 1e-4, rtol: 1e-4, what: "pool3 of \(n) images")
            }
            return PeerBenchRow(
                id: "inception-\(name)", workload: "Inception-v3 pool3 features, \(p.rawValue) protocol, 256² → 299², batch \(n)",
                unit: "img", units: Double(n), ourSeconds: ours[p]!.seconds, peer: name,
                peerVersion: peer?["version"] as? String ?? "", peerSeconds: peer?["seconds"] as? Double, ratioTarget: 1.5,
                bound: .sgemm, boundSeconds: bound, boundTarget: 0.6, ourPeakRSSKB: ours[p]!.rss,
                peerPeakRSSKB: json?["peak_rss_kb"] as? Int, check: check, unavailable: unavailable,
                notes: String(format: "%.2f GFLOP/image (convs + fc). Fixture anchor (%@ on torch 1.13, 2 threads, batch 1, loaded machine): %.2f s/img; ≈0.2 s/img estimated idle. Peer RSS is the whole Python process (both Inception peers).",
                              net.gemmFlops() / 1e9, name, name == "pytorch-fid" ? anchor.pytorchFid : anchor.torchFidelity))
        }
    }

    // MARK: Fréchet distance

    static func frechet(_ c: PeerContext) throws -> PeerBenchRow {
        let n = c.quick ? 2500 : 5000, dim = 2048
        func stats(_ key: String) throws -> GaussianStatistics {
            // As `bench frechet`: seeded features, squared (non-diagonal covariances).
            try GaussianStatistics(features: Tensor(shape: [n, dim], scalars: SeededWeights.values(key: key, shape: [n, dim]).map { $0 * $0 * 10 }))
        }
        let a = try stats("bench/frechet/A"), b = try stats("bench/frechet/B")
        for (i, s) in [a, b].enumerated() {
            try NPY.write(NPYArray(float64: s.mu, shape: [dim]), to: c.file("mu\(i + 1).npy"))
            try NPY.write(NPYArray(float64: s.sigma, shape: [dim, dim]), to: c.file("sigma\(i + 1).npy"))
        }
        PeakRSS.reset()
        var value = 0.0
        var method = ""
        let ours = try bestSeconds(c.repeats, warmup: false) {
            let fd = try FrechetDistance.compute(a, b)
            value = fd.value
            method = fd.method.description
        }
        let rss = PeakRSS.kilobytes()
        let (json, unavailable) = c.runPeer(.frechet)
        let peer = (json?["peers"] as? [[String: Any]])?.first
        var check = "—"
        if let theirs = json?["value"] as? Double {
            let rel = abs(value - theirs) / max(abs(theirs), 1e-300)
            check = String(format: "FID %.9g vs %.9g (rel. Δ %.1e) %@", value, theirs, rel, rel <= 1e-6 ? "agree" : "**differ**")
        }
        return PeerBenchRow(
            id: "frechet", workload: "Fréchet distance at d = 2048 (from μ, Σ; float64)", unit: "call", units: 1,
            ourSeconds: ours, peer: "scipy sqrtm (pytorch-fid calculate_frechet_distance)",
            peerVersion: peer?["version"] as? String ?? "", peerSeconds: peer?["seconds"] as? Double, ratioTarget: 10,
            ourPeakRSSKB: rss, peerPeakRSSKB: json?["peak_rss_kb"] as? Int, check: check, unavailable: unavailable,
            notes: "No roofline: LAPACK float64 eigenvalue problems (ours: \(method); scipy: Schur-based sqrtm). Fixture anchor (shared/fixtures/metrics/perf_anchor.json, loaded machine): scipy 18.1 s.")
    }

    // MARK: Decode + center_crop_arr

    static func decode(_ c: PeerContext) throws -> PeerBenchRow {
        let n = c.quick ? 48 : 256
        let sources = c.file("sources"), jpegs = c.file("jpegs")
        try PeerInputs.linkPhotos(c.shared, into: sources)
        try DigitBenchCommand.BenchDecode.synthesize(count: n, from: sources.path, into: jpegs.path)
        let ds = try ImageFolderDataset(root: jpegs)
        for i in 0..<ds.count { _ = try? Data(contentsOf: ds.root.appendingPathComponent(ds.files[i])) }  // page cache
        PeakRSS.reset()
        // The outputs are kept and summed after the clock stops, as the Pillow side does.
        var outputs: [RGBImage] = []
        let ours = try bestSeconds(c.repeats, warmup: true) {
            outputs = []
            outputs.reserveCapacity(n)
            try DatasetLoader(dataset: ds, recipe: .centerCropArr(size: 256), batchSize: 64).forEachBatch { b in
                outputs += b.images
            }
        }
        let rss = PeakRSS.kilobytes()
        var checksum: UInt64 = 0
        for im in outputs { for p in im.pixels { checksum &+= UInt64(p) } }
        let (json, unavailable) = c.runPeer(.decode, ["--size", "256"])
        let peer = (json?["peers"] as? [[String: Any]])?.first
        var check = "—"
        if let theirs = (json?["checksum"] as? NSNumber)?.uint64Value {
            check = theirs == checksum ? "identical pixels (byte sum \(checksum))" : "**byte sums differ**: \(checksum) vs \(theirs)"
        }
        return PeerBenchRow(
            id: "decode", workload: "decode JPEG (500×375, q90) + ADM center_crop_arr(256), \(n) files", unit: "img",
            units: Double(n), ourSeconds: ours, peer: "Pillow", peerVersion: peer?["version"] as? String ?? "",
            peerSeconds: peer?["seconds"] as? Double, ratioTarget: 1.5, ourPeakRSSKB: rss,
            peerPeakRSSKB: json?["peak_rss_kb"] as? Int, check: check, unavailable: unavailable,
            notes: "JPEGs made from Resources/samples and shared/fixtures/inception/images (`bench decode --synthesize`). Both sides use the same number of threads in one process (Pillow: a thread pool; it releases the GIL while decoding and resampling). No roofline: codec-bound.")
    }

    // MARK: Tokenizer

    static func tokenizer(_ c: PeerContext) throws -> PeerBenchRow {
        let model = try LlamaGenVQ(seeded: .vq16)
        let flops = PeerFlops.llamaGenVQ(model.config, side: 256)
        let anchor = PeerInputs.vqAnchor(c.shared)
        return try tokenizerRow(
            c, model, row: .tokenizer, photo: "fixtures/llamagen_vq/images/lg_256_astronaut.png", files: ("x.npy", "indices.npy", "decoded.npy"),
            workload: "LlamaGen VQ-16 encode + decode_code, one 256² image", peer: "torch (tools/peers/llamagen_vq.py)", flops: flops,
            notes: String(format: "%.1f GFLOP/image (convs + attention). Fixture anchor (upstream vq_model.py, torch 1.13, 2 threads, loaded machine, shared/fixtures/llamagen_vq/timings.json): %.1f s encode+decode.", flops / 1e9, anchor))
    }

    // MARK: LFQ tokenizer

    static func lfq(_ c: PeerContext) throws -> PeerBenchRow {
        // Raw (non-EMA) seeded weights: the torch port seeds the plain encoder.*/decoder.* keys.
        let model = try LFQTokenizer(.lfq256, weights: .seeded(), useEMA: false)
        let f = model.flops(imageSide: 256)
        return try tokenizerRow(
            c, model, row: .lfq, photo: "fixtures/lfq/images/omv2_256_astronaut.png", files: ("x_lfq.npy", "lfq_indices.npy", "lfq_decoded.npy"),
            workload: "Open-MAGVIT2 lfq-256 (v1) encode + decode, one 256² image", peer: "torch (tools/peers/openmagvit2_lfq.py)",
            flops: f.encoder + f.decoder,
            notes: String(format: "%.1f GFLOP/image (convs). The torch port matches upstream's fixtures (latent 1.4e-5, indices exact, decode 1.6e-5).", (f.encoder + f.decoder) / 1e9))
    }

    // MARK: DINOv2

    static func dinov2(_ c: PeerContext) throws -> PeerBenchRow {
        let n = c.quick ? 2 : 8
        let net = try DINOv2(.vitb14reg4, weights: .seeded(), interpolation: .digit)
        let photos = try PeerInputs.photos(c.shared)
        let crops = (0..<n).map { DiGITTokenizer.crop(photos[$0 % photos.count], path: .dump224) }
        let x = DINOv2Input.normalized(ImageBatch(images: crops))           // (N, 3, 224, 224)
        try NPY.write(NPYArray(x), to: c.file("x_dino.npy"))
        PeakRSS.reset()
        var out = Tensor(zeros: [1])
        let ours = try bestSeconds(c.repeats, warmup: false) { out = net.forwardFeatures(x) }
        let rss = PeakRSS.kilobytes()
        let (json, unavailable) = c.runPeer(.dinov2)
        let peer = (json?["peers"] as? [[String: Any]])?.first
        var check = "—"
        if peer != nil, let ref = try? c.loadNPY("dino_out.npy").floats() {
            check = PeerChecks.close(out.scalars, ref, atol: 2e-4, rtol: 0, what: "forward_features of \(n) images")
        }
        let flops = net.flops(height: 224, width: 224).reduce(0) { $0 + $1.flops }
        return PeerBenchRow(
            id: "dinov2", workload: "DINOv2 ViT-B/14-reg4 forward_features, 224², batch \(n)", unit: "img", units: Double(n),
            ourSeconds: ours, peer: "torch (tools/peers/dinov2_vit.py)", peerVersion: peer?["version"] as? String ?? "",
            peerSeconds: peer?["seconds"] as? Double, ratioTarget: 1.5, bound: .sgemm, boundSeconds: c.sgemmSeconds(flops) * Double(n),
            boundTarget: 0.6, ourPeakRSSKB: rss, peerPeakRSSKB: json?["peak_rss_kb"] as? Int, check: check, unavailable: unavailable,
            notes: String(format: "%.1f GFLOP/image (linear layers, attention, patch embedding). The torch port matches upstream's fixture (final norm 3.1e-6).", flops / 1e9))
    }

    /// encode + decode(tokens) of one 256² photo on both sides; the peer writes the code indices and
    /// the decoded tensor (`files`: input, indices, decoded) for the check.
    static func tokenizerRow(
        _ c: PeerContext, _ model: any ImageTokenizer, row: PeerRowID, photo: String, files: (input: String, indices: String, decoded: String),
        workload: String, peer peerName: String, flops: Double, notes: String
    ) throws -> PeerBenchRow {
        let image = try ImageCodec.decode(contentsOf: c.shared.appendingPathComponent(photo))
        let x = model.modelInput(ImageBatch(images: [image]))                 // (1, 3, 256, 256)
        try NPY.write(NPYArray(x), to: c.file(files.input))
        PeakRSS.reset()
        var tokens: TokenGrid?
        var decoded = Tensor(zeros: [1])
        let ours = try bestSeconds(c.repeats, warmup: false) {
            tokens = try model.encode(x).tokens
            decoded = try model.decode(tokens!)
        }
        let rss = PeakRSS.kilobytes()
        let (json, unavailable) = c.runPeer(row)
        let peer = (json?["peers"] as? [[String: Any]])?.first
        var check = "—"
        if peer != nil, let idx = try? c.loadNPY(files.indices).int64s(), let dec = try? c.loadNPY(files.decoded).floats() {
            let differ = zip(idx, tokens!.indices).filter { Int($0) != $1 }.count
            check = "indices: \(differ) of \(idx.count) differ; "
                + (differ == 0 ? PeerChecks.close(decoded.scalars, dec, atol: 3e-4, rtol: 0, what: "decoded") : "decoded not compared")
        }
        return PeerBenchRow(
            id: row.rawValue, workload: workload, unit: "img", units: 1,
            ourSeconds: ours, peer: peerName, peerVersion: peer?["version"] as? String ?? "",
            peerSeconds: peer?["seconds"] as? Double, ratioTarget: 1.5, bound: .sgemm, boundSeconds: c.sgemmSeconds(flops),
            boundTarget: 0.6, ourPeakRSSKB: rss, peerPeakRSSKB: json?["peak_rss_kb"] as? Int, check: check,
            unavailable: unavailable, notes: notes)
    }

    // MARK: GPT decoding

    /// Teacher-forced decoding of `batch` sequences (classes 207, 208, …, the same tokens fed to
    /// each), no CFG, both sides; tokens/s counts every sequence's tokens.
    static func gpt(_ c: PeerContext, batch: Int) throws -> PeerBenchRow {
        let steps = c.quick ? 16 : 64, checkRows = 8
        let config = LlamaGenGPTConfiguration.preset("B")!
        let model = try LlamaGenGPT(config: config, weights: .seeded())
        let tokens = (0..<steps).map { ($0 * 7919 + 13) % config.vocabSize }
        let classes = (0..<batch).map { (207 + $0) % config.numClasses }
        try NPY.write(NPYArray(int64: tokens.map(Int64.init), shape: [steps]), to: c.file("tokens.npy"))
        PeakRSS.reset()
        var logits = [Float]()  // (checkRows, batch, V)
        let ours = try bestSeconds(c.repeats, warmup: false) {
            logits = []
            _ = model.generate(classes: classes, sampling: SamplingConfiguration(), rngs: (0..<batch).map { SampleRNG(seed: 0, sample: $0) },
                               steps: steps, forcedTokens: Array(repeating: tokens, count: batch)) { step, l in
                if step < checkRows { logits += l.scalars }
            }
        }
        let rss = PeakRSS.kilobytes()
        let (json, unavailable) = c.runPeer(.gpt, ["--class-id", "207", "--batch", "\(batch)", "--check-rows", "\(checkRows)"])
        let peer = (json?["peers"] as? [[String: Any]])?.first
        var check = "—"
        if peer != nil, let theirs = try? c.loadNPY("logits.npy").floats() {
            check = PeerChecks.close(logits, theirs, atol: 5e-4, rtol: 0, what: "logits of the first \(checkRows) steps")
        }
        // Per step every block weight and the output head are read once for the whole batch:
        // memory-bound at batch 1, closer to the sgemm rate at batch 16.
        let s = config.blockShape
        let params = Double(config.nLayer * (4 * s.dim * s.dim + 3 * s.dim * s.ffnHidden) + config.vocabSize * s.dim)
        let perStep = max(c.sgemmSeconds(2 * params * Double(batch)), 4 * params / (c.memoryGBs * 1e9))
        let bound: PeerBenchRow.Bound = c.sgemmSeconds(2 * params * Double(batch)) > 4 * params / (c.memoryGBs * 1e9) ? .sgemm : .memory
        let anchor = PeerInputs.gptAnchor(c.shared)
        return PeerBenchRow(
            id: batch == 1 ? "gpt" : "gpt-b\(batch)", workload: "LlamaGen GPT-B decoding with KV cache, batch \(batch), \(steps) tokens each",
            unit: "token", units: Double(steps * batch), ourSeconds: ours, peer: "torch (tools/peers/llamagen_gpt.py)",
            peerVersion: peer?["version"] as? String ?? "", peerSeconds: peer?["seconds"] as? Double, ratioTarget: 1.5,
            bound: bound, boundSeconds: perStep * Double(steps), boundTarget: 0.6, ourPeakRSSKB: rss,
            peerPeakRSSKB: json?["peak_rss_kb"] as? Int, check: check, unavailable: unavailable,
            notes: String(format: "%.0f MB of weights read per step (memory bound = bytes / stream bandwidth; sgemm bound = 2 · params · batch FLOP). Projections: Gemm.linearRowInvariant (batch-invariant). Fixture anchor (upstream generate.py, torch 1.13, 2 threads, loaded machine, batch 1, shared/fixtures/gpt/perf_anchor.json): %.2f s/token.", 4 * params / 1e6, anchor))
    }

    // MARK: K-Means

    static func kmeans(_ c: PeerContext) throws -> PeerBenchRow {
        let (n, d, k, niter) = c.kmeansShape.map { ($0.n, $0.d, $0.k, $0.iterations) }
            ?? (c.quick ? (16384, 128, 256, 5) : (65536, 256, 1024, 10))
        let x = SeededWeights.values(key: "bench/kmeans/x", shape: [n, d])
        try NPY.write(NPYArray(float32: x, shape: [n, d]), to: c.file("x.npy"))
        PeakRSS.reset()
        var objective: [Double] = []
        let ours = try bestSeconds(c.repeats, warmup: false) {
            objective = try KMeans.train(x, dimension: d, k: k, parameters: KMeansParameters(niter: niter, seed: 1234)).iterations.map(\.objective)
        }
        let rss = PeakRSS.kilobytes()
        let (json, unavailable) = c.runPeer(.kmeans, ["--k", "\(k)", "--niter", "\(niter)"])
        let peer = (json?["peers"] as? [[String: Any]])?.first
        var check = "—"
        if let theirs = (json?["objective"] as? [Double])?.last, let mine = objective.last {
            let rel = abs(mine - theirs) / abs(theirs)
            check = String(format: "final objective %.6g vs %.6g (rel. Δ %.1e) %@", mine, theirs, rel, rel <= 1e-3 ? "agree" : "**differ**")
        }
        let train = min(n, k * 256)
        return PeerBenchRow(
            id: "kmeans", workload: "K-Means (faiss algorithm) \(n)×\(d), k = \(k), \(niter) iterations", unit: "iter",
            units: Double(niter), ourSeconds: ours, peer: "faiss-cpu", peerVersion: peer?["version"] as? String ?? "",
            peerSeconds: peer?["seconds"] as? Double, ratioTarget: 1, bound: .sgemm,
            boundSeconds: c.sgemmSeconds(2 * Double(train) * Double(k) * Double(d)) * Double(niter), ourPeakRSSKB: rss,
            peerPeakRSSKB: json?["peak_rss_kb"] as? Int, check: check, unavailable: unavailable,
            notes: "Whole train() divided by the iteration count (includes sampling and initialisation). Bound: the distance sgemm 2·n·k·d per iteration.")
    }

    // MARK: Linear probe

    static func probe(_ c: PeerContext) throws -> PeerBenchRow {
        let (n, d, classes) = c.quick ? (4000, 256, 50) : (20000, 512, 100)
        let (x, y) = DigitBenchCommand.Bench.Probe.synthetic(n: n, dim: d, classes: classes)
        try NPY.write(NPYArray(float32: x.values, shape: [n, d]), to: c.file("X.npy"))
        try NPY.write(NPYArray(int64: y.map(Int64.init), shape: [n]), to: c.file("y.npy"))
        // The peer first: its scikit-learn version decides the stopping tests (before 1.4 its tol
        // bounds the gradient of the summed loss; LogisticRegression.SklearnStopping).
        let (json, unavailable) = c.runPeer(.probe, ["--c", "0.1", "--max-iter", "100", "--tol", "1e-4"])
        let peer = (json?["peers"] as? [[String: Any]])?.first
        let stopping = (peer?["version"] as? String).flatMap(LogisticRegression.SklearnStopping.init(scikitLearnVersion:)) ?? .v1_4
        PeakRSS.reset()
        var top1 = 0.0
        let ours = try bestSeconds(c.repeats, warmup: false) {
            let fit = try DigitBenchCommand.Bench.Probe.fit(x, labels: y, classes: classes, c: 0.1, maxIter: 100, tol: 1e-4,
                                                            stopping: stopping)
            top1 = fit.head.evaluate(x, labels: y).top1
        }
        let rss = PeakRSS.kilobytes()
        var check = "—"
        if let theirs = json?["train_top1"] as? Double {
            check = String(format: "train top-1 %.2f %% vs %.2f %% %@", top1, theirs, abs(top1 - theirs) <= 1 ? "agree" : "**differ**")
        }
        return PeerBenchRow(
            id: "probe", workload: "linear probe: standardise + L-BFGS logistic regression, \(n)×\(d), \(classes) classes, C = 0.1",
            unit: "fit", units: 1, ourSeconds: ours, peer: "scikit-learn LogisticRegression",
            peerVersion: peer?["version"] as? String ?? "", peerSeconds: peer?["seconds"] as? Double, ratioTarget: 1,
            ourPeakRSSKB: rss, peerPeakRSSKB: json?["peak_rss_kb"] as? Int, check: check, unavailable: unavailable,
            notes: "Same C, max_iter 100, tol 1e-4 (as tools/bench_probe_sklearn.py), with the stopping tests of the peer's scikit-learn version "
                + "(\(stopping == .v1_4 ? "≥ 1.4" : "≤ 1.3")). No roofline: the iteration count depends on the solver.")
    }
}

// MARK: - Helpers

/// Minimum wall seconds of `body` over `repeats` runs (after one untimed run when `warmup`).
func bestSeconds(_ repeats: Int, warmup: Bool, _ body: () throws -> Void) rethrows -> Double {
    if warmup { try body() }
    var best = Double.infinity
    for _ in 0..<max(1, repeats) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
    }
    return best
}

/// This process's peak resident set (VmHWM), resettable between rows (Linux /proc/self/clear_refs "5").
enum PeakRSS {
    static func reset() { try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8) }

    static func kilobytes() -> Int {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}

enum PeerChecks {
    /// "<what> agree (max |Δ| …)" when every |a − b| ≤ atol + rtol·|b|, else "**differ** …".
    static func close(_ a: [Float], _ b: [Float], atol: Float, rtol: Float, what: String) -> String {
        guard a.count == b.count else { return "**\(what): \(a.count) vs \(b.count) values**" }
        var worst: Float = 0, ok = true
        for (x, y) in zip(a, b) {
            let d = abs(x - y)
            worst = max(worst, d)
            if !(d <= atol + rtol * abs(y)) { ok = false }
        }
        return String(format: "%@ %@ (max |Δ| %.1e)", what, ok ? "agree" : "**differ**", worst)
    }
}

/// A running FLOP count (2 per multiply-add) of square convolutions and taming-style ResNet blocks.
struct ConvFlops {
    var total = 0.0
    /// A k×k conv from `cin` to `cout` channels producing an `out`×`out` map.
    mutating func conv(_ cin: Int, _ cout: Int, _ k: Int, _ out: Int) { total += 2 * Double(cin * cout * k * k) * Double(out * out) }
    /// Two 3×3 convs, plus the 1×1 shortcut when the width changes.
    mutating func res(_ cin: Int, _ cout: Int, _ s: Int) {
        conv(cin, cout, 3, s); conv(cout, cout, 3, s)
        if cin != cout { conv(cin, cout, 1, s) }
    }
}

/// FLOPs (2 per multiply-add) of the VQ tokenizers' encoder + decoder.
enum PeerFlops {
    /// LlamaGen's VQ: every conv and the attention products.
    static func llamaGenVQ(_ cfg: LlamaGenVQConfig, side: Int) -> Double {
        var c = ConvFlops()
        func conv(_ cin: Int, _ cout: Int, _ k: Int, _ out: Int) { c.conv(cin, cout, k, out) }
        func res(_ cin: Int, _ cout: Int, _ s: Int) { c.res(cin, cout, s) }
        func attn(_ ch: Int, _ s: Int) {
            for _ in 0..<4 { conv(ch, ch, 1, s) }
            c.total += 2 * 2 * Double(s * s) * Double(s * s) * Double(ch)
        }
        let ch = cfg.ch, n = cfg.encoderChMult.count
        // Encoder
        var s = side, cin = ch
        conv(cfg.inChannels, ch, 3, s)
        for (i, m) in cfg.encoderChMult.enumerated() {
            for _ in 0..<cfg.numResBlocks { res(cin, ch * m, s); cin = ch * m; if i == n - 1 { attn(cin, s) } }
            if i != n - 1 { s /= 2; conv(cin, cin, 3, s) }
        }
        res(cin, cin, s); attn(cin, s); res(cin, cin, s)
        conv(cin, cfg.zChannels, 3, s); conv(cfg.zChannels, cfg.codebookEmbedDim, 1, s)
        // Decoder
        conv(cfg.codebookEmbedDim, cfg.zChannels, 1, s)
        cin = ch * cfg.decoderChMult[n - 1]
        conv(cfg.zChannels, cin, 3, s)
        res(cin, cin, s); attn(cin, s); res(cin, cin, s)
        for i in (0..<n).reversed() {
            let out = ch * cfg.decoderChMult[i]
            for _ in 0...cfg.numResBlocks { res(cin, out, s); cin = out; if i == n - 1 { attn(cin, s) } }
            if i != 0 { s *= 2; conv(cin, cin, 3, s) }
        }
        conv(cin, cfg.outChannels, 3, s)
        return c.total
    }

    /// MAGE's VQGAN at `side` (MAGEVQGAN.swift's Encoder/Decoder): convs, plus the nearest-code
    /// search (2·K·D per token). Average pooling, GroupNorm and swish are not counted.
    static func mageVQGAN(_ cfg: MAGEVQGANConfig, side: Int) -> Double {
        var c = ConvFlops()
        func conv(_ cin: Int, _ cout: Int, _ k: Int, _ out: Int) { c.conv(cin, cout, k, out) }
        func res(_ cin: Int, _ cout: Int, _ s: Int) { c.res(cin, cout, s) }
        let ch = cfg.ch, mult = cfg.chMult, n = mult.count
        // Encoder: conv_in, levels (avg-pool between), mid, conv_out 1×1.
        var s = side, cin = ch
        conv(cfg.inChannels, ch, 3, s)
        for i in 0..<n {
            for _ in 0..<cfg.numResBlocks { res(cin, ch * mult[i], s); cin = ch * mult[i] }
            if i != n - 1 { s /= 2 }
        }
        res(cin, cin, s); res(cin, cin, s)
        conv(cin, cfg.zChannels, 1, s)
        c.total += 2 * Double(cfg.nEmbed * cfg.embedDim) * Double(s * s)
        // Decoder: conv_in, mid, levels coarsest first (nearest ×2 then conv), conv_out.
        conv(cfg.zChannels, cin, 3, s)
        res(cin, cin, s); res(cin, cin, s)
        for i in (0..<n).reversed() {
            for _ in 0..<cfg.numResBlocks { res(cin, ch * mult[i], s); cin = ch * mult[i] }
            if i != 0 { s *= 2; conv(cin, cin, 3, s) }
        }
        conv(cin, cfg.outCh, 3, s)
        return c.total
    }
}

enum PeerInputs {
    /// The photos both sides use: Resources/samples and shared/fixtures/inception/images (PNG).
    static func photoURLs(_ shared: URL) -> [URL] {
        let dirs = [URL(fileURLWithPath: "Resources/samples"), shared.appendingPathComponent("fixtures/inception/images")]
        return dirs.flatMap { dir in
            ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
                .filter { $0.hasSuffix(".png") }.map { dir.appendingPathComponent($0) }
        }
    }

    static func photos(_ shared: URL) throws -> [RGBImage] {
        let urls = photoURLs(shared)
        guard !urls.isEmpty else { throw ValidationError("no photos in Resources/samples or \(shared.path)/fixtures/inception/images") }
        return try urls.map { try ImageCodec.decode(contentsOf: $0) }
    }

    /// Symlinks the photos into `dir` (distinct names) for `bench decode --synthesize`.
    static func linkPhotos(_ shared: URL, into dir: URL) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (i, u) in photoURLs(shared).enumerated() {
            try FileManager.default.createSymbolicLink(
                at: dir.appendingPathComponent(String(format: "%02d_%@", i, u.lastPathComponent)),
                withDestinationURL: u.standardizedFileURL.resolvingSymlinksInPath().absoluteURL)
        }
    }

    static func json(_ url: URL) -> [String: Any] {
        (try? Data(contentsOf: url)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
    }

    /// pytorch-fid / torch-fidelity seconds per image recorded with the fixtures (median of mins).
    static func inceptionAnchor(_ shared: URL) -> (pytorchFid: Double, torchFidelity: Double) {
        let m = json(shared.appendingPathComponent("fixtures/inception/perf_anchor.json"))["median_of_mins_s"] as? [String: Double]
        return (m?["pytorch_fid"] ?? .nan, m?["torch_fidelity"] ?? .nan)
    }

    /// Upstream VQ-16 encode + decode_code seconds on the astronaut photo (fixture timings).
    static func vqAnchor(_ shared: URL) -> Double {
        let t = json(shared.appendingPathComponent("fixtures/llamagen_vq/timings.json"))["timings"] as? [String: Any]
        let a = (t?["vq16"] as? [String: Any])?["astronaut"] as? [String: Double]
        return (a?["encode"] ?? .nan) + (a?["decode_code"] ?? .nan)
    }

    /// Upstream GPT-B median wall seconds per token (batch 1, no CFG).
    static func gptAnchor(_ shared: URL) -> Double {
        let g = json(shared.appendingPathComponent("fixtures/gpt/perf_anchor.json"))["llamagen_gpt_B"] as? [String: Any]
        return ((g?["cfg1_batch1"] as? [String: Any])?["median_wall_s_per_token"] as? Double) ?? .nan
    }
}

/// Machine facts for the report.
enum MachineProbe {
    static func cpuModel() -> String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = info.split(separator: "\n").first { $0.hasPrefix("model name") }
        return line.flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
    }

    static func loadAverage() -> String {
        let s = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        return s.split(separator: " ").prefix(3).joined(separator: " ")
    }

    /// Copy bandwidth (bytes read + written per second) of a 128 MiB buffer, split over the
    /// threads, best of 5 passes after one warm-up.
    static func streamCopyGBs(bytes: Int = 128 << 20) -> Double {
        let n = bytes / 4
        let src = [Float](repeating: 1, count: n)
        var dst = [Float](repeating: 0, count: n)
        let chunks = Threads.count * 4, step = (n + chunks - 1) / chunks
        let seconds = src.withUnsafeBufferPointer { s in
            dst.withUnsafeMutableBufferPointer { d in
                let (sp, dp) = (s.baseAddress!, d.baseAddress!)
                return time(repeat: 5) {
                    parallelFor(chunks) { c in
                        let lo = c * step, hi = min(n, lo + step)
                        if lo < hi { (dp + lo).update(from: sp + lo, count: hi - lo) }
                    }
                }
            }
        }
        return 2 * Double(n * 4) / seconds / 1e9
    }
}

/// Runs tools/peers/bench_peers.py rows with the peer Python.
struct PeerRunner {
    var python: String?
    var script: String
    var shared: String
    var threads: Int
    /// Importability of each module the rows need, probed once.
    var importable: [String: Bool] = [:]
    var torchVersion = "unavailable"
    var pythonVersion = "unavailable"

    init(python: String?, script: String, shared: String, threads: Int) {
        let env = ProcessInfo.processInfo.environment
        let venv = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/digit-bench/peers-venv/bin/python").path
        self.python = python ?? env["DIGIT_BENCH_PEERS_PYTHON"] ?? (FileManager.default.isExecutableFile(atPath: venv) ? venv : nil)
        (self.script, self.shared, self.threads) = (script, shared, threads)
        guard let py = self.python else { return }
        let modules = Set(PeerRowID.allCases.flatMap(\.modules)).sorted()
        let probe = """
            import importlib, importlib.util, json, platform
            out = {m: importlib.util.find_spec(m) is not None for m in \(modules)}
            out["_python"] = platform.python_version()
            try:
                import torch; out["_torch"] = torch.__version__
            except Exception:
                out["_torch"] = "unavailable"
            print(json.dumps(out))
            """
        guard let (code, text) = try? Self.exec(py, ["-c", probe], environment: [:]), code == 0,
              let obj = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        else { return }
        for m in modules { importable[m] = obj[m] as? Bool ?? false }
        torchVersion = obj["_torch"] as? String ?? "unavailable"
        pythonVersion = obj["_python"] as? String ?? "unavailable"
    }

    /// nil when every module imports, else why the row's peer is unavailable.
    func missing(_ modules: [String]) -> String? {
        guard python != nil else { return "no peer python (--python, $DIGIT_BENCH_PEERS_PYTHON or tools/bench-peers.sh)" }
        guard FileManager.default.fileExists(atPath: script) else { return "\(script) not found (run from the repository root or pass --script)" }
        let absent = modules.filter { importable[$0] != true }
        return absent.isEmpty ? nil : "missing python modules: \(absent.joined(separator: ", "))"
    }

    /// Runs one row; the result is the JSON object on the last line of stdout.
    func run(_ row: String, work: URL, args: [String]) throws -> [String: Any] {
        let threadEnv = ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"].reduce(into: [String: String]()) { $0[$1] = "\(threads)" }
        let (code, text) = try Self.exec(python!, [script, row, "--work", work.path, "--threads", "\(threads)", "--shared", shared] + args,
                                         environment: threadEnv, passStderr: true)
        guard code == 0 else { throw ValidationError("\(script) \(row) exited with status \(code)") }
        guard let last = text.split(separator: "\n").last,
              let obj = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any]
        else { throw ValidationError("\(script) \(row) printed no JSON result") }
        return obj
    }

    static func exec(_ executable: String, _ args: [String], environment: [String: String], passStderr: Bool = false) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = passStderr ? FileHandle.standardError : FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// Console rendering of the rows.
enum PeerConsole {
    static func line(_ r: PeerBenchRow) -> String {
        var s = "\(r.id): ours \(PeerBenchReport.rate(r.ourRate, unit: r.unit))"
        if let u = r.unavailable {
            s += "; \(PeerBenchReport.unavailableHint) (\(u))"
        } else {
            s += ", \(r.peer) \(PeerBenchReport.rate(r.peerRate, unit: r.unit))"
            if let x = r.ratio { s += String(format: " → %.2f× (target %@)", x, PeerBenchReport.ratioTargetText(r.ratioTarget)) }
        }
        if let f = r.fractionOfBound { s += String(format: "; %.0f%% of the %@ bound", 100 * f, r.bound.rawValue) }
        return s + "; " + r.check
    }

    static func table(_ rows: [PeerBenchRow], machine m: PeerBenchMachine) -> String {
        var s = "\n\(m.cpu), \(m.cores) cores, \(m.threads) threads; sgemm \(String(format: "%.1f", m.sgemmGFLOPs)) GFLOP/s, "
            + "memory \(String(format: "%.1f", m.memoryGBs)) GB/s; torch \(m.torch)\n"
        for r in rows {
            s += "\n\(r.workload)\n"
            s += "  digit-bench   \(PeerBenchReport.rate(r.ourRate, unit: r.unit))   peak RSS \(r.ourPeakRSSKB.map { "\($0 / 1024) MB" } ?? "—")\n"
            if r.unavailable != nil {
                s += "  \(r.peer): \(PeerBenchReport.unavailableHint)\n"
            } else {
                s += "  \(r.peer) \(r.peerVersion)   \(PeerBenchReport.rate(r.peerRate, unit: r.unit))   peak RSS \(r.peerPeakRSSKB.map { "\($0 / 1024) MB" } ?? "—")\n"
                s += "  speed-up      \(r.ratio.map { String(format: "%.2f×", $0) } ?? "—") (target \(PeerBenchReport.ratioTargetText(r.ratioTarget)))\n"
            }
            if r.bound != .none {
                s += "  limit         \(PeerBenchReport.boundText(r, machine: m)): \(r.fractionOfBound.map { String(format: "%.0f%%", 100 * $0) } ?? "—") of the bound"
                s += r.boundTarget.map { String(format: " (target ≥ %.0f%%)", 100 * $0) } ?? ""
                s += "\n"
            }
            s += "  check         \(r.check)\n"
            if !r.notes.isEmpty { s += "  notes         \(r.notes)\n" }
        }
        return s
    }
}

private func say(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
