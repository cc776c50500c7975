@testable import DigitBenchCLI
import DigitBench
import Foundation
import Testing
import _DigitTestSupport

/// `stats`, `fid`, `merge stats`, weights handling and bad inputs of the evaluation commands,
/// on seeded weights and three small fixture photos (each costs one 299x299 Inception pass).
@Suite(.serialized) struct EvalCommandTests {
    /// The fixture photos used, in folder (sorted) order, and their rows in fixtures/inception/*.npy.
    static let images = [("hubble_crop299.png", 4), ("motorcycle_box32.png", 5), ("rocket_crop256.png", 3)]

    static func tempDir(_ tag: String) throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("evalcli-\(tag)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    /// A folder with copies of the small fixture photos.
    static func imageFolder() throws -> URL {
        let dir = try tempDir("images")
        for (name, _) in images {
            try FileManager.default.copyItem(at: Fixtures.url("inception", "images/" + name), to: dir.appendingPathComponent(name))
        }
        return dir
    }

    static func run(_ args: [String]) throws {
        var cmd = try DigitBenchCommand.parseAsRoot(args)
        try cmd.run()
    }

    static func arrays(_ url: URL) throws -> [String: NPYArray] {
        Dictionary(uniqueKeysWithValues: try NPZ.read(contentsOf: url).map { ($0.name, $0.array) })
    }

    // Runs the built `digit-bench` binary (CLIBinary) rather than capturing this process's stdout,
    // which Swift Testing and parallel tests also write to.
    @Test func seededStatsReproduceLibraryAndFixture() throws {
        let dir = try Self.imageFolder(), out = try Self.tempDir("out")
        defer { try? FileManager.default.removeItem(at: dir); try? FileManager.default.removeItem(at: out) }
        let stats = out.appendingPathComponent("s.npz")
        let statsRun = try CLIBinary.run(["stats", dir.path, "-o", stats.path, "--weights", "seeded", "--protocol", "pytorch-fid", "--batch", "2", "--quiet"])
        try #require(statsRun.status == 0, "digit-bench stats failed: \(statsRun.stderr)")
        let a = try Self.arrays(stats)
        let mu = try #require(a["mu"]).doubles()
        #expect(a["sigma"]?.shape == [2048, 2048] && a["count"]?.int64s() == [3])
        let meta = try #require(a[StatsFile.metaKey])
        let metaText = String(decoding: meta.data, as: UTF8.self)
        #expect(metaText.contains("\"seeded\":true") && metaText.contains("pytorch-fid"), "\(metaText)")

        // Direct library call: same network, same protocol, one image at a time, float64 mean.
        let net = try InceptionV3(weights: .seeded())
        var direct = [Double](repeating: 0, count: 2048)
        for (name, _) in Self.images {
            let img = try ImageCodec.decode(contentsOf: dir.appendingPathComponent(name))
            let f = try net.extract(ImageBatch(images: [img]), protocol: .pytorchFid, features: [.pool3])[.pool3]!.scalars
            for j in 0..<2048 { direct[j] += Double(f[j]) }
        }
        direct = direct.map { $0 / 3 }
        // Same float32 rows summed in float64 in another order: ≤ 1e-13 relative (3 terms, ~1e-16 each).
        let worstLib = zip(mu, direct).map { abs($0 - $1) / max(abs($1), 1e-30) }.max()!
        #expect(worstLib <= 1e-13, "stats mu vs library mean: worst relative \(worstLib)")

        // pytorch-fid's own pool3 on these photos (fixture): README tolerance 1e-4 + 1e-4·|expected|.
        let oracle = try Fixtures.npy("inception", "pfid_pool3.npy").floats()
        var worst = 0.0
        for j in 0..<2048 {
            let e = Self.images.map { Double(oracle[$0.1 * 2048 + j]) }.reduce(0, +) / 3
            worst = max(worst, abs(mu[j] - e) - (1e-4 + 1e-4 * abs(e)))
        }
        #expect(worst <= 0, "mu exceeds the pool3 tolerance by \(worst)")

        // fid(folder, its own statistics file) ≈ 0. Σ has rank 2 (3 images): Cholesky refuses, the
        // eigen form zeroes the null space, so what is left is rounding: |FID| ≤ 1e-9 · (tr Σ1 + tr Σ2).
        let s = try StatsFile.read(stats).stats
        let fd = try FrechetDistance.compute(s, s)
        #expect(fd.method.id == "eigen", "\(fd.method)")
        #expect(abs(fd.value) <= 1e-9 * (fd.trace1 + fd.trace2), "FID(self) = \(fd.value)")
        let fidRun = try CLIBinary.run(["fid", dir.path, stats.path, "--weights", "seeded", "--json", "--quiet"])
        try #require(fidRun.status == 0, "digit-bench fid failed: \(fidRun.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: fidRun.stdout) as? [String: Any], "\(fidRun.stdoutText)")
        let fid = try #require((obj["fid"] as? NSNumber)?.doubleValue)
        #expect(abs(fid) <= 1e-9 * (fd.trace1 + fd.trace2), "fid folder vs stats = \(fid)")
        #expect(obj["seeded"] as? Bool == true && (obj["weights"] as? String)?.contains("SEEDED") == true)
    }

    // With 3 images, shard 1/2 holds one image: its file carries only the merge sums (no mu/sigma).
    @Test func shardedStatsMergeBitIdentical() throws { try ModelTestLock.run { try shardedStatsMerge() } }

    func shardedStatsMerge() throws {
        let dir = try Self.imageFolder(), out = try Self.tempDir("shards")
        defer { try? FileManager.default.removeItem(at: dir); try? FileManager.default.removeItem(at: out) }
        let whole = out.appendingPathComponent("all.npz"), s0 = out.appendingPathComponent("s0.npz")
        let s1 = out.appendingPathComponent("s1.npz"), merged = out.appendingPathComponent("merged.npz")
        let common = ["--weights", "seeded", "--protocol", "torch-fidelity", "--quiet"]
        try Self.run(["stats", dir.path, "-o", whole.path] + common)
        try Self.run(["stats", dir.path, "-o", s0.path, "--shard", "0/2"] + common)
        try Self.run(["stats", dir.path, "-o", s1.path, "--shard", "1/2"] + common)
        // Given out of order on purpose: merge orders by the recorded shard.
        try Self.run(["merge", "stats", s1.path, s0.path, "-o", merged.path])
        let w = try Self.arrays(whole), m = try Self.arrays(merged)
        // Bit-identical: same rows added in the same order (exact merge of pending blocks).
        // (Compared as Bools: on a mismatch Swift Testing would diff the 32 MB byte arrays for minutes.)
        for key in ["mu", "sigma"] {
            let (a, b) = (w[key]!, m[key]!)
            let same = a.data == b.data
            let worst = same ? 0 : zip(a.doubles(), b.doubles()).map { abs($0 - $1) / max(abs($0), 1e-30) }.max() ?? .nan
            #expect(same, "\(key) differs from the unsharded run: worst relative difference \(worst)")
        }
        #expect(m["count"]?.int64s() == [3])

        // A missing shard and a duplicated one are errors naming them.
        do {
            try Self.run(["merge", "stats", s0.path, "-o", merged.path])
            Issue.record("merging one of two shards must fail")
        } catch {
            let msg = DigitBenchCommand.message(for: error)
            #expect(msg.contains("missing shard 1/2"), "\(msg)")
        }
        do {
            try Self.run(["merge", "stats", s0.path, s0.path, s1.path, "-o", merged.path])
            Issue.record("a duplicated shard must fail")
        } catch {
            let msg = DigitBenchCommand.message(for: error)
            #expect(msg.contains("shard 0/2 given twice"), "\(msg)")
        }
    }

    @Test func missingRealWeightsNamesTheFile() throws {
        let home = try Self.tempDir("home")
        defer { try? FileManager.default.removeItem(at: home) }
        let cmd = try #require(try DigitBenchCommand.parseAsRoot(["stats", "x", "-o", "y.npz"]) as? DigitBenchCommand.Stats)
        #expect(cmd.options.weights == "real")
        do {
            _ = try cmd.options.loadNetwork(environment: ["DIGIT_BENCH_HOME": home.path])
            Issue.record("expected a missing-weights error")
        } catch {
            let msg = DigitBenchCommand.message(for: error)
            #expect(msg.contains("pt_inception-2015-12-05-6726825d.pth") && msg.contains("github.com/mseitzer/pytorch-fid"), "\(msg)")
            #expect(msg.contains(home.path + "/weights/"), "names where to put it: \(msg)")
        }

        // The built binary, when present: non-zero exit and the file named on stderr.
        let binary = Fixtures.repoRoot.appendingPathComponent(".build/release/digit-bench")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else { return }
        let p = Process()
        p.executableURL = binary
        p.arguments = ["stats", try Fixtures.url("inception", "images").path, "-o", home.appendingPathComponent("s.npz").path]
        p.environment = ["DIGIT_BENCH_HOME": home.path, "PATH": "/usr/bin:/bin"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus != 0)
        #expect(text.contains("pt_inception-2015-12-05-6726825d.pth"), "\(text)")
        #expect(!FileManager.default.fileExists(atPath: home.appendingPathComponent("s.npz").path))
    }

    @Test func badStatisticsFilesAreClearErrors() throws {
        let dir = try Self.tempDir("bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good.npz")
        try NPZ.write([("mu", NPYArray(float64: [0, 0], shape: [2])), ("sigma", NPYArray(float64: [1, 0, 0, 1], shape: [2, 2]))], to: good)
        let wrongShape = dir.appendingPathComponent("shape.npz")
        try NPZ.write([("mu", NPYArray(float64: [0, 0, 0], shape: [3])), ("sigma", NPYArray(float64: [1, 0, 0, 1], shape: [2, 2]))], to: wrongShape)
        let noKeys = dir.appendingPathComponent("keys.npz")
        try NPZ.write([("features", NPYArray(float32: [1, 2], shape: [1, 2]))], to: noKeys)
        let notZip = dir.appendingPathComponent("junk.npz")
        try Data("not a zip".utf8).write(to: notZip)

        func message(_ a: String, _ b: String) -> String {
            do {
                try Self.run(["fid", a, b, "--quiet"])
                return "no error"
            } catch { return DigitBenchCommand.message(for: error) }
        }
        let m1 = message(good.path, wrongShape.path)
        #expect(m1.contains("shape.npz") && m1.contains("sigma") && m1.contains("[3, 3]"), "\(m1)")
        let m2 = message(noKeys.path, good.path)
        #expect(m2.contains("keys.npz") && m2.contains("mu") && m2.contains("arr_0") && m2.contains("features"), "\(m2)")
        let m3 = message(good.path, notZip.path)
        #expect(m3.contains("junk.npz") && m3.contains("not a readable .npz"), "\(m3)")
        // Two statistics files: no network needed, FID of identical Gaussians is 0.
        let out = try captureStdout { try Self.run(["fid", good.path, good.path, "--json"]) }
        let obj = try #require(try JSONSerialization.jsonObject(with: out) as? [String: Any])
        #expect((obj["fid"] as? NSNumber)?.doubleValue == 0)
        #expect((obj["weights"] as? String)?.contains("not recorded") == true)
    }

    @Test func npzImageDatasetReadsArr0() throws {
        let dir = try Self.tempDir("npzimg")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("batch.npz")
        let pixels = (0..<(2 * 3 * 4 * 3)).map { UInt8($0 % 251) }
        try NPZ.write([("arr_0", NPYArray(dtype: .uint8, shape: [2, 3, 4, 3], data: pixels))], to: url)
        let ds = try openDataset(url.path)
        #expect(ds.count == 2 && ds.itemID(1) == "arr_0[1]")
        let img = try ds.load(1)
        #expect(img.width == 4 && img.height == 3 && img.pixels == Array(pixels[36..<72]))
        let bad = dir.appendingPathComponent("f.npz")
        try NPZ.write([("arr_0", NPYArray(float32: [1, 2, 3], shape: [1, 1, 1, 3]))], to: bad)
        #expect(throws: ImageError.self) { _ = try openDataset(bad.path) }
    }
}

/// Runs `body` with stdout redirected to a pipe; returns what it printed.
func captureStdout(_ body: () throws -> Void) throws -> Data {
    fflush(stdout)
    let saved = dup(STDOUT_FILENO)
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("stdout-\(UUID().uuidString)")
    FileManager.default.createFile(atPath: tmp.path, contents: nil)
    let fh = try FileHandle(forWritingTo: tmp)
    dup2(fh.fileDescriptor, STDOUT_FILENO)
    defer {
        fflush(stdout)
        dup2(saved, STDOUT_FILENO)
        close(saved)
        try? fh.close()
        try? FileManager.default.removeItem(at: tmp)
    }
    try body()
    fflush(stdout)
    return try Data(contentsOf: tmp)
}
