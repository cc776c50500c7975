import DigitCheckpoint
import DigitImage
import DigitModels
import DigitSuites
import Foundation
import Testing
import _DigitTestSupport

@Suite("Real FID Inception weights: locate, verify, load")
struct InceptionWeightsTests {
    /// An empty `DIGIT_BENCH_HOME` in a temporary directory.
    private func emptyHome() throws -> WeightsHome {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("digit-bench-inception-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("weights"), withIntermediateDirectories: true)
        return WeightsHome(root: root)
    }

    @Test("without the file: the error names it, its URL and where to put it; no seeded fallback")
    func missing() throws {
        let home = try emptyHome()
        defer { try? FileManager.default.removeItem(at: home.root) }
        do {
            _ = try InceptionV3.loadReal(home: home) { _ in Issue.record("must not read"); return StateDict() }
            Issue.record("expected an error")
        } catch let e as WeightsError {
            let text = e.description
            #expect(text.contains("pt_inception-2015-12-05-6726825d.pth"))
            #expect(text.contains("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"))
            #expect(text.contains(home.weightsDirectory.path))
            #expect(text.contains("DIGIT_BENCH_HOME") && text.contains("--checkpoint"))
        }
        #expect(throws: WeightsError.unreadable(path: "/nonexistent/pt.pth")) {
            try InceptionV3.loadReal(checkpoint: "/nonexistent/pt.pth", home: home) { _ in StateDict() }
        }
    }

    @Test("a file whose SHA-256 does not start with 6726825d is refused before reading")
    func wrongChecksum() throws {
        let home = try emptyHome()
        defer { try? FileManager.default.removeItem(at: home.root) }
        let fake = home.weightsDirectory.appendingPathComponent("pt_inception-2015-12-05-6726825d.pth")
        try Data("not a checkpoint".utf8).write(to: fake)
        do {
            _ = try InceptionV3.loadReal(home: home) { _ in Issue.record("must not read"); return StateDict() }
            Issue.record("expected an error")
        } catch let WeightsError.checksumMismatch(file, expected, _) {
            #expect(file == fake.path)
            #expect(expected == "6726825d")
        }
    }

    @Test("real weights load strictly (only when DIGIT_BENCH_CHECKPOINTS is set)",
          .enabled(if: ProcessInfo.processInfo.environment["DIGIT_BENCH_CHECKPOINTS"] != nil))
    func real() throws {
        let net = try InceptionV3.loadReal()
        #expect(!net.isSeeded)
        #expect(net.parameterCount == 23_885_392)
        var rng = TestRNG(seed: 1)
        let pixels = (0..<(64 * 64 * 3)).map { _ in UInt8(rng.int(256)) }
        let f = try net.extract(ImageBatch(count: 1, height: 64, width: 64, pixels: pixels), protocol: .pytorchFid, features: [.pool3, .logits])
        #expect(f[.pool3]!.scalars.allSatisfy { $0.isFinite && $0 >= 0 })
        #expect(f[.logits]!.scalars.allSatisfy { $0.isFinite })
    }
}
