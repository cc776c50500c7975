import Foundation

/// A torch storage named by a checkpoint's persistent id: its key, element type and size.
/// Its bytes are attached by the file loader (zip record or legacy raw block).
public final class TorchStorage: @unchecked Sendable {
    public let key: String
    public let dtype: DType
    public let numel: Int
    public let location: String
    /// Supplies the storage's first byte (verified); set once by the loader before use.
    var resolve: (@Sendable () throws -> (ByteBuffer, Int))?
    var bigEndian = false
    let path: String

    init(key: String, dtype: DType, numel: Int, location: String, path: String) {
        self.key = key
        self.dtype = dtype
        self.numel = numel
        self.location = location
        self.path = path
    }

    func bytes() throws -> (ByteBuffer, Int) {
        guard let r = resolve else {
            throw CheckpointError.malformed(path: path, offset: nil, reason: "storage '\(key)' is referenced but the file holds no data for it")
        }
        return try r()
    }
}

/// torch's storage classes and their element types.
enum TorchTypes {
    static let storages: [String: DType] = [
        "torch.FloatStorage": .float32, "torch.HalfStorage": .float16, "torch.BFloat16Storage": .bfloat16,
        "torch.DoubleStorage": .float64, "torch.LongStorage": .int64, "torch.IntStorage": .int32,
        "torch.ShortStorage": .int16, "torch.CharStorage": .int8, "torch.ByteStorage": .uint8,
        "torch.BoolStorage": .bool, "torch.UntypedStorage": .uint8,
        "torch.cuda.FloatStorage": .float32, "torch.cuda.HalfStorage": .float16, "torch.cuda.BFloat16Storage": .bfloat16,
        "torch.cuda.DoubleStorage": .float64, "torch.cuda.LongStorage": .int64, "torch.cuda.IntStorage": .int32,
        "torch.cuda.ByteStorage": .uint8, "torch.cuda.BoolStorage": .bool,
    ]
    /// `torch.float32`-style dtype globals (used by newer torch in persistent ids).
    static let dtypes: [String: DType] = [
        "torch.float32": .float32, "torch.float": .float32, "torch.float16": .float16, "torch.half": .float16,
        "torch.bfloat16": .bfloat16, "torch.float64": .float64, "torch.double": .float64, "torch.int64": .int64,
        "torch.long": .int64, "torch.int32": .int32, "torch.int": .int32, "torch.int16": .int16, "torch.int8": .int8,
        "torch.uint8": .uint8, "torch.bool": .bool,
    ]
}

