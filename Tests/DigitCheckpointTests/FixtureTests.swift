import Foundation
import Testing
import _DigitTestSupport

@testable import DigitCheckpoint

/// Genuine files from ../shared/fixtures/checkpoints must reproduce expected.json exactly
/// (written by torch 1.13 / safetensors 0.8 / numpy 1.24 reading their own files).
/// Tolerance: exact for dtypes, shapes, strides, offsets, first values and both SHA-256s; sums
/// are float64 sums in row-major order, compared exactly or within 1e-12 relative (the README's
/// allowance for a different summation order).
enum CheckpointFixtures {
    static let area = "checkpoints"

    static let expected: JSONValue = {
        let url = try! Fixtures.url(area, "expected.json")
        return try! JSONValue.parse(Data(contentsOf: url), maxDepth: 256)
    }()

    static func files() -> [(String, JSONValue)] {
        guard case let .object(f)? = expected["files"] else { return [] }
        return f
    }

    static func url(_ name: String) throws -> URL { try Fixtures.url(area, name) }

    static func sha(_ bytes: UnsafeRawBufferPointer) -> String { SHA256.hex(bytes) }
}

/// Compares our JSON to the expected, returning the first difference.
/// One documented exception: an object rebuilt through `__reduce__` (class + args + REDUCE, like
/// `Stage('warmup', 500)`) has no state in the file, only constructor arguments; the expected JSON
/// (made with the class importable) shows the instance's `__dict__`. We check that the recorded
/// args equal that dict's values in order.
func difference(_ ours: JSONValue, _ exp: JSONValue, at path: String = "$") -> String? {
    if case let .object(o) = ours, case let .object(e) = exp, o.first?.0 == "object", e.first?.0 == "object",
        ours["state"] == nil, let args = ours["args"]?.array, case let .object(stateFields)? = exp["state"]
    {
        guard ours["object"] == exp["object"] else { return "\(path): class \(String(describing: ours["object"])) != \(String(describing: exp["object"]))" }
        _ = stateFields
        let values = exp["state"]?["items"]?.array?.compactMap { $0.array?.last } ?? []
        return args == values ? nil : "\(path): args \(args) != state values \(values)"
    }
    switch (ours, exp) {
    case let (.object(o), .object(e)):
        guard o.map(\.0) == e.map(\.0) else { return "\(path): keys \(o.map(\.0)) != \(e.map(\.0))" }
        for ((k, a), (_, b)) in zip(o, e) { if let d = difference(a, b, at: path + "." + k) { return d } }
        return nil
    case let (.array(a), .array(b)):
        guard a.count == b.count else { return "\(path): \(a.count) items != \(b.count)" }
        for (i, (x, y)) in zip(a, b).enumerated() { if let d = difference(x, y, at: path + "[\(i)]") { return d } }
        return nil
    default:
        return ours == exp ? nil : "\(path): \(ours.text()) != \(exp.text())"
    }
}

