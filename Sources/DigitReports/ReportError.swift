import Foundation

/// Every way reading a baseline, a run record or a report can fail. Each case names the file and,
/// where it applies, the line, row id and column, so the message alone locates the problem.
public enum ReportError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case csvUnterminatedQuote(file: String, line: Int)
    case csvStrayQuote(file: String, line: Int, field: Int)
    case csvRaggedRow(file: String, line: Int, expected: Int, actual: Int)
    case csvEmpty(file: String)
    case missingColumn(file: String, column: String)
    case duplicateColumn(file: String, column: String)
    case duplicateRowID(file: String, id: String, line: Int)
    case emptyRowID(file: String, line: Int)
    case badNumber(file: String, id: String, column: String, value: String)
    case badRunRecord(file: String, reason: String)
    case notComparable(file: String, reason: String)
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read (\(reason))"
        case let .csvUnterminatedQuote(file, line):
            return "\(file):\(line): quoted field is never closed (RFC 4180: a quote inside a quoted field is written as \"\")"
        case let .csvStrayQuote(file, line, field):
            return "\(file):\(line): field \(field) has a quote in an unquoted field or text after a closing quote; quote the whole field and double inner quotes"
        case let .csvRaggedRow(file, line, expected, actual):
            return "\(file):\(line): \(actual) fields, expected \(expected) as in the header"
        case let .csvEmpty(file):
            return "\(file): no header line"
        case let .missingColumn(file, column):
            return "\(file): required column '\(column)' is missing from the header"
        case let .duplicateColumn(file, column):
            return "\(file): column '\(column)' appears twice in the header"
        case let .duplicateRowID(file, id, line):
            return "\(file):\(line): row id '\(id)' is used twice; ids must be unique and stable"
        case let .emptyRowID(file, line):
            return "\(file):\(line): empty row id"
        case let .badNumber(file, id, column, value):
            return "\(file): row '\(id)', column '\(column)': '\(value)' is not a number (write missing values as an empty field, footnotes in the footnote column)"
        case let .badRunRecord(file, reason):
            return "\(file): not a digit-bench run record (\(reason))"
        case let .notComparable(file, reason):
            return "\(file): \(reason)"
        case let .writeFailed(path, reason):
            return "\(path): write failed (\(reason))"
        }
    }
}
