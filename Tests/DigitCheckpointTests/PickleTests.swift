import Foundation
import Testing

@testable import DigitCheckpoint

/// The pickle VM against CPython's own pickler (protocols 0-5, vectors from
/// tools/checkpoints/pickle_vectors.py), and hand-written hostile pickles.
@Suite struct PickleTests {
    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = hex.makeIterator()
        while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
        return out
    }

    static func unpickle(_ b: [UInt8], strict: Bool = false) throws -> PickleValue {
        let buf = ByteBuffer(copying: b, path: "test.pkl")
        let (v, end) = try PickleVM(path: "test.pkl", options: .init(strict: strict)).load(buf)
        #expect(end == b.count)
        return v
    }

    @Test(arguments: 0...5)
    func cpythonProtocols(_ proto: Int) throws {
        let v = try Self.unpickle(Self.bytes(PickleVectors.byProtocol[proto]!))
        let expected = try PickleVectors.expectedJSON.utf8.withContiguousStorageIfAvailable { try JSONValue.parse(UnsafeRawBufferPointer($0)) }!
        let ours = Checkpoint.json(v)
        #expect(difference(ours, expected) == nil, "protocol \(proto): \(difference(ours, expected) ?? "")")
        // Memo sharing: both keys hold the same list object.
        if case let .list(a)? = v["shared_a"], case let .list(b)? = v["shared_b"] { #expect(a === b) } else { Issue.record("shared lists") }
    }

    // Opcodes: PROTO 2, GLOBAL, argument tuple, REDUCE, STOP.
    static func call(_ module: String, _ name: String, _ opcode: UInt8 = 0x52) -> [UInt8] {
        [0x80, 0x02, 0x63] + Array("\(module)\n\(name)\n".utf8) + [0x29, opcode, 0x2E]
    }

    @Test(arguments: [
        ("subprocess", "Popen"), ("os", "popen"), ("posix", "system"), ("builtins", "exec"), ("builtins", "getattr"),
        ("builtins", "__import__"), ("functools", "partial"), ("operator", "attrgetter"), ("importlib", "import_module"),
        ("torch", "load"), ("numpy", "load"), ("shutil", "rmtree"), ("webbrowser", "open"), ("sys", "exit"),
        ("torch.serialization", "load"), ("runpy", "run_path"), ("mymodule", "do_something"),
    ])
    func callsAreRefused(_ module: String, _ name: String) throws {
        for op: UInt8 in [0x52, 0x81] {  // REDUCE and NEWOBJ
            do {
                _ = try Self.unpickle(Self.call(module, name, op))
                Issue.record("\(module).\(name) was accepted")
            } catch let CheckpointError.forbiddenGlobal(_, global, offset) {
                #expect(global == "\(module).\(name)")
                #expect(offset == 2 || offset == 2 + 2 + module.count + name.count + 2)
            }
        }
    }

    @Test func stackGlobalIsCheckedToo() throws {
        // protocol 4: SHORT_BINUNICODE 'os', SHORT_BINUNICODE 'system', STACK_GLOBAL
        let p: [UInt8] = [0x80, 0x04, 0x8C, 0x02] + Array("os".utf8) + [0x8C, 0x06] + Array("system".utf8) + [0x93, 0x29, 0x52, 0x2E]
        #expect(throws: CheckpointError.forbiddenGlobal(path: "test.pkl", global: "os.system", opcodeOffset: 14)) { _ = try Self.unpickle(p) }
    }

    @Test func classesBecomeOpaqueObjects() throws {
        let v = try Self.unpickle(Self.call("omegaconf.dictconfig", "DictConfig"))
        guard case let .object(o) = v else { Issue.record("\(v.typeName)"); return }
        #expect(o.className == "omegaconf.dictconfig.DictConfig")
        #expect(throws: CheckpointError.self) { _ = try Self.unpickle(Self.call("omegaconf.dictconfig", "DictConfig"), strict: true) }
    }

    @Test func reduceOnANonGlobalIsRefused() throws {
        // EMPTY_TUPLE EMPTY_TUPLE REDUCE: calling a tuple
        #expect(throws: CheckpointError.self) { _ = try Self.unpickle([0x80, 0x02, 0x29, 0x29, 0x52, 0x2E]) }
    }

    @Test func deepNestingIsRefusedWithoutCrashing() throws {
        // 200k nested single-item lists (EMPTY_LIST ... APPEND) and tuples (TUPLE1).
        var lists: [UInt8] = [0x80, 0x02]
        for _ in 0..<200_000 { lists.append(0x5D) }
        for _ in 0..<199_999 { lists.append(0x61) }
        lists.append(0x2E)
        #expect(throws: CheckpointError.self) { _ = try Self.unpickle(lists) }
        var tuples: [UInt8] = [0x80, 0x02, 0x4E]
        for _ in 0..<200_000 { tuples.append(0x85) }
        tuples.append(0x2E)
        #expect(throws: CheckpointError.self) { _ = try Self.unpickle(tuples) }
        // A list that contains itself: recursive structures are refused.
        let selfRef: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E]
        #expect(throws: CheckpointError.self) { _ = try Self.unpickle(selfRef) }
        // Exponential sharing: t(k+1) = (t(k), t(k)), 60 levels.
        var dag: [UInt8] = [0x80, 0x02, 0x4E]
        for _ in 0..<60 { dag += [0x32, 0x86] }
        dag.append(0x2E)
        #expect(throws: CheckpointError.self) { _ = try Self.unpickle(dag) }
    }

    @Test func truncatedAndGarbagePickles() throws {
        for p: [UInt8] in [[], [0x80], [0x80, 0x02], [0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0x7F], [0x80, 0x07, 0x2E], [0xFF], [0x80, 0x02, 0x2E], [0x80, 0x02, 0x68, 0x05, 0x2E], [0x80, 0x02, 0x65, 0x2E]] {
            #expect(throws: CheckpointError.self) { _ = try Self.unpickle(p) }
        }
    }

    @Test func bigIntegers() {
        [UInt8](repeating: 0xFF, count: 9).withUnsafeBytes { #expect(PickleMachine.long($0).keyText == "-1") }
        [UInt8](repeating: 0x00, count: 9).withUnsafeBytes { #expect(PickleMachine.long($0).keyText == "0") }
        let magic = PickleTests.bytes("6c fc 9c 46 f9 20 6a a8 50 19".replacingOccurrences(of: " ", with: ""))
        magic.withUnsafeBytes { #expect(PickleMachine.long($0).keyText == TorchFile.legacyMagic) }
    }
}

extension PickleTests {
    @Test func storagePickledOnItsOwn() throws {
        // torch.storage._load_from_bytes(<legacy torch file>) is parsed, never called.
        let bytes = Self.bytes(PickleVectors.embeddedStorage)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("digit-embedded-\(getpid()).pkl")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let (sd, c) = try Checkpoint.load(url)
        #expect(c.format == .pickle)
        #expect(try sd.tensor("w").scalars == [2, 3, 4])
    }
}

extension PickleTests {
    @Test func deepTuplesAsKeysAndPersistentIDs() throws {
        // A 100k-deep tuple used as a dict key, and as a persistent id: refused, no recursion crash.
        var key: [UInt8] = [0x80, 0x02, 0x7D, 0x4E]
        for _ in 0..<100_000 { key.append(0x85) }
        key += [0x4E, 0x73, 0x2E]  // value None, SETITEM, STOP
        #expect(throws: CheckpointError.self) { _ = try Self.unpickle(key) }
        var pid: [UInt8] = [0x80, 0x02, 0x28, 0x58, 0x07, 0, 0, 0] + Array("storage".utf8)
        pid += [0x63] + Array("torch\nFloatStorage\n".utf8) + [0x4E]
        for _ in 0..<100_000 { pid.append(0x85) }
        pid += [0x58, 0x03, 0, 0, 0] + Array("cpu".utf8) + [0x4B, 0x01, 0x74, 0x51, 0x2E]
        let buf = ByteBuffer(copying: pid, path: "pid.pkl")
        let vm = PickleVM(path: "pid.pkl") { pid, offset in
            _ = try TorchTensors.storagePID(pid, path: "pid.pkl", offset: offset)
            return .none
        }
        #expect(throws: CheckpointError.self) { _ = try vm.load(buf) }
    }

    @Test func privateClassesAreClasses() throws {
        guard case let .object(o) = try Self.unpickle(Self.call("dataclasses", "_MISSING_TYPE")) else { Issue.record("not opaque"); return }
        #expect(o.className == "dataclasses._MISSING_TYPE")
        #expect(throws: CheckpointError.self) { _ = try Self.unpickle(Self.call("mymodule", "_private_function")) }
    }
}

extension PickleTests {
    @Test func droppingADeepChainDoesNotRecurse() throws {
        // 300k nested lists built, then POPped: a valid pickle whose result is None. Freeing the
        // chain is iterative (Graveyard), so this neither crashes nor is refused.
        var p: [UInt8] = [0x80, 0x02]
        for _ in 0..<300_000 { p.append(0x5D) }
        for _ in 0..<299_999 { p.append(0x61) }
        p += [0x30, 0x4E, 0x2E]
        guard case .none = try Self.unpickle(p) else { Issue.record("not None"); return }
    }
}
