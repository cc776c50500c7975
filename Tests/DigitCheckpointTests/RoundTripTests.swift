import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

@testable import DigitCheckpoint

/// Writers (safetensors, npz, npy) read back bit-exactly; state-dict selection and renaming.
@Suite struct RoundTripTests {
    static func temp(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("digit-ckpt-\(getpid())-\(name)")
    }

    @Test(arguments: ["nested.zip.pth", "views.zip.pth", "dtypes.legacy.pth", "tensors.safetensors"])
    func safetensorsRoundTrip(_ file: String) throws {
        let (sd, _) = try Checkpoint.load(CheckpointFixtures.url(file), select: file.hasPrefix("nested") ? "model" : nil)
        let out = Self.temp(file + ".safetensors")
        defer { try? FileManager.default.removeItem(at: out) }
        try SafeTensors.write(sd.items.map { ($0.key, $0.tensor) }, metadata: [("format", "pt")], to: out)
        let (back, ckpt) = try Checkpoint.load(out)
        #expect(ckpt.format == .safetensors && ckpt.metadata.first?.1 == "pt")
        #expect(back.keys == sd.keys)
        for (k, t) in sd.items {
            let b = try #require(back[k])
            #expect(b.dtype == t.dtype && b.shape == t.shape, "\(k)")
            #expect(try b.raw() == t.raw(), "\(k)")  // non-contiguous views are written row-major
        }
        // The data section starts 8-byte aligned, as safetensors requires.
        let buf = try ByteBuffer.map(out)
        #expect(Int(buf.base.loadUnaligned(as: UInt64.self)) % 8 == 0)
    }

    @Test(arguments: [false, true])
    func npzRoundTrip(_ compressed: Bool) throws {
        let arrays: [(name: String, array: NPYArray)] = [
            ("mu", NPYArray(float64: (0..<64).map { Double($0) / 7 }, shape: [64])),
            ("labels", NPYArray(int64: [3, -1, 1 << 40], shape: [3])),
            ("img", NPYArray(dtype: .uint8, shape: [2, 2, 3], data: (0..<12).map { UInt8($0 * 20) })),
            ("scalar", NPYArray(float32: [2.5], shape: [])),
        ]
        let out = Self.temp("a-\(compressed).npz")
        defer { try? FileManager.default.removeItem(at: out) }
        try NPZ.write(arrays, to: out, compressed: compressed)
        let back = try NPZ.read(contentsOf: out)
        #expect(back.map(\.name) == arrays.map(\.name))
        for (a, b) in zip(arrays, back) { #expect(a.array == b.array, "\(a.name)") }
        let archive = try ZipArchive(ByteBuffer.map(out))
        #expect(archive.entries.allSatisfy { $0.method == (compressed ? 8 : 0) })
    }

    @Test func npyEncodeDecodeEveryDtype() throws {
        for dt in DType.allCases where dt != .bfloat16 {
            let data = (0..<(6 * dt.size)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 1) }.map { dt == .bool ? $0 & 1 : $0 }
            let a = NPYArray(dtype: dt, shape: [2, 3], data: data)
            #expect(try NPY.decode(NPY.encode(a), path: "x.npy") == a, "\(dt)")
        }
    }

    @Test func stateDictSelectionAndPrefixes() throws {
        let nested = try Checkpoint.open(CheckpointFixtures.url("nested.zip.pth"))
        let all = try nested.stateDict()
        #expect(all.count == 36)
        #expect(all.keys.contains("optimizer.state.0.exp_avg"))
        let model = try nested.stateDict(select: "model")
        #expect(model.keys == all.selecting(prefix: "model.").keys)
        #expect(model.keys.first == "conv.weight" && model.count == 9)
        #expect(try nested.stateDict(select: "optimizer/state/4").keys == ["step", "exp_avg", "exp_avg_sq"])
        #expect(model.parameterCount == 214)

        let lightning = try Checkpoint.open(CheckpointFixtures.url("lightning.zip.pth"))
        let sd = try lightning.stateDict(select: "state_dict")
        #expect(sd.commonPrefix == "model.")
        #expect(try sd.strippingPrefix("model.").keys == model.keys)
        // Keys containing '/' are selectable whole.
        #expect(try lightning.stateDict(select: "callbacks/ModelCheckpoint{'monitor': 'val/loss', 'mode': 'min'}").keys == ["best_model_score"])
        #expect(try lightning.stateDict().tensor("callbacks.ModelCheckpoint{'monitor': 'val/loss', 'mode': 'min'}.best_model_score").scalars == [0.25])
        // Hyper-parameters stay inspectable.
        #expect(lightning.root["hyper_parameters"]?["vq"]?["codebook_size"]?.intValue == 16384)

        do {
            _ = try nested.stateDict(select: "ema_model")
            Issue.record("missing selection accepted")
        } catch let CheckpointError.missingKey(key, _, hint) {
            #expect(key == "ema_model" && hint?.contains("model, ema, optimizer, epoch, args") == true)
        }
        // argparse.Namespace is an opaque object with its state.
        guard case let .object(args)? = nested.root["args"] else { Issue.record("args"); return }
        #expect(args.className == "argparse.Namespace" && args.state?["batch_size"]?.intValue == 64)
    }

    @Test func integerTensorsKeepTheirValues() throws {
        let sd = try Checkpoint.load(CheckpointFixtures.url("dtypes.zip.pth")).stateDict
        #expect(try sd["i64"]!.raw().int64s().prefix(4) == [-6000018, -5000015, -4000012, -3000009])
        #expect(try sd["i32"]!.raw().int64s() == [Int64(Int32.min), -1, 0, Int64(Int32.max)])
        #expect(try sd["scalar_i64"]!.raw().int64s() == [-42])
        #expect(try sd["empty_f32"]!.load().shape == [0, 3])
        let st = try Checkpoint.load(CheckpointFixtures.url("tensors.safetensors")).stateDict
        #expect(try st["i64"]!.raw().int64s()[2] == (1 << 53) + 1)  // not rounded through Double
    }

    @Test func sha256KnownAnswers() {
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var s = SHA256()
        for _ in 0..<1000 { s.update(Array(repeating: UInt8(ascii: "a"), count: 1000)) }
        #expect(s.finalize().map { String(format: "%02x", $0) }.joined() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
