import Foundation

/// A pickle virtual machine (protocols 0-5) that only builds data.
///
/// Nothing named by a pickle is imported or called. `GLOBAL` yields a name; `REDUCE`, `NEWOBJ`,
/// `INST` and `OBJ` on a name either
/// 1. rebuild known data natively (`collections.OrderedDict`, torch's tensor reconstructors,
///    `_codecs.encode`, `builtins.set`, `copyreg._reconstructor`, NumPy arrays and scalars), or
/// 2. record an opaque ``PyObject`` (class name, arguments, later state) when the name is a class:
///    a CapWords name by Python convention (`argparse.Namespace`, `omegaconf.DictConfig`) or a
///    listed lower-case data type (`numpy.dtype`, `torch.device`, `datetime.date`), or
/// 3. refuse the file, naming the global, for anything else — a function call such as
///    `os.system`, `builtins.eval`, `torch.load`. Names from modules that only exist to run code
///    (`os`, `subprocess`, `builtins` other than data types, `importlib`, `functools`, …) are
///    refused as soon as the pickle mentions them.
///
/// With ``Options/strict`` the second rule is off: every class outside the native list is refused
/// (like `torch.load(weights_only=True)`).
public struct PickleVM {
    public struct Options: Sendable {
        /// Refuse every global that is not rebuilt natively.
        public var strict = false
        /// Maximum nesting depth of the built structure.
        public var maxDepth = 1000
        /// How many `torch.storage._load_from_bytes` files deep this pickle is.
        var embeddedLevel = 0
        public init(strict: Bool = false) { self.strict = strict }
    }

    /// Loads torch storages for `BINPERSID`/`PERSID`.
    public typealias PersistentLoad = (_ pid: PickleValue, _ offset: Int) throws -> PickleValue

    let path: String
    let options: Options
    let persistentLoad: PersistentLoad?

    public init(path: String, options: Options = Options(), persistentLoad: PersistentLoad? = nil) {
        self.path = path
        self.options = options
        self.persistentLoad = persistentLoad
    }

    /// Unpickles one pickle starting at `start`; returns its value and the offset after STOP.
    public func load(_ buffer: ByteBuffer, from start: Int = 0, end: Int? = nil) throws -> (PickleValue, Int) {
        var m = PickleMachine(vm: self, cursor: ByteCursor(buffer, from: start, end: end))
        let v = try m.run()
        // Walkers recurse; refuse what they could not walk. (Teardown is safe either way:
        // tuples are depth-limited as they are made, containers are freed iteratively.)
        if let problem = Shape.check([v], maxDepth: options.maxDepth, budget: 8 * m.ops + 1024) {
            throw CheckpointError.malformed(path: path, offset: start, reason: "pickle builds \(problem)")
        }
        return (v, m.cursor.position)
    }

    /// Unpickles a whole file that holds one plain pickle (no torch storages).
    public static func load(contentsOf url: URL, options: Options = Options()) throws -> PickleValue {
        let b = try ByteBuffer.map(url)
        return try PickleVM(path: url.path, options: options).load(b).0
    }

    // MARK: - Globals policy

    /// Modules whose every name is refused on sight.
    static let deniedModules: Set<String> = [
        "os", "posix", "nt", "posixpath", "ntpath", "subprocess", "sys", "shutil", "socket", "importlib", "pickle",
        "_pickle", "cPickle", "marshal", "runpy", "code", "codeop", "ctypes", "functools", "operator", "types", "io",
        "_io", "tempfile", "webbrowser", "pty", "platform", "multiprocessing", "asyncio", "signal", "threading",
        "_thread", "pdb", "bdb", "timeit", "commands", "urllib", "http", "requests", "glob", "zipimport", "pkgutil",
        "inspect", "gc", "atexit", "resource", "shelve", "dbm", "sqlite3", "smtplib", "ftplib", "telnetlib",
        "xmlrpc", "trace", "cProfile", "profile", "site", "ensurepip", "pip", "setuptools", "distutils", "popen2",
        "spawn", "sysconfig", "dill", "cloudpickle", "joblib", "yaml", "torch.hub", "torch.jit", "torch.package",
        "torch.serialization", "torch.utils.cpp_extension", "numpy.f2py", "numpy.distutils", "numpy.testing",
    ]
    /// The only `builtins` names a pickle may mention: data types.
    static let allowedBuiltins: Set<String> = [
        "set", "frozenset", "bytearray", "bytes", "complex", "slice", "range", "object", "list", "dict", "tuple",
        "int", "float", "str", "bool", "NoneType", "Ellipsis", "NotImplemented",
    ]
    /// Lower-case names that are data types (recorded as opaque objects when constructed).
    static let dataConstructors: Set<String> = [
        "numpy.dtype", "numpy.ndarray", "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
        "torch.device", "torch.Size", "datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta",
        "datetime.timezone", "builtins.complex", "builtins.slice", "builtins.range", "builtins.object",
        "__builtin__.complex", "__builtin__.slice", "__builtin__.object", "collections.deque", "torch.dtype",
        "torch.layout", "torch.memory_format", "torch.finfo", "torch.iinfo",
    ]

