import Foundation

/// Any checkpoint or array file digit-bench reads, opened by sniffing its bytes: PyTorch zip
/// (`torch.save`, Lightning `.ckpt`, fairseq `.pt`), PyTorch legacy, safetensors, `.npz`,
/// `.npy`, or a plain pickle. The whole object tree is kept (tensors lazy, other Python objects
/// opaque) so configs and metadata stay inspectable; ``stateDict(select:)`` flattens tensors.
public struct Checkpoint: @unchecked Sendable {
    public enum Format: String, Sendable {
        case torchZip = "torch-zip"
        case torchLegacy = "torch-legacy"
        case safetensors
        case npz
        case npy
        case pickle
    }

    public struct Options: Sendable {
        /// Refuse every Python class not rebuilt natively (like `torch.load(weights_only=True)`),
        /// instead of recording it as an opaque object.
        public var strict = false
        /// Verify each zip record's CRC-32 when it is first read.
        public var verifyChecksums = true
        public init(strict: Bool = false, verifyChecksums: Bool = true) {
            self.strict = strict
            self.verifyChecksums = verifyChecksums
        }
    }

    public let url: URL
    public let format: Format
    /// The unpickled object (for safetensors/npz: a dict of tensors; for npy: the tensor).
    public let root: PickleValue
    /// safetensors `__metadata__`.
    public let metadata: [(String, String)]
    /// File size in bytes.
    public let fileSize: Int

    public var path: String { url.path }

    // MARK: - Opening

    /// Opens `url`, sniffing the format from its first bytes. Tensors are not read yet.
    public static func open(_ url: URL, options: Options = Options()) throws -> Checkpoint {
        try open(ByteBuffer.map(url), url: url, options: options)
    }

    /// Opens bytes already in memory (`buffer.path` names them in errors).
    static func open(_ buffer: ByteBuffer, url: URL, options: Options = Options()) throws -> Checkpoint {
        let path = buffer.path
        let vmOptions = PickleVM.Options(strict: options.strict)
        let head = Array(buffer.raw(0, min(buffer.count, 16)))
        if ZipArchive.looksLikeZip(buffer) {
            let archive = try ZipArchive(buffer)
            if archive.entries.contains(where: { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }) {
                let root = try TorchFile.loadZip(archive, options: vmOptions, verify: options.verifyChecksums)
                return Checkpoint(url: url, format: .torchZip, root: root, metadata: [], fileSize: buffer.count)
            }
            let d = PyDict()
            for (name, view) in try NPZ.views(archive, verify: options.verifyChecksums) {
                d.set(.string(name), .tensor(stored(view, id: name)))
            }
            return Checkpoint(url: url, format: .npz, root: .dict(d), metadata: [], fileSize: buffer.count)
        }
        if head.starts(with: [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]) {
            let view = try NPY.view(buffer, start: 0, count: buffer.count)
            return Checkpoint(url: url, format: .npy, root: .tensor(stored(view, id: url.lastPathComponent)), metadata: [], fileSize: buffer.count)
        }
        if head.count >= 9, head[8] == UInt8(ascii: "{"), head[0..<8].reversed().reduce(0, { $0 << 8 | UInt64($1) }) < UInt64(buffer.count) {
            let (tensors, meta) = try SafeTensors.read(buffer)
            let d = PyDict()
            for (name, t) in tensors { d.set(.string(name), .tensor(t)) }
            return Checkpoint(url: url, format: .safetensors, root: .dict(d), metadata: meta, fileSize: buffer.count)
        }
        if buffer.count > 262, String(decoding: buffer.raw(257, 5), as: UTF8.self) == "ustar" {
            throw CheckpointError.unsupported(path: path, reason: "tar-format checkpoint (torch < 0.4); re-save it with a newer torch")
        }
        if let first = head.first, first == 0x80 || first == UInt8(ascii: "(") || first == UInt8(ascii: "}") || first == UInt8(ascii: "]") {
            // Legacy torch files begin with a pickle of the magic number; anything else is a plain pickle.
            let (first, end) = try PickleVM(path: path, options: vmOptions).load(buffer)
            if case let .bigInt(m) = first, m == TorchFile.legacyMagic {
                let root = try TorchFile.loadLegacy(buffer, options: vmOptions)
                return Checkpoint(url: url, format: .torchLegacy, root: root, metadata: [], fileSize: buffer.count)
            }
            if end != buffer.count {
                throw CheckpointError.malformed(path: path, offset: end, reason: "\(buffer.count - end) bytes after the pickle's STOP")
            }
            return Checkpoint(url: url, format: .pickle, root: first, metadata: [], fileSize: buffer.count)
        }
        let hex = head.prefix(8).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        throw CheckpointError.unsupported(path: path, reason: "unknown file format (first bytes \(hex)): expected a torch .pth/.ckpt/.pt, safetensors, .npy or .npz file")
    }

