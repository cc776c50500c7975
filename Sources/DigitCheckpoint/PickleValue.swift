import Foundation

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
    public var keyText: String { keyText(depth: 0) }

    func keyText(depth: Int) -> String {
        switch self {
        case let .string(s): return s
        case let .int(i): return String(i)
        case let .bigInt(s): return s
        case let .bool(b): return b ? "True" : "False"
        case .none: return "None"
        case let .float(f): return String(f)
        case let .bytes(b): return String(decoding: b, as: UTF8.self)
        case let .tuple(t): return depth > 8 ? "(…)" : "(" + t.map { $0.keyText(depth: depth + 1) }.joined(separator: ", ") + ")"
        default: return "<\(typeName)>"
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

    deinit {
        var children: [PickleValue] = []
        swap(&children, &items)
        Graveyard.bury(consume children)
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

    deinit {
        let children = items.flatMap { [$0.key, $0.value] } + (attributes.map { [$0] } ?? [])
        items = []
        attributes = nil
        Graveyard.bury(consume children)
    }

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

    deinit {
        let children = args + listItems + dictItems.flatMap { [$0.key, $0.value] } + [kwargs, state].compactMap { $0 }
        args = []
        listItems = []
        dictItems = []
        kwargs = nil
        state = nil
        Graveyard.bury(consume children)
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

    init?(_ v: PickleValue, depth: Int = 0) {
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
            guard depth < 16 else { return nil }  // deeper tuples are kept as unhashable keys
            var keys: [HashKey] = []
            for e in t {
                guard let k = HashKey(e, depth: depth + 1) else { return nil }
                keys.append(k)
            }
            self = .tuple(keys)
        default: return nil
        }
    }
}

/// Frees pickle containers iteratively. Dropping the last reference to a list that holds a list
/// that holds a list … would otherwise recurse once per level in `deinit` and overflow the stack
/// on a hostile file; here a `deinit` hands its children over and returns, and one loop drops
/// them one at a time.
enum Graveyard {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var pending: [PickleValue] = []
    nonisolated(unsafe) private static var draining = false

    /// Takes the children of a container being freed. The caller must already have removed them
    /// from the container, so that `values` holds the last references besides the graveyard's.
    static func bury(_ values: consuming [PickleValue]) {
        lock.lock()
        pending.append(contentsOf: copy values)
        let drain = !draining
        draining = true
        lock.unlock()
        _ = consume values  // the graveyard now holds the only references
        guard drain else { return }
        while true {
            lock.lock()
            guard let v = pending.popLast() else {
                draining = false
                lock.unlock()
                return
            }
            lock.unlock()
            _ = consume v  // may run another deinit, which only appends to `pending`
        }
    }
}