    /// Throws if `module.name` may not even be mentioned.
    func checkGlobal(_ module: String, _ name: String, offset: Int) throws {
        let full = module + "." + name
        if module == "builtins" || module == "__builtin__" {
            if !Self.allowedBuiltins.contains(name) { throw CheckpointError.forbiddenGlobal(path: path, global: full, opcodeOffset: offset) }
            return
        }
        var m = Substring(module)
        while true {
            if Self.deniedModules.contains(String(m)) { throw CheckpointError.forbiddenGlobal(path: path, global: full, opcodeOffset: offset) }
            guard let dot = m.lastIndex(of: ".") else { break }
            m = m[..<dot]
        }
        if name.hasPrefix("__") && !["__newobj__", "__newobj_ex__", "__reduce__"].contains(name) && !name.hasSuffix("__") {
            throw CheckpointError.forbiddenGlobal(path: path, global: full, opcodeOffset: offset)
        }
        if name.contains("(") || name.contains(" ") || module.isEmpty || name.isEmpty {
            throw CheckpointError.malformed(path: path, offset: offset, reason: "bad global name '\(full)'")
        }
    }

    /// Whether constructing `name` just records an opaque object.
    func isDataClass(_ name: String) -> Bool {
        if Self.dataConstructors.contains(name) { return !options.strict || name == "torch.Size" }
        if options.strict { return false }
        // Python classes are CapWords; private ones start with '_' (dataclasses._MISSING_TYPE).
        let last = (name.split(separator: ".").last ?? "").drop { $0 == "_" }
        return last.first.map { $0.isUppercase } ?? false
    }
}

/// Iterative structure checks: nesting depth, cycles and size of the built value graph.
enum Shape {
    /// nil if fine, else what is wrong.
    static func check(_ roots: [PickleValue], maxDepth: Int, budget: Int) -> String? {
        var work: [(PickleValue, Int)] = roots.map { ($0, 1) }
        var deepest: [ObjectIdentifier: Int] = [:]
        var visits = 0
        while let (v, d) = work.popLast() {
            visits += 1
            if d > maxDepth { return "a structure nested deeper than \(maxDepth) levels (or a recursive one)" }
            if visits > budget { return "a structure whose walk exceeds \(budget) nodes (shared sub-structures)" }
            func seen(_ o: AnyObject) -> Bool {
                let id = ObjectIdentifier(o)
                if let e = deepest[id], e >= d { return true }
                deepest[id] = d
                return false
            }
            switch v {
            case let .tuple(t): for x in t { work.append((x, d + 1)) }
            case let .list(l): if !seen(l) { for x in l.items { work.append((x, d + 1)) } }
            case let .dict(p):
                if !seen(p) {
                    for (k, x) in p.items { work.append((k, d + 1)); work.append((x, d + 1)) }
                    if let a = p.attributes { work.append((a, d + 1)) }
                }
            case let .object(o):
                if !seen(o) {
                    for x in o.args { work.append((x, d + 1)) }
                    if let s = o.state { work.append((s, d + 1)) }
                    if let k = o.kwargs { work.append((k, d + 1)) }
                    for x in o.listItems { work.append((x, d + 1)) }
                    for (k, x) in o.dictItems { work.append((k, d + 1)); work.append((x, d + 1)) }
                }
            default: break
            }
        }
        return nil
    }
}

