import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what a checkpoint holds: keys, dtypes, shapes, parameter counts, Python objects.",
            discussion: """
                Reads PyTorch .pth/.ckpt/.pt (zip or legacy), safetensors, .npy and .npz files without \
                running any code from them. Python objects other than containers and tensors are shown \
                by class name with their recorded state (argparse.Namespace, omegaconf configs, …).
                """)

        @Argument(help: "The checkpoint or array file.")
        var file: String

        @Option(help: "Show only the sub-tree at this key path (e.g. model, state_dict, optimizer/state).")
        var select: String?

        @Flag(help: "Print JSON (structure in the fixture convention plus a tensor table).")
        var json = false

        @Flag(help: "Refuse every Python class that is not rebuilt natively (like torch weights_only).")
        var strict = false

        @Option(help: "Show at most this many children per container in the text tree.")
        var maxItems = 50

        @Flag(help: "Also read every tensor (checks CRC-32s and bounds; exits non-zero on damage).")
        var verify = false

        func run() throws {
            let ckpt = try Checkpoint.open(URL(fileURLWithPath: file), options: .init(strict: strict))
            if verify {
                for (_, t) in Checkpoint.tensors(in: try ckpt.node(at: select)) { try t.contiguousBytes { _ in } }
            }
            if json {
                print(try ckpt.inspectJSON(select: select).text(indent: 1))
                return
            }
            let node = try ckpt.node(at: select)
            let tensors = Checkpoint.tensors(in: node)
            let params = tensors.reduce(0) { $0 + $1.tensor.count }
            let bytes = tensors.reduce(0) { $0 + $1.tensor.count * $1.tensor.dtype.size }
            print("\(file): \(ckpt.format.rawValue), \(ckpt.fileSize) bytes")
            print("\(tensors.count) tensors, \(params) parameters (\(bytes) bytes of tensor data)\(select.map { " under '\($0)'" } ?? "")")
            for (k, v) in ckpt.metadata { print("metadata \(k) = \(v)") }
            for line in TreePrinter(maxItems: maxItems).lines(node) { print(line) }
            if verify { print("verified: every tensor read back intact") }
        }
    }
}

/// Renders a checkpoint tree as indented text lines.
struct TreePrinter {
    var maxItems: Int

    func lines(_ root: PickleValue) -> [String] {
        var out: [String] = []
        render(root, name: nil, indent: "", into: &out, depth: 0)
        return out
    }

    func summary(_ v: PickleValue) -> String {
        switch v {
        case let .tensor(t): return "\(t.dtype.rawValue) \(t.shape)  \(t.count)"
        case .none: return "None"
        case let .bool(b): return b ? "True" : "False"
        case let .int(i): return String(i)
        case let .bigInt(s): return s
        case let .float(f): return "\(f)"
        case let .string(s): return "'" + (s.count > 80 ? s.prefix(80) + "…" : s) + "'"
        case let .bytes(b): return "bytes (\(b.count))"
        case let .global(g): return "<\(g)>"
        case let .storage(s): return "storage \(s.key) \(s.dtype.rawValue) ×\(s.numel)"
        case let .tuple(t): return "tuple (\(t.count))"
        case let .list(l): return "\(l.kind) (\(l.items.count))"
        case let .dict(d): return "\(d.kind) (\(d.count))"
        case let .object(o):
            if let a = o.ndarray { return "numpy.ndarray \(a.dtype.rawValue) \(a.shape)  \(a.count)" }
            return o.className
        }
    }

    func isScalarSequence(_ v: PickleValue) -> [PickleValue]? {
        guard let s = v.sequence, s.count <= 16 else { return nil }
        for x in s {
            switch x {
            case .none, .bool, .int, .bigInt, .float, .string: continue
            default: return nil
            }
        }
        return s
    }

    func render(_ v: PickleValue, name: String?, indent: String, into out: inout [String], depth: Int) {
        let label = name.map { "\(indent)\($0): " } ?? indent
        if let seq = isScalarSequence(v) {
            let open = if case .tuple = v { "(" } else { "[" }
            let close = if case .tuple = v { ")" } else { "]" }
            out.append(label + open + seq.map(summary).joined(separator: ", ") + close)
            return
        }
        out.append(label + summary(v))
        if case let .object(o) = v, o.ndarray != nil { return }
        guard depth < 64 else { return }
        let kids = Checkpoint.children(v)
        for (i, (k, c)) in kids.enumerated() {
            if i == maxItems {
                out.append("\(indent)  … \(kids.count - maxItems) more")
                break
            }
            render(c, name: k, indent: indent + "  ", into: &out, depth: depth + 1)
        }
    }
}