/// Checks one tensor against its expected.json record.
func checkTensor(_ t: StoredTensor, _ e: JSONValue, file: String, all: [(String, StoredTensor)]) throws {
    let name = "\(file):\(e["path"]?.string ?? "?")"
    #expect(t.dtype.rawValue == e["dtype"]?.string, "\(name) dtype")
    #expect(t.shape.map { Int64($0) } == e["shape"]?.array?.compactMap(\.int), "\(name) shape")
    let layout = try #require(t.layout, "\(name) has no layout")
    #expect(layout.stride.map { Int64($0) } == e["stride"]?.array?.compactMap(\.int), "\(name) stride")
    #expect(Int64(layout.storageOffset) == e["storage_offset"]?.int, "\(name) storage_offset")
    #expect(Int64(layout.storageNumel) == e["storage_numel"]?.int, "\(name) storage_numel")
    if case let .bool(c)? = e["is_contiguous"] {
        #expect(RawView.isContiguous(shape: t.shape, stride: layout.stride) == c, "\(name) is_contiguous")
    }
    if let shares = e["shares_storage_with"]?.array {
        let ours = all.filter { $0.0 != e["path"]?.string && $0.1.layout?.storageID == layout.storageID }.map(\.0)
        #expect(Set(ours) == Set(shares.compactMap(\.string)), "\(name) shares_storage_with")
    }
    let raw = try t.raw()
    #expect(raw.shape == t.shape && raw.dtype == t.dtype)
    let values = raw.doubles()
    let sum = values.reduce(0, +)
    let expSum = try #require(e["sum_f64"]?.double, "\(name) sum")
    if expSum.isNaN { #expect(sum.isNaN, "\(name) sum is \(sum), expected NaN") } else {
        #expect(sum == expSum || abs(sum - expSum) <= 1e-12 * abs(expSum), "\(name) sum \(sum) != \(expSum)")
    }
    let first4 = e["first4"]?.array ?? e["first4_row_major"]?.array ?? []
    for (i, v) in first4.enumerated() {
        let x: Double? = if case let .bool(b) = v { b ? 1 : 0 } else { v.double }
        #expect(values[i] == x, "\(name) first4[\(i)] \(values[i]) != \(String(describing: x))")
    }
    let rawHash = raw.data.withUnsafeBytes { CheckpointFixtures.sha($0) }
    #expect(rawHash == e["sha256_raw_le"]?.string, "\(name) sha256_raw_le")
    let f32 = try t.load()
    #expect(f32.shape == t.shape)
    let f32Hash = f32.scalars.withUnsafeBytes { CheckpointFixtures.sha($0) }
    #expect(f32Hash == e["sha256_f32_le"]?.string, "\(name) sha256_f32_le")
}

@Suite struct FixtureTests {
    static let torchFiles = CheckpointFixtures.files().map(\.0).filter { $0.hasSuffix(".pth") || $0.hasSuffix(".safetensors") }
    static let npyFiles = CheckpointFixtures.files().map(\.0).filter { $0.hasSuffix(".npy") }
    static let npzFiles = CheckpointFixtures.files().map(\.0).filter { $0.hasSuffix(".npz") }

    @Test func everyFixtureIsCovered() {
        #expect(Self.torchFiles.count == 15)
        #expect(Self.npyFiles.count == 8)
        #expect(Self.npzFiles.count == 4)
    }