/// The running machine: stack, mark stack, memo.
struct PickleMachine {
    let vm: PickleVM
    var cursor: ByteCursor
    var stack: [PickleValue] = []
    /// Tuple nesting depth of each stack entry (tuples are values, so their depth is known when
    /// they are made; containers are classes whose teardown is iterative, see ``Graveyard``).
    var depths: [Int] = []
    var marks: [Int] = []
    var memo: [Int: PickleValue] = [:]
    var memoDepths: [Int: Int] = [:]
    var ops = 0
    var opStart = 0

    init(vm: PickleVM, cursor: ByteCursor) {
        self.vm = vm
        self.cursor = cursor
    }

    var path: String { vm.path }

    func bad(_ reason: String) -> CheckpointError {
        .malformed(path: path, offset: opStart, reason: reason)
    }

    mutating func push(_ v: PickleValue, depth: Int = 1) {
        stack.append(v)
        depths.append(depth)
    }

    /// Pushes a tuple made of items whose deepest entry is `inner` deep.
    mutating func pushTuple(_ items: [PickleValue], inner: Int) throws {
        guard inner < vm.options.maxDepth else { throw bad("tuples nested deeper than \(vm.options.maxDepth) levels") }
        push(.tuple(items), depth: inner + 1)
    }

    mutating func popEntry(_ what: String) throws -> (PickleValue, Int) {
        guard stack.count > (marks.last ?? 0), let v = stack.popLast(), let d = depths.popLast() else {
            throw bad("stack underflow (\(what))")
        }
        return (v, d)
    }

    mutating func pop(_ what: String) throws -> PickleValue { try popEntry(what).0 }

    mutating func top(_ what: String) throws -> PickleValue {
        guard let v = stack.last, stack.count > (marks.last ?? 0) else { throw bad("stack underflow (\(what))") }
        return v
    }

    mutating func popMarkEntries(_ what: String) throws -> ([PickleValue], Int) {
        guard let m = marks.popLast() else { throw bad("\(what) without a MARK") }
        guard m <= stack.count else { throw bad("MARK above the stack (\(what))") }
        let items = Array(stack[m...])
        let deepest = depths[m...].max() ?? 0
        stack.removeSubrange(m...)
        depths.removeSubrange(m...)
        return (items, deepest)
    }

    mutating func popMark(_ what: String) throws -> [PickleValue] { try popMarkEntries(what).0 }

    mutating func put(_ i: Int, _ what: String) throws {
        guard let v = stack.last, let d = depths.last, stack.count > (marks.last ?? 0) else { throw bad("stack underflow (\(what))") }
        memo[i] = v
        memoDepths[i] = d
    }

    mutating func get(_ i: Int) throws {
        guard let v = memo[i], let d = memoDepths[i] else { throw bad("memo key \(i) read before it was written") }
        push(v, depth: d)
    }

    func text(_ raw: UnsafeRawBufferPointer) -> String { String(decoding: raw, as: UTF8.self) }

    mutating func lineText(_ what: String) throws -> String {
        var s = text(try cursor.line(what))
        if s.hasSuffix("\r") { s.removeLast() }
        return s
    }

    mutating func length(_ n: Int, _ what: String) throws -> Int {
        let v = try cursor.uint(n, what)
        guard v <= UInt64(cursor.remaining) else {
            throw bad("\(what) of \(v) bytes runs past the end of the pickle (\(cursor.remaining) bytes left)")
        }
        return Int(v)
    }


