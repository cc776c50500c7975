@testable import DigitBenchCLI
import DigitBench
import Foundation
import Testing
import _DigitTestSupport

/// `prepare -o FILE.npz`: the ADM batch holds exactly guided-diffusion's `center_crop_arr` pixels
/// (the Pillow-made fixture PNGs) in dataset order, and a resumed run gives the same file.
@Suite(.serialized) struct PrepareCommandTests {
    static let sources = ["astronaut_512x512", "chelsea_300x451", "coffee_400x600"]

    static func tempDir(_ tag: String) throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("prepare-\(tag)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    static func run(_ args: [String]) throws {
        var cmd = try #require(try DigitBenchCommand.parseAsRoot(["prepare"] + args) as? DigitBenchCommand.Prepare)
        try cmd.run()
    }

    @Test func admBatchMatchesCenterCropArrFixtures() throws {
        let input = try Self.tempDir("in"), out = try Self.tempDir("out")
        defer { try? FileManager.default.removeItem(at: input); try? FileManager.default.removeItem(at: out) }
        for s in Self.sources {
            try FileManager.default.copyItem(at: Fixtures.url("inception", "images/\(s).png"), to: input.appendingPathComponent("\(s).png"))
        }
        let npz = out.appendingPathComponent("ref.npz")
        try Self.run([input.path, "-o", npz.path, "--recipe", "adm-64"])
        let arrays = try NPZ.read(contentsOf: npz)
        #expect(arrays.map(\.name) == ["arr_0"])
        let arr0 = try #require(arrays.first?.array)
        #expect(arr0.dtype == .uint8 && arr0.shape == [3, 64, 64, 3])
        for (k, s) in Self.sources.enumerated() {  // sorted order = the list above
            let expected = try ImageCodec.decode(contentsOf: Fixtures.url("resize", "\(s)__center_crop_arr64.png"))
            let got = Array(arr0.data[(k * 64 * 64 * 3)..<((k + 1) * 64 * 64 * 3)])
            let differing = zip(got, expected.pixels).filter { $0 != $1 }.count
            #expect(differing == 0, "\(s): \(differing) bytes differ from Pillow's center_crop_arr")  // exact
        }
        // Resuming (PNGs present in ref.npz.parts) rewrites an identical batch.
        let first = try Data(contentsOf: npz)
        try Self.run([input.path, "-o", npz.path, "--recipe", "adm-64"])
        #expect(try Data(contentsOf: npz) == first)
    }

    @Test func mixedSizesAreAClearError() throws {
        let input = try Self.tempDir("mixed"), out = try Self.tempDir("mixed-out")
        defer { try? FileManager.default.removeItem(at: input); try? FileManager.default.removeItem(at: out) }
        for s in Self.sources.prefix(2) {
            try FileManager.default.copyItem(at: Fixtures.url("inception", "images/\(s).png"), to: input.appendingPathComponent("\(s).png"))
        }
        let npz = out.appendingPathComponent("x.npz")
        #expect(throws: ImageError.self) { try Self.run([input.path, "-o", npz.path, "--recipe", "none"]) }
        #expect(!FileManager.default.fileExists(atPath: npz.path))
    }
}
