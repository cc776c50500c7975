import DigitTensor

/// A tensor stored in a checkpoint: its element type and shape, loaded on demand.
public struct StoredTensor: Sendable {
    public var dtype: DType
    public var shape: [Int]
    /// Reads the elements and converts them to Float32.
    public var load: @Sendable () throws -> Tensor
    /// Reads the elements in their own dtype (row-major, little-endian), e.g. for int64 indices.
    /// For tensors made from a Float32 `Tensor` this is the float32 data.
    public var raw: @Sendable () throws -> NPYArray
    /// Calls the body with the elements' own bytes in row-major little-endian order, straight from
    /// the memory-mapped file when the tensor is contiguous (used by `convert`).
    public var contiguousBytes: @Sendable (_ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    /// Strides, storage offset and storage identity when read from a file.
    public var layout: TensorLayout?

    public init(dtype: DType, shape: [Int], load: @escaping @Sendable () throws -> Tensor) {
        self.dtype = dtype
        self.shape = shape
        self.load = load
        self.raw = { NPYArray(try load()) }
        self.contiguousBytes = { body in try load().scalars.withUnsafeBytes { try body($0) } }
        self.layout = nil
    }

    /// A stored tensor backed by an in-memory `Tensor`.
    public init(_ tensor: Tensor) {
        self.init(dtype: .float32, shape: tensor.shape, load: { tensor })
    }
}

/// An ordered map from flattened, dotted state-dict keys (`encoder.down.0.block.1.norm1.weight`)
/// to stored tensors, in the order the file lists them.
public struct StateDict: Sendable {
    public private(set) var keys: [String] = []
    private var entries: [String: StoredTensor] = [:]
    /// The file this came from, for error messages.
    public var source: String?

    public init(source: String? = nil) { self.source = source }

    /// The entry for `key`, or nil.
    public subscript(key: String) -> StoredTensor? {
        get { entries[key] }
        set {
            if let newValue {
                if entries[key] == nil { keys.append(key) }
                entries[key] = newValue
            } else if entries.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public var count: Int { keys.count }

    /// Loads `key` as Float32, throwing ``CheckpointError/missingKey(key:path:hint:)`` if absent.
    public func tensor(_ key: String) throws -> Tensor {
        guard let e = entries[key] else { throw CheckpointError.missingKey(key: key, path: source, hint: nil) }
        return try e.load()
    }

    /// The entries whose key starts with `prefix`, with the prefix removed.
    public func selecting(prefix: String) -> StateDict {
        var out = StateDict(source: source)
        for k in keys where k.hasPrefix(prefix) { out[String(k.dropFirst(prefix.count))] = entries[k] }
        return out
    }

    /// All entries, with `prefix` removed from the keys that start with it (`module.` from
    /// DataParallel checkpoints, `model.` from Lightning ones). Throws if two keys collide.
    public func strippingPrefix(_ prefix: String) throws -> StateDict {
        var out = StateDict(source: source)
        for k in keys {
            let nk = k.hasPrefix(prefix) ? String(k.dropFirst(prefix.count)) : k
            if out[nk] != nil {
                throw CheckpointError.malformed(path: source ?? "state dict", offset: nil, reason: "stripping '\(prefix)' makes key '\(nk)' appear twice")
            }
            out[nk] = entries[k]
        }
        return out
    }

    /// The longest prefix ending in `.` shared by every key (e.g. `module.`), or "".
    public var commonPrefix: String {
        guard let first = keys.first else { return "" }
        var p = Substring(first)
        for k in keys.dropFirst() {
            while !k.hasPrefix(p) { p = p.dropLast() }
        }
        guard let dot = p.lastIndex(of: ".") else { return "" }
        return String(p[...dot])
    }

    /// Total number of elements over all tensors.
    public var parameterCount: Int { keys.reduce(0) { $0 + (entries[$1]?.count ?? 0) } }

    /// (key, tensor) pairs in file order.
    public var items: [(key: String, tensor: StoredTensor)] { keys.map { ($0, entries[$0]!) } }
}