    mutating func run() throws -> PickleValue {
        while true {
            opStart = cursor.position
            let op = try cursor.u8("opcode")
            ops += 1
            switch op {
            case 0x80:  // PROTO
                let p = try cursor.u8("protocol")
                guard p <= 5 else { throw CheckpointError.unsupported(path: path, reason: "pickle protocol \(p) at byte \(opStart)") }
            case 0x95:  // FRAME
                _ = try cursor.u64("frame length")
            case 0x2E:  // STOP
                let v = try pop("STOP")
                return v
            case 0x28: marks.append(stack.count)  // MARK
            case 0x30:  // POP
                if let m = marks.last, m == stack.count { marks.removeLast() } else { _ = try pop("POP") }
            case 0x31: _ = try popMark("POP_MARK")
            case 0x32:
                let (v, d) = try popEntry("DUP")
                push(v, depth: d)
                push(v, depth: d)
            // Scalars
            case 0x4E: push(.none)
            case 0x88: push(.bool(true))
            case 0x89: push(.bool(false))
            case 0x4B: push(.int(Int64(try cursor.u8("BININT1"))))
            case 0x4D: push(.int(Int64(try cursor.u16("BININT2"))))
            case 0x4A: push(.int(Int64(Int32(truncatingIfNeeded: try cursor.u32("BININT")))))
            case 0x8A:  // LONG1
                let n = try length(1, "LONG1")
                push(Self.long(try cursor.bytes(n, "LONG1")))
            case 0x8B:  // LONG4
                let n = try length(4, "LONG4")
                push(Self.long(try cursor.bytes(n, "LONG4")))
            case 0x49:  // INT (text; 00/01 are bools)
                let s = try lineText("INT")
                if s == "00" { push(.bool(false)) } else if s == "01" { push(.bool(true)) } else { push(try decimal(s)) }
            case 0x4C:  // LONG (text)
                var s = try lineText("LONG")
                if s.hasSuffix("L") { s.removeLast() }
                push(try decimal(s))
            case 0x47:  // BINFLOAT (big-endian)
                let v = try cursor.uint(8, "BINFLOAT")
                push(.float(Double(bitPattern: v.byteSwapped)))
            case 0x46:  // FLOAT (text)
                let s = try lineText("FLOAT")
                guard let d = Double(s.trimmingCharacters(in: .whitespaces)) else { throw bad("bad FLOAT '\(s.prefix(40))'") }
                push(.float(d))
            // Strings and bytes
            case 0x58:  // BINUNICODE
                let n = try length(4, "BINUNICODE")
                push(.string(text(try cursor.bytes(n, "BINUNICODE"))))
            case 0x8C:
                let n = try length(1, "SHORT_BINUNICODE")
                push(.string(text(try cursor.bytes(n, "SHORT_BINUNICODE"))))
            case 0x8D:
                let n = try length(8, "BINUNICODE8")
                push(.string(text(try cursor.bytes(n, "BINUNICODE8"))))
            case 0x56:  // UNICODE (raw-unicode-escape line)
                push(.string(Self.rawUnicodeEscape(try cursor.line("UNICODE"))))
            case 0x54:  // BINSTRING (python 2 str)
                let n = Int(Int32(truncatingIfNeeded: try cursor.u32("BINSTRING")))
                guard n >= 0, n <= cursor.remaining else { throw bad("BINSTRING length \(n) runs past the end") }
                push(.string(Self.py2String(try cursor.bytes(n, "BINSTRING"))))
            case 0x55:
                let n = try length(1, "SHORT_BINSTRING")
                push(.string(Self.py2String(try cursor.bytes(n, "SHORT_BINSTRING"))))
            case 0x53:  // STRING (quoted repr)
                push(.string(try quoted(try lineText("STRING"))))
            case 0x42:
                let n = try length(4, "BINBYTES")
                push(.bytes(Array(try cursor.bytes(n, "BINBYTES"))))
            case 0x43:
                let n = try length(1, "SHORT_BINBYTES")
                push(.bytes(Array(try cursor.bytes(n, "SHORT_BINBYTES"))))
            case 0x8E:
                let n = try length(8, "BINBYTES8")
                push(.bytes(Array(try cursor.bytes(n, "BINBYTES8"))))
            case 0x96:
                let n = try length(8, "BYTEARRAY8")
                push(.bytes(Array(try cursor.bytes(n, "BYTEARRAY8"))))
            case 0x97:
                throw CheckpointError.unsupported(path: path, reason: "out-of-band pickle buffers (NEXT_BUFFER at byte \(opStart))")
            case 0x98: break  // READONLY_BUFFER
            // Containers
            case 0x29: push(.tuple([]))
            case 0x74:
                let (items, d) = try popMarkEntries("TUPLE")
                try pushTuple(items, inner: d)
            case 0x85:
                let (a, d) = try popEntry("TUPLE1")
                try pushTuple([a], inner: d)
            case 0x86:
                let (b, db) = try popEntry("TUPLE2"), (a, da) = try popEntry("TUPLE2")
                try pushTuple([a, b], inner: max(da, db))
            case 0x87:
                let (c, dc) = try popEntry("TUPLE3"), (b, db) = try popEntry("TUPLE3"), (a, da) = try popEntry("TUPLE3")
                try pushTuple([a, b, c], inner: max(da, db, dc))
            case 0x5D: push(.list(PyList()))
            case 0x6C: push(.list(PyList(items: try popMark("LIST"))))
            case 0x7D: push(.dict(PyDict()))
            case 0x64:  // DICT
                let items = try popMark("DICT")
                guard items.count % 2 == 0 else { throw bad("DICT with an odd number of items") }
                let d = PyDict()
                for i in stride(from: 0, to: items.count, by: 2) { d.set(items[i], items[i + 1]) }
                push(.dict(d))
            case 0x8F: push(.list(PyList(kind: "set")))
            case 0x91: push(.list(PyList(kind: "frozenset", items: try popMark("FROZENSET"))))
            case 0x61:  // APPEND
                let v = try pop("APPEND")
                try append([v], to: try top("APPEND"))
            case 0x65:  // APPENDS
                let items = try popMark("APPENDS")
                try append(items, to: try top("APPENDS"))
            case 0x90:  // ADDITEMS
                let items = try popMark("ADDITEMS")
                try append(items, to: try top("ADDITEMS"))
            case 0x73:  // SETITEM
                let v = try pop("SETITEM"), k = try pop("SETITEM")
                try setItems([k, v], on: try top("SETITEM"))
            case 0x75:  // SETITEMS
                let items = try popMark("SETITEMS")
                guard items.count % 2 == 0 else { throw bad("SETITEMS with an odd number of items") }
                try setItems(items, on: try top("SETITEMS"))
            // Memo
            case 0x70:  // PUT
                guard let i = Int(try lineText("PUT")), i >= 0 else { throw bad("bad PUT index") }
                try put(i, "PUT")
            case 0x71: try put(Int(try cursor.u8("BINPUT")), "BINPUT")
            case 0x72: try put(try cursor.u32("LONG_BINPUT"), "LONG_BINPUT")
            case 0x94: try put(memo.count, "MEMOIZE")
            case 0x67:
                guard let i = Int(try lineText("GET")) else { throw bad("bad GET index") }
                try get(i)
            case 0x68: try get(Int(try cursor.u8("BINGET")))
            case 0x6A: try get(try cursor.u32("LONG_BINGET"))
            // Globals and objects
            case 0x63:  // GLOBAL
                let module = try lineText("GLOBAL module"), name = try lineText("GLOBAL name")
                try vm.checkGlobal(module, name, offset: opStart)
                push(.global(module + "." + name))
            case 0x93:  // STACK_GLOBAL
                let n = try pop("STACK_GLOBAL"), m = try pop("STACK_GLOBAL")
                guard let name = n.stringValue, let module = m.stringValue else { throw bad("STACK_GLOBAL on non-strings") }
                try vm.checkGlobal(module, name, offset: opStart)
                push(.global(module + "." + name))
            case 0x82, 0x83, 0x84:
                throw CheckpointError.unsupported(path: path, reason: "pickle extension registry codes (EXT at byte \(opStart))")
            case 0x52:  // REDUCE
                let (args, d) = try popEntry("REDUCE"), callable = try pop("REDUCE")
                guard let a = args.sequence else { throw bad("REDUCE with \(args.typeName) arguments") }
                push(try call(callable, a), depth: d)
            case 0x81:  // NEWOBJ
                let (args, d) = try popEntry("NEWOBJ"), cls = try pop("NEWOBJ")
                guard let a = args.sequence else { throw bad("NEWOBJ with \(args.typeName) arguments") }
                push(try construct(cls, a, kwargs: nil), depth: d)
            case 0x92:  // NEWOBJ_EX
                let kw = try pop("NEWOBJ_EX"), (args, d) = try popEntry("NEWOBJ_EX"), cls = try pop("NEWOBJ_EX")
                guard let a = args.sequence else { throw bad("NEWOBJ_EX with \(args.typeName) arguments") }
                push(try construct(cls, a, kwargs: kw), depth: d)
            case 0x69:  // INST
                let module = try lineText("INST module"), name = try lineText("INST name")
                try vm.checkGlobal(module, name, offset: opStart)
                let (args, d) = try popMarkEntries("INST")
                push(try call(.global(module + "." + name), args), depth: d + 1)
            case 0x6F:  // OBJ
                let (all, d) = try popMarkEntries("OBJ")
                guard let cls = all.first else { throw bad("OBJ without a class") }
                push(try call(cls, Array(all.dropFirst())), depth: d + 1)
            case 0x62:  // BUILD
                let state = try pop("BUILD")
                try build(try top("BUILD"), state)
            case 0x51:  // BINPERSID
                let pid = try pop("BINPERSID")
                push(try persistent(pid))
            case 0x50:  // PERSID
                let pid = PickleValue.string(try lineText("PERSID"))
                push(try persistent(pid))
            default:
                throw bad("unknown pickle opcode 0x\(String(op, radix: 16))")
            }
        }
    }

