@testable import DigitBenchCLI
import DigitBench
import Dispatch
import Foundation
import Testing
import _DigitTestSupport

/// The content-keyed feature cache (`--cache DIR` / `$DIGIT_BENCH_CACHE`) of the evaluation
/// commands, on seeded weights and the small fixture photos of EvalCommandTests. The expected
/// outputs are those of the same command without a cache.
@Suite(.serialized) struct FeatureCacheTests {
    static func stats(_ dir: URL, _ out: URL, _ extra: [String], env: [String: String] = [:]) throws -> CLIBinary.Output {
        let r = try CLIBinary.run(["stats", dir.path, "-o", out.path, "--weights", "seeded", "--batch", "2"] + extra, environment: env)
        try #require(r.status == 0, "digit-bench stats failed: \(r.stderr)")
        return r
    }

    static func bytes(_ u: URL) throws -> Data { try Data(contentsOf: u) }

    @Test("stats: a cache hit writes the file an uncached run writes; edited images, damaged entries and --no-cache recompute")
    func statsCache() throws {
        let dir = try EvalCommandTests.imageFolder(), out = try EvalCommandTests.tempDir("cache")
        defer { try? FileManager.default.removeItem(at: dir); try? FileManager.default.removeItem(at: out) }
        let cache = out.appendingPathComponent("cache")
        let plain = out.appendingPathComponent("plain.npz")
        _ = try Self.stats(dir, plain, ["--quiet"])

        let first = try Self.stats(dir, out.appendingPathComponent("1.npz"), ["--cache", cache.path])
        #expect(first.stderr.contains("features cached in"), "\(first.stderr)")
        let second = try Self.stats(dir, out.appendingPathComponent("2.npz"), [], env: ["DIGIT_BENCH_CACHE": cache.path])
        #expect(second.stderr.contains("read from the cache"), "\(second.stderr)")
        // Same rows fed in the same batches: the statistics files are byte-identical.
        #expect(try Self.bytes(out.appendingPathComponent("1.npz")) == Self.bytes(plain))
        #expect(try Self.bytes(out.appendingPathComponent("2.npz")) == Self.bytes(plain))

        let off = try Self.stats(dir, out.appendingPathComponent("3.npz"), ["--no-cache"], env: ["DIGIT_BENCH_CACHE": cache.path])
        #expect(!off.stderr.contains("cache"), "\(off.stderr)")

        // A damaged entry is a miss: recomputed, replaced, same result.
        let entries = try FileManager.default.contentsOfDirectory(atPath: cache.path).filter { $0.count == 64 }
        try #require(entries.count == 1, "\(entries)")
        let npy = cache.appendingPathComponent(entries[0]).appendingPathComponent("pool3.npy")
        let full = try Data(contentsOf: npy)
        try full.prefix(full.count / 2).write(to: npy)
        let damaged = try Self.stats(dir, out.appendingPathComponent("4.npz"), ["--cache", cache.path])
        #expect(damaged.stderr.contains("unreadable") && damaged.stderr.contains("features cached in"), "\(damaged.stderr)")
        #expect(try Self.bytes(out.appendingPathComponent("4.npz")) == Self.bytes(plain))
        #expect(try Data(contentsOf: npy) == full)

        // Same file name, other content: a new entry, and the statistics of the new images.
        let victim = dir.appendingPathComponent(EvalCommandTests.images[0].0)
        try FileManager.default.removeItem(at: victim)
        try FileManager.default.copyItem(at: Fixtures.url("inception", "images/" + EvalCommandTests.images[1].0), to: victim)
        let edited = try Self.stats(dir, out.appendingPathComponent("5.npz"), ["--cache", cache.path])
        #expect(edited.stderr.contains("features cached in"), "\(edited.stderr)")
        let uncachedEdited = out.appendingPathComponent("6.npz")
        _ = try Self.stats(dir, uncachedEdited, ["--quiet"])
        #expect(try Self.bytes(out.appendingPathComponent("5.npz")) == Self.bytes(uncachedEdited))
        #expect(try Self.bytes(uncachedEdited) != Self.bytes(plain))
    }