/// Builds tensors and storages from torch pickles.
enum TorchTensors {
    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`
    /// and `_rebuild_tensor(storage, storage_offset, size, stride)`.
    static func rebuild(_ a: [PickleValue], path: String, offset: Int) throws -> PickleValue {
        func bad(_ r: String) -> CheckpointError { .malformed(path: path, offset: offset, reason: "tensor reconstruction: \(r)") }
        guard a.count >= 4 else { throw bad("\(a.count) arguments, expected at least 4") }
        guard case let .storage(s) = a[0] else { throw bad("first argument is a \(a[0].typeName), not a storage") }
        guard let off = a[1].intValue else { throw bad("storage offset is a \(a[1].typeName)") }
        func ints(_ v: PickleValue, _ what: String) throws -> [Int] {
            guard let seq = v.sequence else {
                if let i = v.intValue { return [Int(i)] }
                throw bad("\(what) is a \(v.typeName)")
            }
            return try seq.map {
                guard let i = $0.intValue, i >= Int64(Int32.min), i <= (1 << 42) else { throw bad("\(what) holds \($0.keyText)") }
                return Int(i)
            }
        }
        let shape = try ints(a[2], "size")
        let stride = try ints(a[3], "stride")
        guard off >= 0, off <= (1 << 42) else { throw bad("storage offset \(off)") }
        if let p = RawView.problem(shape: shape, stride: stride, offset: Int(off), numel: s.numel) {
            throw bad("\(p) (storage '\(s.key)')")
        }
        let layout = TensorLayout(stride: stride, storageOffset: Int(off), storageNumel: s.numel, storageID: s.key)
        let o = Int(off)
        let t = StoredTensor(layout: layout, dtype: s.dtype, shape: shape) {
            let (buffer, start) = try s.bytes()
            return RawView(buffer: buffer, byteOffset: start, dtype: s.dtype, shape: shape, stride: stride, offset: o, bigEndian: s.bigEndian)
        }
        return .tensor(t)
    }

    /// Interprets `('storage', storage_type, key, location, numel[, view_metadata])`.
    static func storagePID(_ pid: PickleValue, path: String, offset: Int) throws -> (type: DType, key: String, location: String, numel: Int, view: (String, Int, Int)?) {
        func bad(_ r: String) -> CheckpointError { .malformed(path: path, offset: offset, reason: "persistent id: \(r)") }
        guard let t = pid.sequence, t.count >= 5, t[0].stringValue == "storage" else {
            throw bad("expected ('storage', type, key, location, numel), got \(pid.typeName)")
        }
        guard case let .global(typeName) = t[1] else { throw bad("storage type is a \(t[1].typeName)") }
        guard let dtype = TorchTypes.storages[typeName] ?? TorchTypes.dtypes[typeName] else {
            throw CheckpointError.unsupported(path: path, reason: "storage type \(typeName) (at byte \(offset))")
        }
        let key = t[2].keyText
        guard let numel = t[4].intValue, numel >= 0, numel <= (1 << 42) else { throw bad("storage size is \(t[4].keyText)") }
        var view: (String, Int, Int)?
        if t.count > 5, let v = t[5].sequence, v.count == 3, let o = v[1].intValue, let n = v[2].intValue {
            view = (v[0].keyText, Int(o), Int(n))
        }
        return (dtype, key, t[3].keyText, Int(numel), view)
    }
}

/// PyTorch checkpoints: the zip format (torch >= 1.6) and the legacy format.
public enum TorchFile {
    /// Loads a zip-format `.pth`: `<name>/data.pkl` + `<name>/data/<key>` records.
    public static func loadZip(_ archive: ZipArchive, options: PickleVM.Options, verify: Bool = true) throws -> PickleValue {
        let path = archive.path
        let pkls = archive.entries.filter { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }
        guard let pkl = pkls.min(by: { $0.name.count < $1.name.count }) else {
            throw CheckpointError.malformed(path: path, offset: nil, reason: "zip archive has no data.pkl record: not a torch checkpoint")
        }
        let prefix = String(pkl.name.dropLast("data.pkl".count))
        var bigEndian = false
        if let bo = archive.entry(prefix + "byteorder") {
            let (b, o, n) = try archive.contents(bo, verify: verify)
            let text = String(decoding: b.raw(o, n), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard text == "little" || text == "big" else {
                throw CheckpointError.malformed(path: path, offset: bo.dataOffset, reason: "byteorder record says '\(text.prefix(20))'")
            }
            bigEndian = text == "big"
        }
        let (pb, po, pn) = try archive.contents(pkl, verify: verify)
        var storages: [String: TorchStorage] = [:]
        let vm = PickleVM(path: path, options: options) { pid, offset in
            let p = try TorchTensors.storagePID(pid, path: path, offset: offset)
            if let s = storages[p.key] {
                guard s.dtype == p.type, s.numel == p.numel else {
                    throw CheckpointError.malformed(path: path, offset: offset, reason: "storage '\(p.key)' is declared twice with different types or sizes")
                }
                return .storage(s)
            }
            let s = TorchStorage(key: p.key, dtype: p.type, numel: p.numel, location: p.location, path: path)
            s.bigEndian = bigEndian
            let name = prefix + "data/" + p.key
            guard let entry = archive.entry(name) else {
                throw CheckpointError.malformed(path: path, offset: offset, reason: "storage '\(p.key)' has no record '\(name)'")
            }
            let need = p.numel * p.type.size
            guard entry.size >= need else {
                throw CheckpointError.malformed(path: path, offset: entry.headerOffset, reason: "record '\(name)' holds \(entry.size) bytes, storage '\(p.key)' needs \(need) (\(p.numel) × \(p.type))")
            }
            let cache = VerifiedRecord(archive: archive, entry: entry, verify: verify)
            s.resolve = { try cache.get() }
            storages[p.key] = s
            return .storage(s)
        }
        let (root, end) = try vm.load(pb, from: po, end: po + pn)
        if end != po + pn {
            throw CheckpointError.malformed(path: path, offset: end, reason: "\(po + pn - end) bytes after the pickle's STOP in '\(pkl.name)'")
        }
        return root
    }

    /// The legacy magic number 0x1950a86a20f9469cfc6c in decimal.
    static let legacyMagic = "119547037146038801333356"

    /// Loads a legacy `.pth`: pickles of the magic number, protocol version and sys_info, the
    /// object, the list of storage keys, then for each key an int64 element count and raw bytes.
    public static func loadLegacy(_ buffer: ByteBuffer, options: PickleVM.Options) throws -> PickleValue {
        let path = buffer.path
        let plain = PickleVM(path: path, options: options)
        let (magic, p1) = try plain.load(buffer, from: 0)
        guard case let .bigInt(m) = magic, m == legacyMagic else {
            throw CheckpointError.malformed(path: path, offset: 0, reason: "first pickle is a \(magic.typeName) \(magic.keyText.prefix(30)), not torch's legacy magic number")
        }
        let (proto, p2) = try plain.load(buffer, from: p1)
        guard proto.intValue == 1001 else {
            throw CheckpointError.unsupported(path: path, reason: "legacy protocol version \(proto.keyText) (expected 1001)")
        }
        let (sysInfo, p3) = try plain.load(buffer, from: p2)
        var bigEndian = false
        if case let .bool(little)? = sysInfo["little_endian"] { bigEndian = !little }

        var storages: [String: TorchStorage] = [:]
        let vm = PickleVM(path: path, options: options) { pid, offset in
            let p = try TorchTensors.storagePID(pid, path: path, offset: offset)
            let root: TorchStorage
            if let s = storages[p.key] {
                guard s.dtype == p.type else {
                    throw CheckpointError.malformed(path: path, offset: offset, reason: "storage '\(p.key)' is declared with two types")
                }
                root = s
            } else {
                root = TorchStorage(key: p.key, dtype: p.type, numel: p.numel, location: p.location, path: path)
                root.bigEndian = bigEndian
                storages[p.key] = root
            }
            guard let (viewKey, viewOffset, viewSize) = p.view else { return .storage(root) }
            // Old torch storage views: a window of the root storage.
            guard viewOffset >= 0, viewSize >= 0, viewOffset + viewSize <= p.numel else {
                throw CheckpointError.malformed(path: path, offset: offset, reason: "storage view '\(viewKey)' is outside storage '\(p.key)'")
            }
            let v = TorchStorage(key: viewKey, dtype: p.type, numel: viewSize, location: p.location, path: path)
            v.bigEndian = bigEndian
            let es = p.type.size
            v.resolve = { let (b, o) = try root.bytes(); return (b, o + viewOffset * es) }
            return .storage(v)
        }
        let (root, p4) = try vm.load(buffer, from: p3)
        let (keysValue, p5) = try plain.load(buffer, from: p4)
        guard let keyList = keysValue.sequence else {
            throw CheckpointError.malformed(path: path, offset: p4, reason: "storage key list is a \(keysValue.typeName)")
        }
        var c = ByteCursor(buffer, from: p5)
        var seen = Set<String>()
        for k in keyList {
            let key = k.keyText
            guard let s = storages[key] else {
                throw CheckpointError.malformed(path: path, offset: c.position, reason: "storage '\(key)' is listed but no tensor uses it, so its element size is unknown")
            }
            guard seen.insert(key).inserted else {
                throw CheckpointError.malformed(path: path, offset: c.position, reason: "storage '\(key)' is listed twice")
            }
            let at = c.position
            let count = try c.u64("element count of storage '\(key)'")
            guard count == UInt64(s.numel) else {
                throw CheckpointError.malformed(path: path, offset: at, reason: "storage '\(key)' holds \(count) elements, the pickle says \(s.numel)")
            }
            let n = s.numel * s.dtype.size
            guard n <= c.remaining else {
                throw CheckpointError.malformed(path: path, offset: c.position, reason: "storage '\(key)' needs \(n) bytes but the file ends after \(c.remaining): truncated")
            }
            let start = c.position
            s.resolve = { (buffer, start) }
            c.position += n
        }
        for (key, s) in storages where s.resolve == nil {
            throw CheckpointError.malformed(path: path, offset: p5, reason: "storage '\(key)' is used by a tensor but not in the file's storage list")
        }
        if c.remaining > 0 {
            throw CheckpointError.malformed(path: path, offset: c.position, reason: "\(c.remaining) unexpected bytes after the last storage")
        }
        return root
    }
}

/// A zip record whose CRC-32 is checked once, on first use.
final class VerifiedRecord: @unchecked Sendable {
    let archive: ZipArchive
    let entry: ZipArchive.Entry
    let verify: Bool
    private let lock = NSLock()
    private var cached: (ByteBuffer, Int)?

    init(archive: ZipArchive, entry: ZipArchive.Entry, verify: Bool) {
        self.archive = archive
        self.entry = entry
        self.verify = verify
    }

    func get() throws -> (ByteBuffer, Int) {
        lock.lock()
        defer { lock.unlock() }
        if let c = cached { return c }
        let (b, o, _) = try archive.contents(entry, verify: verify)
        cached = (b, o)
        return (b, o)
    }
}