    func persistent(_ pid: PickleValue) throws -> PickleValue {
        guard let load = vm.persistentLoad else {
            throw CheckpointError.unsupported(path: path, reason: "persistent id at byte \(opStart) in a plain pickle (only torch files define them)")
        }
        return try load(pid, opStart)
    }

    // MARK: - Mutation

    func append(_ items: [PickleValue], to target: PickleValue) throws {
        switch target {
        case let .list(l): l.items.append(contentsOf: items)
        case let .object(o): o.listItems.append(contentsOf: items)
        default: throw bad("APPEND to a \(target.typeName)")
        }
    }

    func setItems(_ items: [PickleValue], on target: PickleValue) throws {
        switch target {
        case let .dict(d): for i in stride(from: 0, to: items.count, by: 2) { d.set(items[i], items[i + 1]) }
        case let .object(o): for i in stride(from: 0, to: items.count, by: 2) { o.dictItems.append((items[i], items[i + 1])) }
        default: throw bad("SETITEM on a \(target.typeName)")
        }
    }

    func build(_ target: PickleValue, _ state: PickleValue) throws {
        switch target {
        case let .object(o):
            // A later BUILD updates the state (dict states merge), never nests it.
            if case let .dict(old)? = o.state, case let .dict(new) = state {
                for (k, v) in new.items { old.set(k, v) }
            } else {
                o.state = state
            }
            if o.className == "numpy.ndarray" { o.ndarray = NumpyPickle.array(state) }
        case let .dict(d): d.attributes = state
        case .tensor, .storage: break  // torch: backward hooks / python attributes
        default: throw bad("BUILD on a \(target.typeName)")
        }
    }

