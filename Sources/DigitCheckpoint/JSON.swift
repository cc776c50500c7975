import Foundation

/// A small JSON value that keeps object key order and the int/float distinction, for
/// safetensors headers (order matters), `inspect --json`, and fixture comparisons.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    /// A number literal that is not an Int64 (floats, huge integers), kept as text.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.number(x), .number(y)): return x == y || (Double(x) != nil && Double(x) == Double(y))
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case let .object(o) = self { return o.first { $0.0 == key }?.1 }
        return nil
    }

    public var array: [JSONValue]? { if case let .array(a) = self { a } else { nil } }
    public var string: String? { if case let .string(s) = self { s } else { nil } }
    public var double: Double? {
        switch self {
        case let .int(i): Double(i)
        case let .number(s): Double(s)
        case let .string(s): s == "NaN" ? .nan : s == "Infinity" ? .infinity : s == "-Infinity" ? -.infinity : nil
        default: nil
        }
    }
    public var int: Int64? { if case let .int(i) = self { i } else { nil } }

    public static func float(_ d: Double) -> JSONValue {
        if d.isNaN { return .string("NaN") }
        if d.isInfinite { return .string(d > 0 ? "Infinity" : "-Infinity") }
        var s = "\(d)"
        if !s.contains(".") && !s.contains("e") { s += ".0" }
        return .number(s)
    }

    // MARK: - Writing

    /// Compact (`indent` nil) or indented text.
    public func text(indent: Int? = nil) -> String {
        var out = ""
        write(&out, indent: indent, level: 0)
        return out
    }

    func write(_ out: inout String, indent: Int?, level: Int) {
        let nl = indent.map { "\n" + String(repeating: " ", count: $0 * (level + 1)) } ?? ""
        let close = indent.map { "\n" + String(repeating: " ", count: $0 * level) } ?? ""
        let sep = indent == nil ? ":" : ": "
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .int(i): out += String(i)
        case let .number(s): out += s
        case let .string(s): JSONValue.quote(s, into: &out)
        case let .array(a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                out += nl
                v.write(&out, indent: indent, level: level + 1)
            }
            out += close + "]"
        case let .object(o):
            if o.isEmpty { out += "{}"; return }
            out += "{"
            for (i, (k, v)) in o.enumerated() {
                if i > 0 { out += "," }
                out += nl
                JSONValue.quote(k, into: &out)
                out += sep
                v.write(&out, indent: indent, level: level + 1)
            }
            out += close + "}"
        }
    }

    static func quote(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }

    // MARK: - Parsing

    public struct ParseError: Error, CustomStringConvertible {
        public var offset: Int
        public var reason: String
        public var description: String { "JSON error at byte \(offset): \(reason)" }
    }

    /// Parses JSON text (nesting limited to `maxDepth`).
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws -> JSONValue {
        var p = Parser(b: bytes, maxDepth: maxDepth)
        p.ws()
        let v = try p.value(depth: 0)
        p.ws()
        guard p.i == bytes.count else { throw ParseError(offset: p.i, reason: "trailing characters") }
        return v
    }

    public static func parse(_ data: Data, maxDepth: Int = 64) throws -> JSONValue {
        try data.withUnsafeBytes { try parse($0, maxDepth: maxDepth) }
    }

    struct Parser {
        let b: UnsafeRawBufferPointer
        let maxDepth: Int
        var i = 0

        func err(_ r: String) -> ParseError { ParseError(offset: i, reason: r) }
        var peek: UInt8? { i < b.count ? b[i] : nil }

        mutating func ws() {
            while let c = peek, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 }
        }

        mutating func expect(_ s: String) throws {
            for c in s.utf8 {
                guard peek == c else { throw err("expected '\(s)'") }
                i += 1
            }
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < maxDepth else { throw err("nested deeper than \(maxDepth)") }
            guard let c = peek else { throw err("unexpected end") }
            switch c {
            case UInt8(ascii: "{"):
                i += 1
                var o: [(String, JSONValue)] = []
                ws()
                if peek == UInt8(ascii: "}") { i += 1; return .object(o) }
                while true {
                    ws()
                    guard peek == UInt8(ascii: "\"") else { throw err("expected a key") }
                    let k = try string()
                    ws()
                    try expect(":")
                    ws()
                    o.append((k, try value(depth: depth + 1)))
                    ws()
                    if peek == UInt8(ascii: ",") { i += 1; continue }
                    try expect("}")
                    return .object(o)
                }
            case UInt8(ascii: "["):
                i += 1
                var a: [JSONValue] = []
                ws()
                if peek == UInt8(ascii: "]") { i += 1; return .array(a) }
                while true {
                    ws()
                    a.append(try value(depth: depth + 1))
                    ws()
                    if peek == UInt8(ascii: ",") { i += 1; continue }
                    try expect("]")
                    return .array(a)
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            case UInt8(ascii: "N"): try expect("NaN"); return .number("nan")
            case UInt8(ascii: "I"): try expect("Infinity"); return .number("inf")
            default:
                let start = i
                if peek == UInt8(ascii: "-") { i += 1 }
                if peek == UInt8(ascii: "I") { try expect("Infinity"); return .number("-inf") }
                var isInt = true
                while let c = peek, (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                    if !(c >= 0x30 && c <= 0x39) { isInt = false }
                    i += 1
                }
                let t = String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
                guard !t.isEmpty, t != "-", Double(t) != nil else { i = start; throw err("bad value") }
                if isInt, let v = Int64(t) { return .int(v) }
                return .number(t)
            }
        }

        mutating func string() throws -> String {
            i += 1
            var bytes: [UInt8] = []
            while true {
                guard let c = peek else { throw err("unterminated string") }
                i += 1
                if c == UInt8(ascii: "\"") { break }
                if c == UInt8(ascii: "\\") {
                    guard let e = peek else { throw err("unterminated escape") }
                    i += 1
                    switch e {
                    case UInt8(ascii: "n"): bytes.append(10)
                    case UInt8(ascii: "t"): bytes.append(9)
                    case UInt8(ascii: "r"): bytes.append(13)
                    case UInt8(ascii: "b"): bytes.append(8)
                    case UInt8(ascii: "f"): bytes.append(12)
                    case UInt8(ascii: "u"):
                        var v = try hex4()
                        if v >= 0xD800 && v < 0xDC00, peek == UInt8(ascii: "\\") {
                            i += 1
                            try expect("u")
                            let lo = try hex4()
                            v = 0x10000 + ((v - 0xD800) << 10) + (lo &- 0xDC00)
                        }
                        let u = Unicode.Scalar(v) ?? "\u{FFFD}"
                        bytes.append(contentsOf: Array(String(u).utf8))
                    default: bytes.append(e)
                    }
                } else {
                    bytes.append(c)
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= b.count, let v = UInt32(String(decoding: UnsafeRawBufferPointer(rebasing: b[i..<(i + 4)]), as: UTF8.self), radix: 16) else {
                throw err("bad \\u escape")
            }
            i += 4
            return v
        }
    }
}
