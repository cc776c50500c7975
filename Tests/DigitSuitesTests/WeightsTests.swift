import DigitCheckpoint
import DigitReports
import DigitSuites
import Foundation
import Testing
import _DigitTestSupport

@Suite struct SHA256Tests {
    // FIPS 180-4 / NIST example vectors.
    @Test func knownVectors() {
        #expect(SHA256.hex(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            SHA256.hex(Data(repeating: UInt8(ascii: "a"), count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func streamingEqualsOneShotAtEveryBoundary() {
        var rng = TestRNG(seed: 7)
        let data = Data((0..<300).map { _ in UInt8(rng.int(256)) })
        let whole = SHA256.hex(data)
        for split in [0, 1, 55, 56, 63, 64, 65, 127, 128, 299] {
            var s = SHA256()
            s.update(data.prefix(split))
            s.update(data.suffix(from: split))
            #expect(s.finalizeHex() == whole, "split \(split)")
        }
    }

    @Test func fileHashMatchesDataHash() throws {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: u) }
        let data = Data(repeating: 7, count: 5 << 20)  // crosses the 4 MiB read size
        try data.write(to: u)
        #expect(try SHA256.hex(ofFile: u) == SHA256.hex(data))
    }
}

@Suite struct WeightsRegistryTests {
    @Test func idsAndFileNamesAreUnique() {
        #expect(Set(WeightsRegistry.ids).count == WeightsRegistry.all.count)
        #expect(Set(WeightsRegistry.all.map(\.fileName)).count == WeightsRegistry.all.count)
    }