    // MARK: - Calls (never executed: rebuilt natively, recorded, or refused)

    func call(_ callable: PickleValue, _ args: [PickleValue]) throws -> PickleValue {
        guard case let .global(name) = callable else {
            throw CheckpointError.forbiddenGlobal(path: path, global: "<\(callable.typeName) object>", opcodeOffset: opStart)
        }
        if let v = try native(name, args) { return v }
        if vm.isDataClass(name) { return .object(PyObject(className: name, args: args)) }
        throw CheckpointError.forbiddenGlobal(path: path, global: name, opcodeOffset: opStart)
    }

    func construct(_ cls: PickleValue, _ args: [PickleValue], kwargs: PickleValue?) throws -> PickleValue {
        guard case let .global(name) = cls else { throw bad("NEWOBJ on a \(cls.typeName)") }
        if kwargs == nil, let v = try native(name, args) { return v }
        if vm.isDataClass(name) { return .object(PyObject(className: name, args: args, kwargs: kwargs)) }
        throw CheckpointError.forbiddenGlobal(path: path, global: name, opcodeOffset: opStart)
    }

    func native(_ name: String, _ a: [PickleValue]) throws -> PickleValue? {
        switch name {
        case "collections.OrderedDict", "builtins.dict", "__builtin__.dict", "collections.Counter", "collections.defaultdict":
            let kind = name == "collections.OrderedDict" ? "OrderedDict" : name.hasSuffix("dict") && !name.hasPrefix("collections") ? "dict" : String(name.dropFirst("collections.".count))
            let d = PyDict(kind: kind)
            if name != "collections.defaultdict", let first = a.first, let pairs = first.sequence {
                for p in pairs {
                    guard let kv = p.sequence, kv.count == 2 else { throw bad("\(name) argument is not a list of pairs") }
                    d.set(kv[0], kv[1])
                }
            }
            return .dict(d)
        case "builtins.list", "__builtin__.list", "collections.deque":
            return .list(PyList(kind: name == "collections.deque" ? "deque" : "list", items: a.first?.sequence ?? []))
        case "builtins.tuple", "__builtin__.tuple", "torch.Size":
            return .tuple(a.first?.sequence ?? [])
        case "builtins.set", "builtins.frozenset", "__builtin__.set", "__builtin__.frozenset":
            return .list(PyList(kind: name.hasSuffix("frozenset") ? "frozenset" : "set", items: a.first?.sequence ?? []))
        case "builtins.bytearray", "builtins.bytes", "__builtin__.bytearray":
            if a.isEmpty { return .bytes([]) }
            if case let .bytes(b) = a[0] { return .bytes(b) }
            if case let .string(s) = a[0] { return .bytes(try encode(s, a.count > 1 ? a[1].stringValue ?? "" : "utf-8")) }
            if let seq = a[0].sequence { return .bytes(seq.map { UInt8(truncatingIfNeeded: $0.intValue ?? 0) }) }
            return nil
        case "_codecs.encode":
            guard let s = a.first?.stringValue else { throw bad("_codecs.encode without a string") }
            return .bytes(try encode(s, a.count > 1 ? a[1].stringValue ?? "utf-8" : "utf-8"))
        case "copyreg._reconstructor", "copy_reg._reconstructor", "copyreg.__newobj__", "copy_reg.__newobj__":
            guard case let .global(cls)? = a.first else { throw bad("\(name) without a class") }
            return try construct(.global(cls), Array(a.dropFirst(name.hasSuffix("__newobj__") ? 1 : 3)), kwargs: nil)
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            return try TorchTensors.rebuild(a, path: path, offset: opStart)
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state", "torch.nn.parameter.Parameter":
            guard let t = a.first else { throw bad("\(name) without a tensor") }
            return t
        case "torch._tensor._rebuild_from_type_v2", "torch._tensor._rebuild_from_type":
            guard a.count >= 3, let inner = a[2].sequence else { throw bad("\(name) with bad arguments") }
            return try call(a[0], inner)
        case "torch.storage._load_from_bytes":
            // A storage pickled on its own: the bytes are a whole (legacy) torch.save file.
            guard case let .bytes(b)? = a.first else { throw bad("\(name) without bytes") }
            guard vm.options.embeddedLevel < 4 else { throw bad("torch files embedded more than 4 levels deep") }
            var inner = vm.options
            inner.embeddedLevel += 1
            let buffer = ByteBuffer(copying: b, path: "\(path) (embedded storage at byte \(opStart))")
            let root = ZipArchive.looksLikeZip(buffer)
                ? try TorchFile.loadZip(ZipArchive(buffer), options: inner)
                : try TorchFile.loadLegacy(buffer, options: inner)
            guard case .storage = root else { throw bad("\(name) holds a \(root.typeName), not a storage") }
            return root
        case "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct":
            return .object(PyObject(className: "numpy.ndarray", args: []))
        case "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar":
            return NumpyPickle.scalar(a)
        default:
            return nil
        }
    }