    @Test("two shards sharing one cache directory at the same time, then merged: equal to the unsharded statistics")
    func concurrentShards() throws {
        let dir = try EvalCommandTests.imageFolder(), out = try EvalCommandTests.tempDir("cache-shards")
        defer { try? FileManager.default.removeItem(at: dir); try? FileManager.default.removeItem(at: out) }
        let cache = out.appendingPathComponent("cache")
        let whole = out.appendingPathComponent("whole.npz")
        _ = try Self.stats(dir, whole, ["--quiet", "--no-env-shard"])
        let results = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 2)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let r = try? CLIBinary.run(["stats", dir.path, "-o", out.appendingPathComponent("s\(i).npz").path, "--weights", "seeded",
                                        "--batch", "2", "--shard", "\(i)/2", "--no-env-shard", "--cache", cache.path, "--quiet"])
            results[i] = r?.status ?? -1
        }
        #expect(Array(results) == [0, 0])
        let merged = out.appendingPathComponent("merged.npz")
        let shards = ["s0.npz", "s1.npz"]
        let m = try CLIBinary.run(["merge", "stats"] + shards.map { out.appendingPathComponent($0).path } + ["-o", merged.path])
        try #require(m.status == 0, "\(m.stderr)")
        let a = try EvalCommandTests.arrays(merged), b = try EvalCommandTests.arrays(whole)
        #expect(a["mu"]?.doubles() == b["mu"]?.doubles() && a["sigma"]?.doubles() == b["sigma"]?.doubles())
        // Each shard made its own complete entry (2 keys), and a rerun of a shard hits its entry.
        let entries = try FileManager.default.contentsOfDirectory(atPath: cache.path).filter { $0.count == 64 }
        #expect(entries.count == 2, "\(entries)")
        let again = try Self.stats(dir, out.appendingPathComponent("again.npz"), ["--shard", "1/2", "--no-env-shard", "--cache", cache.path])
        #expect(again.stderr.contains("read from the cache"), "\(again.stderr)")
    }

    @Test("content digests: touching a file keeps its digest, editing changes it; .npz items are digested by their pixels")
    func digests() throws {
        let dir = try EvalCommandTests.imageFolder(), memo = try EvalCommandTests.tempDir("memo")
        defer { try? FileManager.default.removeItem(at: dir); try? FileManager.default.removeItem(at: memo) }
        let d = ContentDigests(memoDirectory: memo), bare = ContentDigests(memoDirectory: nil)
        let ds = try ImageFolderDataset(root: dir)
        let h0 = try d.dataset(ds, range: 0..<3)
        #expect(try bare.dataset(ds, range: 0..<3) == h0)
        #expect(try d.dataset(ds, range: 0..<2) != h0)
        // Reading the memo gives the same digest; a touched file is re-hashed to the same digest.
        #expect(try d.dataset(ds, range: 0..<3) == h0)
        let f = dir.appendingPathComponent(ds.files[1])
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1e9)], ofItemAtPath: f.path)
        #expect(try d.dataset(ds, range: 0..<3) == h0)
        var bytes = try Data(contentsOf: f)
        bytes.append(0)
        try bytes.write(to: f)
        #expect(try d.dataset(ds, range: 0..<3) != h0)
        // A whole file: the same as sha256 over its bytes (DigitCheckpoint's SHA-256, FIPS 180-4 tested there).
        #expect(try d.file(f) == SHA256.hex(bytes))

        // ADM .npz: two items with equal pixels digest equally; the range is part of the key.
        let img = try ImageCodec.decode(contentsOf: dir.appendingPathComponent(ds.files[0]))
        let npz = memo.appendingPathComponent("b.npz")
        let h = img.height, w = img.width
        try NPZ.write([("arr_0", NPYArray(dtype: .uint8, shape: [2, h, w, 3], data: img.pixels + img.pixels))], to: npz)
        let n = try NPZImageDataset(url: npz)
        #expect(try d.dataset(n, range: 0..<1) != d.dataset(n, range: 1..<2))
        #expect(try d.dataset(n, range: 0..<2) == bare.dataset(n, range: 0..<2))
    }
}