    static func stored(_ view: RawView, id: String) -> StoredTensor {
        let layout = TensorLayout(stride: view.stride, storageOffset: 0, storageNumel: view.count, storageID: id)
        return StoredTensor(layout: layout, dtype: view.dtype, shape: view.shape) { view }
    }

    /// Opens `url` and returns its tensors as a flattened state dict (see ``stateDict(select:)``)
    /// together with the checkpoint (metadata, opaque objects).
    public static func load(_ url: URL, select: String? = nil, options: Options = Options()) throws -> (stateDict: StateDict, checkpoint: Checkpoint) {
        let c = try open(url, options: options)
        return (try c.stateDict(select: select), c)
    }

    // MARK: - Navigating

    /// The sub-tree at `selection`: keys separated by `/` (`model`, `state_dict`,
    /// `optimizer/state/0`); a key containing `/` may also be given whole.
    public func node(at selection: String?) throws -> PickleValue {
        guard let selection, !selection.isEmpty else { return root }
        var node = root
        var parts = selection.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var walked: [String] = []
        while !parts.isEmpty {
            // Try the longest run of components first, so keys that contain '/' work.
            var found = false
            for n in stride(from: parts.count, through: 1, by: -1) {
                let key = parts[0..<n].joined(separator: "/")
                if let child = Checkpoint.child(node, key) {
                    node = child
                    walked.append(key)
                    parts.removeFirst(n)
                    found = true
                    break
                }
            }
            if !found {
                let keys = Checkpoint.children(node).map(\.0)
                let shown = keys.prefix(12).joined(separator: ", ") + (keys.count > 12 ? ", … (\(keys.count) keys)" : "")
                let at = walked.isEmpty ? "the top level" : "'\(walked.joined(separator: "/"))'"
                throw CheckpointError.missingKey(key: parts[0], path: path, hint: keys.isEmpty ? "\(at) is a \(node.typeName), which has no keys" : "keys at \(at): \(shown)")
            }
        }
        return node
    }

    static func child(_ v: PickleValue, _ key: String) -> PickleValue? {
        children(v).first { $0.0 == key }?.1
    }

    /// Named children of a node, in order: dict items, list/tuple indices, object state and items.
    public static func children(_ v: PickleValue) -> [(String, PickleValue)] {
        switch v {
        case let .dict(d): return d.items.map { ($0.key.keyText, $0.value) }
        case let .tuple(t): return t.enumerated().map { (String($0.offset), $0.element) }
        case let .list(l): return l.items.enumerated().map { (String($0.offset), $0.element) }
        case let .object(o):
            var out: [(String, PickleValue)] = []
            if let s = o.state {
                if case .dict = s { out += children(s) } else { out.append(("state", s)) }
            }
            out += o.args.enumerated().map { ("args.\($0.offset)", $0.element) }
            out += o.listItems.enumerated().map { (String($0.offset), $0.element) }
            out += o.dictItems.map { ($0.key.keyText, $0.value) }
            return out
        default: return []
        }
    }

    /// Every tensor under `node` with its path of keys, in file order.
    public static func tensors(in node: PickleValue) -> [(path: [String], tensor: StoredTensor)] {
        var out: [(path: [String], tensor: StoredTensor)] = []
        func walk(_ v: PickleValue, _ p: [String], _ depth: Int) {
            guard depth < 2000 else { return }
            switch v {
            case let .tensor(t): out.append((p, t))
            case let .object(o) where o.ndarray != nil:
                let a = o.ndarray!
                out.append((p, StoredTensor(array: a)))
            default:
                for (k, c) in children(v) { walk(c, p + [k], depth + 1) }
            }
        }
        walk(node, [], 0)
        return out
    }

    /// The tensors under `select` (the whole file if nil) as a state dict whose keys are the
    /// dict keys joined by `.` (`model.encoder.conv_in.weight` → with `select: "model"`,
    /// `encoder.conv_in.weight`). A selected single tensor gets the key of its last path part.
    public func stateDict(select: String? = nil) throws -> StateDict {
        let node = try node(at: select)
        var sd = StateDict(source: path)
        for (p, t) in Checkpoint.tensors(in: node) {
            var key = p.joined(separator: ".")
            if key.isEmpty { key = select.map { String($0.split(separator: "/").last ?? "") } ?? url.deletingPathExtension().lastPathComponent }
            if sd[key] != nil {
                throw CheckpointError.malformed(path: path, offset: nil, reason: "two tensors flatten to the key '\(key)'")
            }
            sd[key] = t
        }
        return sd
    }