    func encode(_ s: String, _ encoding: String) throws -> [UInt8] {
        switch encoding.lowercased() {
        case "latin1", "latin-1", "iso-8859-1", "iso8859-1":
            var out: [UInt8] = []
            out.reserveCapacity(s.unicodeScalars.count)
            for u in s.unicodeScalars {
                guard u.value < 256 else { throw bad("character U+\(String(u.value, radix: 16)) cannot be latin-1 encoded") }
                out.append(UInt8(u.value))
            }
            return out
        case "utf-8", "utf8", "ascii": return Array(s.utf8)
        default: throw CheckpointError.unsupported(path: path, reason: "string encoding '\(encoding)' at byte \(opStart)")
        }
    }

    // MARK: - Text forms

    func decimal(_ s: String) throws -> PickleValue {
        let t = s.trimmingCharacters(in: .whitespaces)
        if let i = Int64(t) { return .int(i) }
        let digits = t.hasPrefix("-") ? t.dropFirst() : Substring(t)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { throw bad("bad integer '\(t.prefix(40))'") }
        return .bigInt(t)
    }

    /// Python 2 `repr(str)` as written by protocol 0 `STRING`.
    func quoted(_ s: String) throws -> String {
        let b = Array(s.utf8)
        guard b.count >= 2, let q = b.first, q == 0x27 || q == 0x22, b.last == q else { throw bad("STRING is not quoted") }
        var out: [UInt8] = []
        var i = 1
        while i < b.count - 1 {
            var c = b[i]
            if c == 0x5C, i + 1 < b.count - 1 {
                i += 1
                c = b[i]
                switch c {
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "x"):
                    guard i + 2 < b.count, let v = UInt8(String(decoding: b[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) else {
                        throw bad("bad \\x escape in STRING")
                    }
                    out.append(v)
                    i += 2
                default: out.append(c)
                }
            } else {
                out.append(c)
            }
            i += 1
        }
        return Self.py2String(UnsafeRawBufferPointer(start: nil, count: 0), bytes: out)
    }

    static func py2String(_ raw: UnsafeRawBufferPointer, bytes: [UInt8]? = nil) -> String {
        let b = bytes ?? Array(raw)
        if let s = String(validatingUTF8CString: b) { return s }
        return String(b.map { Character(Unicode.Scalar($0)) })
    }

    static func rawUnicodeEscape(_ raw: UnsafeRawBufferPointer) -> String {
        let b = Array(raw)
        var scalars = String.UnicodeScalarView()
        var i = 0
        while i < b.count {
            if b[i] == 0x5C, i + 1 < b.count, b[i + 1] == UInt8(ascii: "u") || b[i + 1] == UInt8(ascii: "U") {
                let n = b[i + 1] == UInt8(ascii: "u") ? 4 : 8
                if i + 2 + n <= b.count, let v = UInt32(String(decoding: b[(i + 2)..<(i + 2 + n)], as: UTF8.self), radix: 16),
                    let u = Unicode.Scalar(v)
                {
                    scalars.append(u)
                    i += 2 + n
                    continue
                }
            }
            scalars.append(Unicode.Scalar(b[i]))
            i += 1
        }
        return String(scalars)
    }

    /// A little-endian two's-complement integer (LONG1/LONG4).
    static func long(_ raw: UnsafeRawBufferPointer) -> PickleValue {
        let n = raw.count
        if n == 0 { return .int(0) }
        if n <= 8 {
            var v: UInt64 = 0
            for i in 0..<n { v |= UInt64(raw[i]) << (8 * UInt64(i)) }
            if raw[n - 1] & 0x80 != 0 && n < 8 { v |= ~0 << (8 * UInt64(n)) }
            return .int(Int64(bitPattern: v))
        }
        // Arbitrary precision: convert to decimal through base-1e9 limbs.
        var bytes = Array(raw)
        let negative = bytes[n - 1] & 0x80 != 0
        if negative {  // magnitude = two's complement negation
            var carry = 1
            for i in 0..<n {
                let v = Int(~bytes[i]) + carry
                bytes[i] = UInt8(v & 0xFF)
                carry = v >> 8
            }
        }
        var limbs: [UInt32] = []  // little-endian base 1e9
        for byte in bytes.reversed() {
            var carry = UInt64(byte)
            for j in 0..<limbs.count {
                let v = UInt64(limbs[j]) * 256 + carry
                limbs[j] = UInt32(v % 1_000_000_000)
                carry = v / 1_000_000_000
            }
            while carry > 0 {
                limbs.append(UInt32(carry % 1_000_000_000))
                carry /= 1_000_000_000
            }
        }
        while limbs.count > 1 && limbs.last == 0 { limbs.removeLast() }
        var s = String(limbs.last ?? 0)
        for l in limbs.dropLast().reversed() {
            let t = String(l)
            s += String(repeating: "0", count: 9 - t.count) + t
        }
        let text = negative ? "-" + s : s
        return Int64(text).map { .int($0) } ?? .bigInt(text)
    }
}

extension String {
    init?(validatingUTF8CString bytes: [UInt8]) {
        guard let s = String(bytes: bytes, encoding: .utf8) else { return nil }
        self = s
    }
}