    @Test func everyFileServesPublicIDs() {
        let publicIDs = Set(PublicIDs.featureExtractors + PublicIDs.tokenizers + PublicIDs.generators)
        for f in WeightsRegistry.all {
            #expect(!f.usedBy.isEmpty, "\(f.id)")
            for u in f.usedBy { #expect(publicIDs.contains(u), "\(f.id) used by unknown id \(u)") }
            if let a = f.alternative { #expect(WeightsRegistry.file(a)?.alternative == f.id) }
            if let s = f.sha256 { #expect(s.count == 64) }
        }
        // Every public model id with released weights has at least one file.
        for id in PublicIDs.tokenizers + PublicIDs.generators + PublicIDs.featureExtractors {
            #expect(!WeightsRegistry.files(usedBy: id).isEmpty, "\(id) has no weight file")
        }
    }

    @Test func inceptionCarriesTheTorchHubHashPrefix() throws {
        let f = try WeightsRegistry.lookup("inception-pytorch-fid")
        #expect(f.fileName == "pt_inception-2015-12-05-6726825d.pth")
        #expect(f.url == "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth")
        #expect(f.checksumMatches("6726825d" + String(repeating: "0", count: 56)) == true)
        #expect(f.checksumMatches(String(repeating: "0", count: 64)) == false)
    }

    @Test func unknownWeightsIDSaysDidYouMean() {
        #expect(throws: WeightsError.self) { try WeightsRegistry.lookup("llamagen-gpt-b256") }
        do {
            _ = try WeightsRegistry.lookup("llamagen-gpt-b256")
        } catch {
            #expect("\(error)".hasPrefix("Unknown weights id 'llamagen-gpt-b256'. Did you mean: llamagen-gpt-b-256?"))
        }
    }

    @Test func missingMessageSaysWhichFileWhereFromChecksumAndWhereToPutIt() throws {
        let home = WeightsHome(root: URL(fileURLWithPath: "/tmp/dbh"))
        let m = WeightsRegistry.missingMessage(for: try WeightsRegistry.lookup("inception-pytorch-fid"), home: home)
        #expect(
            m == """
                Missing weights: pt_inception-2015-12-05-6726825d.pth (inception-pytorch-fid: FID Inception-v3 (TF 2015-12-05 graph) converted by pytorch-fid).
                  Looked for: /tmp/dbh/weights/pt_inception-2015-12-05-6726825d.pth
                  Comes from: https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth
                  Checksum: sha256 starts with 6726825d (the hash in the file name)
                  Fetch it with `digit-bench weights fetch inception-pytorch-fid`, or download it yourself to the path above.
                  Note: used for every protocol (adm, pytorch-fid, torch-fidelity, clean-fid): same TF weights
                  (Set DIGIT_BENCH_HOME to keep weights elsewhere, or pass --checkpoint FILE; `--weights seeded` runs without them.)
                """)
        let manual = WeightsRegistry.missingMessage(for: try WeightsRegistry.lookup("mage-vqgan"), home: home)
        #expect(manual.contains("no direct download link"))
        #expect(manual.contains("Save it as /tmp/dbh/weights/vqgan_jax_strongaug.ckpt."))
    }

    @Test func homeAndStatus() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("dbh-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let home = WeightsHome(environment: ["DIGIT_BENCH_HOME": root.path])
        #expect(home.weightsDirectory.path == root.path + "/weights")
        #expect(WeightsHome(environment: [:]).root.path.hasSuffix("/.cache/digit-bench"))

        let f = try WeightsRegistry.lookup("inception-pytorch-fid")
        #expect(try WeightsRegistry.status(of: f, home: home, hash: true) == .missing)
        #expect(WeightsRegistry.firstMissing(for: "inception-v3", home: home)?.id == "inception-pytorch-fid")
        try FileManager.default.createDirectory(at: home.weightsDirectory, withIntermediateDirectories: true)
        try Data("not the weights".utf8).write(to: home.path(for: f))
        #expect(try WeightsRegistry.status(of: f, home: home, hash: false) == .present(bytes: 15))
        guard case .wrongChecksum = try WeightsRegistry.status(of: f, home: home, hash: true) else {
            Issue.record("expected a checksum mismatch")
            return
        }
        // Either Inception file satisfies inception-v3.
        try FileManager.default.removeItem(at: home.path(for: f))
        let alt = try WeightsRegistry.lookup("inception-torch-fidelity")
        try Data("x".utf8).write(to: home.path(for: alt))
        #expect(WeightsRegistry.firstMissing(for: "inception-v3", home: home) == nil)
    }
}

@Suite(.serialized) struct DownloaderTests {
    static let payload: Data = {
        var rng = TestRNG(seed: 42)
        return Data((0..<200_000).map { _ in UInt8(rng.int(256)) })
    }()

    func tempDir() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("dl-\(UUID().uuidString)")
    }

    func downloader() -> WeightsDownloader {
        WeightsDownloader(options: .init(maxAttempts: 3, idleTimeout: 10, retryDelay: 0))
    }

    @Test func downloadsAndVerifies() throws {
        let server = try LoopbackHTTPServer { LoopbackHTTPServer.serveRange(Self.payload, $0) }
        defer { server.stop() }
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let dest = dir.appendingPathComponent("w.bin")
        let r = try downloader().download(from: server.url("/w.bin"), to: dest, sha256: SHA256.hex(Self.payload))
        #expect(r.attempts == 1)
        #expect(r.bytes == Int64(Self.payload.count))
        #expect(try Data(contentsOf: dest) == Self.payload)
        #expect(!FileManager.default.fileExists(atPath: dest.path + ".part"))
        // A second fetch finds the valid file and makes no request.
        let again = try downloader().download(from: server.url("/w.bin"), to: dest, sha256: SHA256.hex(Self.payload))
        #expect(again.alreadyPresent)
        #expect(server.requests.count == 1)
    }

    @Test func resumesAfterACutConnection() throws {
        let cut = 70_000
        let server = try LoopbackHTTPServer { req in
            var resp = LoopbackHTTPServer.serveRange(Self.payload, req)
            if req.headers["range"] == nil { resp.cutAfter = cut }  // the first transfer dies part-way
            return resp
        }
        defer { server.stop() }
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let dest = dir.appendingPathComponent("w.bin")
        let r = try downloader().download(from: server.url("/w.bin"), to: dest, sha256: SHA256.hex(Self.payload))
        #expect(r.attempts == 2)
        #expect(try Data(contentsOf: dest) == Self.payload)
        let reqs = server.requests
        try #require(reqs.count == 2)
        #expect(reqs[0].headers["range"] == nil)
        #expect(reqs[1].headers["range"] == "bytes=\(cut)-")
    }

    @Test func resumesAPartialFileLeftByAnEarlierRun() throws {
        let server = try LoopbackHTTPServer { LoopbackHTTPServer.serveRange(Self.payload, $0) }
        defer { server.stop() }
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let dest = dir.appendingPathComponent("w.bin")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Self.payload.prefix(123_456).write(to: dest.appendingPathExtension("part"))
        let r = try downloader().download(from: server.url("/w.bin"), to: dest, sha256: SHA256.hex(Self.payload))
        #expect(try Data(contentsOf: dest) == Self.payload)
        #expect(r.attempts == 1)
        #expect(server.requests.first?.headers["range"] == "bytes=123456-")
    }

    @Test func serverIgnoringRangeRestartsTheFile() throws {
        // Answers 200 with the whole body even to a range request.
        let server = try LoopbackHTTPServer { _ in .init(status: 200, body: Self.payload) }
        defer { server.stop() }
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let dest = dir.appendingPathComponent("w.bin")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(repeating: 0xFF, count: 5000).write(to: dest.appendingPathExtension("part"))
        _ = try downloader().download(from: server.url("/w.bin"), to: dest, sha256: SHA256.hex(Self.payload))
        #expect(try Data(contentsOf: dest) == Self.payload)
    }

    @Test func checksumMismatchRemovesTheDownload() throws {
        let server = try LoopbackHTTPServer { LoopbackHTTPServer.serveRange(Self.payload, $0) }
        defer { server.stop() }
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let dest = dir.appendingPathComponent("w.bin")
        let wrong = String(repeating: "0", count: 64)
        #expect(
            throws: WeightsError.checksumMismatch(file: dest.path, expected: wrong, actual: SHA256.hex(Self.payload))
        ) {
            try downloader().download(from: server.url("/w.bin"), to: dest, sha256: wrong)
        }
        #expect(!FileManager.default.fileExists(atPath: dest.path))
        #expect(!FileManager.default.fileExists(atPath: dest.path + ".part"))
        // A hash prefix (torch hub style) is checked too.
        #expect(throws: WeightsError.self) {
            try downloader().download(from: server.url("/w.bin"), to: dest, sha256Prefix: "6726825d")
        }
    }

    @Test func notFoundIsAnErrorWithoutRetries() throws {
        let server = try LoopbackHTTPServer { _ in .init(status: 404, body: Data("no".utf8)) }
        defer { server.stop() }
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = server.url("/missing.pth")
        #expect(throws: WeightsError.httpStatus(url: url.absoluteString, status: 404)) {
            try downloader().download(from: url, to: dir.appendingPathComponent("missing.pth"))
        }
        #expect(server.requests.count == 1)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("missing.pth.part").path))
    }

    @Test func fetchUsesTheRegistryNameAndRefusesManualFiles() throws {
        let server = try LoopbackHTTPServer { LoopbackHTTPServer.serveRange(Self.payload, $0) }
        defer { server.stop() }
        let root = tempDir()
        defer { try? FileManager.default.removeItem(at: root) }
        let home = WeightsHome(root: root)
        let f = WeightFile(
            id: "test-file", fileName: "test.bin", summary: "test", url: server.url("/test.bin").absoluteString,
            page: "here", sha256: SHA256.hex(Self.payload), usedBy: ["lfq-256"])
        let r = try downloader().fetch(f, home: home)
        #expect(r.path == home.path(for: f))
        #expect(try WeightsRegistry.status(of: f, home: home, hash: true) == .verified(sha256: SHA256.hex(Self.payload), checked: true))
        #expect(throws: WeightsError.self) { try downloader().fetch(WeightsRegistry.lookup("mage-vqgan"), home: home) }
    }
}