    // MARK: - JSON

    /// The tree in the fixture convention: dicts `{"type", "items": [[k, v], …]}`, lists and
    /// tuples `{"type", "items"}`, tensors `{"tensor": "a/b/c"}`, objects
    /// `{"object": class, "state", "args", …}`, non-finite floats as strings.
    public static func json(_ v: PickleValue, path: [String] = []) -> JSONValue {
        switch v {
        case .none: return .null
        case let .bool(b): return .bool(b)
        case let .int(i): return .int(i)
        case let .bigInt(s): return .number(s)
        case let .float(f): return .float(f)
        case let .string(s): return .string(s)
        case let .bytes(b): return .object([("bytes", .string(b.map { String(format: "%02x", $0) }.joined()))])
        case let .global(g): return .object([("global", .string(g))])
        case .tensor: return .object([("tensor", .string(path.joined(separator: "/")))])
        case let .storage(s): return .object([("storage", .string(s.key)), ("dtype", .string(s.dtype.rawValue)), ("numel", .int(Int64(s.numel)))])
        case let .tuple(t): return .object([("type", .string("tuple")), ("items", .array(t.enumerated().map { json($1, path: path + [String($0)]) }))])
        case let .list(l): return .object([("type", .string(l.kind)), ("items", .array(l.items.enumerated().map { json($1, path: path + [String($0)]) }))])
        case let .dict(d):
            return .object([
                ("type", .string(d.kind)),
                ("items", .array(d.items.map { .array([json($0.key, path: path), json($0.value, path: path + [$0.key.keyText])]) })),
            ])
        case let .object(o):
            if o.ndarray != nil { return .object([("tensor", .string(path.joined(separator: "/"))), ("object", .string(o.className))]) }
            var f: [(String, JSONValue)] = [("object", .string(o.className))]
            if let s = o.state {
                if case .dict = s { f.append(("state", json(s, path: path))) } else { f.append(("state", json(s, path: path + ["state"]))) }
            }
            if !o.args.isEmpty { f.append(("args", .array(o.args.enumerated().map { json($1, path: path + ["args.\($0)"]) }))) }
            if let k = o.kwargs { f.append(("kwargs", json(k, path: path))) }
            if !o.listItems.isEmpty { f.append(("items", .array(o.listItems.enumerated().map { json($1, path: path + [String($0)]) }))) }
            if !o.dictItems.isEmpty { f.append(("dict_items", .array(o.dictItems.map { .array([json($0.key, path: path), json($0.value, path: path + [$0.key.keyText])]) }))) }
            return .object(f)
        }
    }

    /// `inspect --json`: format, structure and a tensor table.
    public func inspectJSON(select: String? = nil) throws -> JSONValue {
        let node = try node(at: select)
        let prefix = select.map { $0.split(separator: "/").map(String.init) } ?? []
        let tensors = Checkpoint.tensors(in: node)
        var rows: [JSONValue] = []
        var params = 0
        for (p, t) in tensors {
            params += t.count
            var f: [(String, JSONValue)] = [
                ("path", .string((prefix + p).joined(separator: "/"))), ("dtype", .string(t.dtype.rawValue)),
                ("shape", .array(t.shape.map { .int(Int64($0)) })), ("numel", .int(Int64(t.count))),
            ]
            if let l = t.layout {
                f += [
                    ("stride", .array(l.stride.map { .int(Int64($0)) })), ("storage_offset", .int(Int64(l.storageOffset))),
                    ("storage_numel", .int(Int64(l.storageNumel))), ("storage", .string(l.storageID)),
                ]
            }
            rows.append(.object(f))
        }
        var top: [(String, JSONValue)] = [
            ("file", .string(path)), ("format", .string(format.rawValue)), ("size_bytes", .int(Int64(fileSize))),
            ("tensor_count", .int(Int64(tensors.count))), ("parameter_count", .int(Int64(params))),
        ]
        if let select { top.append(("select", .string(select))) }
        if !metadata.isEmpty { top.append(("metadata", .object(metadata.map { ($0.0, .string($0.1)) }))) }
        top.append(("structure", Checkpoint.json(node, path: prefix)))
        top.append(("tensors", .array(rows)))
        return .object(top)
    }
}

extension StoredTensor {
    /// A stored tensor backed by an in-memory array (its own dtype kept).
    public init(array: NPYArray) {
        let buf = ByteBuffer(copying: array.data, path: "")
        let view = RawView(buffer: buf, byteOffset: 0, dtype: array.dtype, shape: array.shape)
        self.init(layout: nil, dtype: array.dtype, shape: array.shape) { view }
    }
}
