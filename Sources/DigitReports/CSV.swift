import Foundation

/// RFC 4180 comma-separated values: fields separated by commas, records by CRLF or LF; a field
/// containing a comma, quote or line break is enclosed in double quotes and an inner quote is
/// doubled. Reading is strict (a stray quote is an error, not a guess). Writing uses LF line
/// endings (git-friendly; every RFC 4180 reader accepts them) and quotes only where needed.
public enum CSV {
    /// One parsed record and the 1-based line it starts on.
    public struct Record: Equatable {
        public var fields: [String]
        public var line: Int
    }

    /// Parses `text` into records. A leading UTF-8 byte-order mark is skipped; a trailing line
    /// break does not make an empty record; blank lines are skipped.
    public static func parse(_ text: String, file: String = "<csv>") throws -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var i = 0
        var line = 1
        var recordLine = 1
        var inQuotes = false
        var fieldWasQuoted = false
        let n = bytes.count

        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            fieldWasQuoted = false
        }
        func endRecord() {
            endField()
            if !(fields.count == 1 && fields[0].isEmpty) {
                records.append(Record(fields: fields, line: recordLine))
            }
            fields.removeAll(keepingCapacity: true)
        }

        while i < n {
            let c = bytes[i]
            if inQuotes {
                if c == UInt8(ascii: "\"") {
                    if i + 1 < n, bytes[i + 1] == UInt8(ascii: "\"") {
                        field.append(c)
                        i += 2
                        continue
                    }
                    inQuotes = false
                    i += 1
                    // After a closing quote only a separator or line end may follow.
                    if i < n, ![UInt8(ascii: ","), UInt8(ascii: "\n"), UInt8(ascii: "\r")].contains(bytes[i]) {
                        throw ReportError.csvStrayQuote(file: file, line: line, field: fields.count + 1)
                    }
                    continue
                }
                if c == UInt8(ascii: "\n") { line += 1 }
                field.append(c)
                i += 1
                continue
            }
            switch c {
            case UInt8(ascii: "\""):
                guard field.isEmpty, !fieldWasQuoted else {
                    throw ReportError.csvStrayQuote(file: file, line: line, field: fields.count + 1)
                }
                inQuotes = true
                fieldWasQuoted = true
                i += 1
            case UInt8(ascii: ","):
                endField()
                i += 1
            case UInt8(ascii: "\r"):
                i += 1
                if i < n, bytes[i] == UInt8(ascii: "\n") { i += 1 }
                endRecord()
                line += 1
                recordLine = line
            case UInt8(ascii: "\n"):
                i += 1
                endRecord()
                line += 1
                recordLine = line
            default:
                field.append(c)
                i += 1
            }
        }
        if inQuotes { throw ReportError.csvUnterminatedQuote(file: file, line: recordLine) }
        if !field.isEmpty || !fields.isEmpty || fieldWasQuoted { endRecord() }
        return records
    }

    /// Reads a file and parses it; the error names the file.
    public static func read(contentsOf url: URL) throws -> [Record] {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ReportError.unreadable(file: url.path, reason: "\(error.localizedDescription)")
        }
        return try parse(text, file: url.path)
    }

    /// One field, quoted if it contains a comma, quote, CR or LF (or leading/trailing spaces).
    public static func escape(_ field: String) -> String {
        let needsQuotes = field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            || field.hasPrefix(" ") || field.hasSuffix(" ")
        guard needsQuotes else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Records as CSV text, LF-terminated.
    public static func format(_ records: [[String]]) -> String {
        var out = ""
        for r in records {
            out += r.map(escape).joined(separator: ",")
            out += "\n"
        }
        return out
    }
}
