import DigitTensor

/// A tensor stored in a checkpoint: its element type and shape, loaded on demand.
public struct StoredTensor: Sendable {
    public var dtype: DType
    public var shape: [Int]
    /// Reads the elements and converts them to Float32.
    public var load: @Sendable () throws -> Tensor

    public init(dtype: DType, shape: [Int], load: @escaping @Sendable () throws -> Tensor) {
        self.dtype = dtype
        self.shape = shape
        self.load = load
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
}