    @Test(arguments: torchFiles)
    func torchAndSafetensors(_ file: String) throws {
        let exp = try #require(CheckpointFixtures.expected["files"]?[file])
        let ckpt = try Checkpoint.open(CheckpointFixtures.url(file))
        switch exp["format"]?.string {
        case "zip": #expect(ckpt.format == .torchZip)
        case "legacy": #expect(ckpt.format == .torchLegacy)
        default: #expect(ckpt.format == .safetensors)
        }
        if let structure = exp["structure"] {
            let d = difference(Checkpoint.json(ckpt.root), structure)
            #expect(d == nil, "\(file) structure: \(d ?? "")")
        }
        let ours = Checkpoint.tensors(in: ckpt.root).map { ($0.path.joined(separator: "/"), $0.tensor) }
        let expTensors = exp["tensors"]?.array ?? []
        #expect(Set(ours.map(\.0)) == Set(expTensors.compactMap { $0["path"]?.string }), "\(file) tensor paths")
        if exp["format"] != nil {  // torch: same order as the pickle
            #expect(ours.map(\.0) == expTensors.compactMap { $0["path"]?.string }, "\(file) tensor order")
        }
        for e in expTensors {
            guard let t = ours.first(where: { $0.0 == e["path"]?.string })?.1 else { continue }
            try checkTensor(t, e, file: file, all: ours)
        }
        if let entries = exp["zip_entries"]?.array {
            let archive = try ZipArchive(ByteBuffer.map(CheckpointFixtures.url(file)))
            #expect(archive.entries.map(\.name) == entries.compactMap { $0["name"]?.string })
            for (z, e) in zip(archive.entries, entries) {
                #expect(Int64(z.method) == e["compress_type"]?.int)
                #expect(Int64(z.size) == e["file_size"]?.int)
                #expect(Int64(z.headerOffset) == e["header_offset"]?.int)
                #expect(hex8(z.crc32) == e["crc32"]?.string)
            }
        }
        if let header = exp["header"] {  // safetensors: the file's own header, order kept
            let b = try ByteBuffer.map(CheckpointFixtures.url(file))
            let n = Int(b.base.loadUnaligned(as: UInt64.self))
            #expect(Int64(n) == exp["header_len"]?.int)
            #expect(try JSONValue.parse(b.raw(8, n)) == header)
            #expect(ckpt.metadata.map(\.0) == ["format"] && ckpt.metadata.map(\.1) == ["pt"])
        }
        if let size = exp["size_bytes"]?.int { #expect(Int64(ckpt.fileSize) == size) }
    }

    static func checkArray(_ a: NPYArray, descr: String?, _ e: JSONValue, name: String) throws {
        if let descr {
            let (dt, _) = try NPY.parseDescr(descr, path: name)
            #expect(a.dtype == dt, "\(name) dtype")
        }
        #expect(a.shape.map { Int64($0) } == e["shape"]?.array?.compactMap(\.int), "\(name) shape")
        let v = a.doubles()
        let sum = v.reduce(0, +)
        let expSum = try #require(e["sum_f64"]?.double)
        #expect(sum == expSum || abs(sum - expSum) <= 1e-12 * abs(expSum), "\(name) sum \(sum) != \(expSum)")
        for (i, x) in (e["first4_row_major"]?.array ?? []).enumerated() { #expect(v[i] == x.double, "\(name) first4[\(i)]") }
        #expect(a.data.withUnsafeBytes { CheckpointFixtures.sha($0) } == e["sha256_row_major_le"]?.string, "\(name) sha256")
    }

    @Test(arguments: npyFiles)
    func npy(_ file: String) throws {
        let exp = try #require(CheckpointFixtures.expected["files"]?[file])
        let url = try CheckpointFixtures.url(file)
        let b = try ByteBuffer.map(url)
        let view = try NPY.view(b, start: 0, count: b.count)
        #expect(view.bigEndian == (exp["dtype_descr"]?.string?.hasPrefix(">") ?? false))
        try Self.checkArray(try NPY.read(contentsOf: url), descr: exp["dtype_descr"]?.string, exp, name: file)
        // Through the generic entry point too: one tensor named after the file.
        let (sd, ckpt) = try Checkpoint.load(url)
        #expect(ckpt.format == .npy && sd.count == 1)
        #expect(try sd.items[0].tensor.raw() == NPY.read(contentsOf: url))
    }

    @Test(arguments: npzFiles)
    func npz(_ file: String) throws {
        let exp = try #require(CheckpointFixtures.expected["files"]?[file])
        let url = try CheckpointFixtures.url(file)
        let arrays = try NPZ.read(contentsOf: url)
        let members = try #require(exp["members"])
        guard case let .object(m) = members else { Issue.record("members"); return }
        #expect(arrays.map(\.name) == m.map(\.0))
        for ((name, a), (_, e)) in zip(arrays, m) { try Self.checkArray(a, descr: e["dtype_descr"]?.string, e, name: "\(file):\(name)") }
        let archive = try ZipArchive(ByteBuffer.map(url))
        for (z, e) in zip(archive.entries, exp["zip_entries"]?.array ?? []) {
            #expect(z.name == e["name"]?.string && Int64(z.method) == e["compress_type"]?.int && Int64(z.size) == e["file_size"]?.int)
        }
        let ckpt = try Checkpoint.open(url)
        #expect(ckpt.format == .npz)
        #expect(try ckpt.stateDict().keys == m.map(\.0))
    }

    @Test func fileHashesOfReproducibleFixtures() throws {
        // Our SHA-256 against the hashes of whole files recorded by the generator.
        for (name, e) in CheckpointFixtures.files() {
            guard let h = e["sha256_file"]?.string else { continue }
            let b = try ByteBuffer.map(CheckpointFixtures.url(name))
            #expect(SHA256.hex(b.raw(0, b.count)) == h, "\(name)")
        }
    }
}
