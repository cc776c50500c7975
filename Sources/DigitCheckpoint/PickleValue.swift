/// A value built by the safe pickle VM: plain data, tensors, and opaque objects standing in for
/// Python classes (their class name, constructor arguments and state), never live Python objects.
///
/// Lists, dicts and objects are reference types because pickles mutate them after creating them
/// (APPENDS, SETITEMS, BUILD) and share them through the memo.
public indirect enum PickleValue: @unchecked Sendable {
    case none
    case bool(Bool)
    case int(Int64)
    /// An integer beyond Int64, in decimal.
    case bigInt(String)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    /// `list`, `set`, `frozenset`, `collections.deque` (``PyList/kind``).
    case list(PyList)
    /// `dict`, `collections.OrderedDict`, `collections.defaultdict`, … (``PyDict/kind``).
    case dict(PyDict)
    /// An instance of a class digit-bench does not model (`argparse.Namespace`, omegaconf, fairseq
    /// configs, …): its class name, constructor arguments and state.
    case object(PyObject)
    /// A reference to a class or function (`torch.float32`, a class used as a value); never called.
    case global(String)
    /// A tensor (lazy: its bytes are read when loaded).
    case tensor(StoredTensor)
    /// A torch storage (only seen inside tensor reconstruction, or as a bare storage).
    case storage(TorchStorage)

    /// A short human name of the kind of value.
    public var typeName: String {
        switch self {
        case .none: "None"
        case .bool: "bool"
        case .int, .bigInt: "int"
        case .float: "float"
        case .string: "str"
        case .bytes: "bytes"
        case .tuple: "tuple"
        case let .list(l): l.kind
        case let .dict(d): d.kind
        case let .object(o): o.className
        case let .global(g): "global \(g)"
        case .tensor: "tensor"
        case .storage: "storage"
        }
    }

    /// The value of a dict key as a path component (`model`, `0`, …).
    public var keyText: String {
        switch self {
        case let .string(s): s
        case let .int(i): String(i)
        case let .bigInt(s): s
        case let .bool(b): b ? "True" : "False"
        case .none: "None"
        case let .float(f): String(f)
        case let .bytes(b): String(decoding: b, as: UTF8.self)
        case let .tuple(t): "(" + t.map(\.keyText).joined(separator: ", ") + ")"
        default: "<\(typeName)>"
        }
    }

    public var stringValue: String? { if case let .string(s) = self { s } else { nil } }
    public var intValue: Int64? {
        switch self {
        case let .int(i): i
        case let .bool(b): b ? 1 : 0
        default: nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case let .float(f): f
        case let .int(i): Double(i)
        default: nil
        }
    }

    /// The items of a tuple or list.
    public var sequence: [PickleValue]? {
        switch self {
        case let .tuple(t): t
        case let .list(l): l.items
        default: nil
        }
    }

    /// For a dict: the value under a string key.
    public subscript(key: String) -> PickleValue? {
        if case let .dict(d) = self { return d[key] }
        if case let .object(o) = self, let s = o.state { return s[key] }
        return nil
    }
}

/// A Python list/set/deque built by the pickle.
public final class PyList: @unchecked Sendable {
    public var kind: String
    public var items: [PickleValue]
    init(kind: String = "list", items: [PickleValue] = []) {
        self.kind = kind
        self.items = items
    }
}

/// An insertion-ordered Python dict. Scalar keys are deduplicated as Python would.
public final class PyDict: @unchecked Sendable {
    /// `dict`, `OrderedDict`, `defaultdict`, `Counter`.
    public var kind: String
    public private(set) var items: [(key: PickleValue, value: PickleValue)] = []
    private var index: [HashKey: Int] = [:]
    /// State set by BUILD (torch stores `_metadata` here on state-dict OrderedDicts).
    public var attributes: PickleValue?

    init(kind: String = "dict") { self.kind = kind }

    func set(_ key: PickleValue, _ value: PickleValue) {
        if let h = HashKey(key) {
            if let i = index[h] {
                items[i].value = value
                return
            }
            index[h] = items.count
        }
        items.append((key, value))
    }

    public subscript(key: String) -> PickleValue? {
        index[.string(key)].map { items[$0].value }
    }

    public var count: Int { items.count }
}

/// An instance of a class digit-bench does not model. Nothing of it is executed: the record
/// is what the pickle said (class, arguments, state, and any items appended or set on it).
public final class PyObject: @unchecked Sendable {
    public let className: String
    public var args: [PickleValue]
    public var kwargs: PickleValue?
    public var state: PickleValue?
    public var listItems: [PickleValue] = []
    public var dictItems: [(key: PickleValue, value: PickleValue)] = []
    /// For `numpy.ndarray` objects whose state was understood: the array.
    public var ndarray: NPYArray?

    init(className: String, args: [PickleValue] = [], kwargs: PickleValue? = nil) {
        self.className = className
        self.args = args
        self.kwargs = kwargs
    }
}

/// Dict keys that Python hashes by value.
enum HashKey: Hashable {
    case none
    case bool(Bool)
    case int(Int64)
    case big(String)
    case float(UInt64)
    case string(String)
    case bytes([UInt8])
    case tuple([HashKey])
    case global(String)

    init?(_ v: PickleValue) {
        switch v {
        case .none: self = .none
        case let .bool(b): self = .bool(b)
        case let .int(i): self = .int(i)
        case let .bigInt(s): self = .big(s)
        case let .float(f): self = .float(f.bitPattern)
        case let .string(s): self = .string(s)
        case let .bytes(b): self = .bytes(b)
        case let .global(g): self = .global(g)
        case let .tuple(t):
            var keys: [HashKey] = []
            for e in t {
                guard let k = HashKey(e) else { return nil }
                keys.append(k)
            }
            self = .tuple(keys)
        default: return nil
        }
    }
}
