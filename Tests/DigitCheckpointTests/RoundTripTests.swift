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
    /// The streaming writer reproduces numpy's record bytes (`np.savez` in the fixture: npy header
    /// and data of each record identical) and reads back through `ZipArchive`.
    @Test func npzStreamWriterMatchesNumpyRecords() throws {
        let fixture = try ZipArchive(ByteBuffer.map(CheckpointFixtures.url("adm_samples.npz")))
        let arrays = try NPZ.read(contentsOf: CheckpointFixtures.url("adm_samples.npz"))
        let out = Self.temp("stream.npz")
        defer { try? FileManager.default.removeItem(at: out) }
        let w = try NPZStreamWriter(url: out)
        for (name, a) in arrays {
            // Rows one at a time, as `prepare` streams images.
            let rowBytes = a.data.count / max(a.shape.first ?? 1, 1)
            try w.beginArray(name: name, dtype: a.dtype, shape: a.shape)
            for r in stride(from: 0, to: a.data.count, by: max(rowBytes, 1)) {
                try a.data[r..<min(r + rowBytes, a.data.count)].withUnsafeBytes { try w.append($0) }
            }
            try w.endArray()
        }
        try w.finish()
        let ours = try ZipArchive(ByteBuffer.map(out))
        #expect(ours.entries.map(\.name) == fixture.entries.map(\.name))
        for (e, f) in zip(ours.entries, fixture.entries) {
            let (b1, o1, n1) = try ours.contents(e)  // verifies our CRC-32
            let (b2, o2, n2) = try fixture.contents(f)
            #expect(e.crc32 == f.crc32 && n1 == n2, "\(e.name)")
            #expect(Array(b1.raw(o1, n1)) == Array(b2.raw(o2, n2)), "\(e.name)")
        }
        // No temporary file is left beside the output.
        let left = try FileManager.default.contentsOfDirectory(atPath: out.deletingLastPathComponent().path).filter { $0.contains("stream.npz.partial") }
        #expect(left.isEmpty)
    }

    /// With the ZIP64 threshold lowered, every size and offset takes the ZIP64 fields and end
    /// records (the layout of a > 4 GiB ADM batch); the reader takes them back.
    /// (Also checked by hand with `np.load` from numpy 2.4 on this machine.)
    @Test(arguments: [0, 100, 0xFFFF_FFFF])
    func npzStreamWriterZip64(_ limit: Int) throws {
        let a = NPYArray(dtype: .uint8, shape: [3, 4, 5, 3], data: (0..<180).map { UInt8($0) })
        let labels = NPYArray(int64: [7, 8, 9], shape: [3])
        let out = Self.temp("zip64-\(limit).npz")
        defer { try? FileManager.default.removeItem(at: out) }
        let w = try NPZStreamWriter(url: out, zip64Limit: limit)
        try w.add(name: "arr_0", array: a)
        try w.add(name: "arr_1", array: labels)
        try w.finish()
        let back = try NPZ.read(contentsOf: out)
        #expect(back.map(\.name) == ["arr_0", "arr_1"])
        #expect(back[0].array == a && back[1].array == labels)
        let buf = try ByteBuffer.map(out)
        let hasLocator = (0..<(buf.count - 4)).contains { buf.base.loadUnaligned(fromByteOffset: $0, as: UInt32.self) == 0x0706_4B50 }
        #expect(hasLocator == (limit < 200))
    }

    /// Declared shapes are enforced: too few or too many bytes is an error, and nothing is left
    /// under the final name.
    @Test func npzStreamWriterRejectsWrongByteCounts() throws {
        let out = Self.temp("short.npz")
        defer { try? FileManager.default.removeItem(at: out) }
        do {
            let w = try NPZStreamWriter(url: out)
            try w.beginArray(name: "arr_0", dtype: .uint8, shape: [2, 3])
            try [UInt8](repeating: 1, count: 5).withUnsafeBytes { try w.append($0) }
            #expect(throws: CheckpointError.self) { try w.endArray() }
            #expect(throws: CheckpointError.self) { try [UInt8](repeating: 1, count: 2).withUnsafeBytes { try w.append($0) } }
        }
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }
}
