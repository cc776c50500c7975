import Foundation

/// Errors of the weights registry and downloader; each names the file and what to do.
public enum WeightsError: Error, CustomStringConvertible, Equatable {
    case unknownID(String, message: String)
    case unreadable(path: String)
    case missing(id: String, message: String)
    case noDirectURL(id: String, message: String)
    case httpStatus(url: String, status: Int)
    case network(url: String, reason: String)
    case checksumMismatch(file: String, expected: String, actual: String)
    case sizeMismatch(file: String, expected: Int64, actual: Int64)
    case incomplete(url: String, attempts: Int, have: Int64, expected: Int64?)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unknownID(_, message): return message
        case let .unreadable(path): return "\(path): cannot open for reading"
        case let .missing(_, message): return message
        case let .noDirectURL(_, message): return message
        case let .httpStatus(url, status):
            return "\(url): HTTP \(status)\(status == 404 ? " (not found: the upstream file may have moved; check the page listed by `digit-bench weights list`)" : "")"
        case let .network(url, reason): return "\(url): \(reason)"
        case let .checksumMismatch(file, expected, actual):
            return "\(file): sha256 \(actual) does not match the expected \(expected); the download was removed, run `digit-bench weights fetch` again or check the source"
        case let .sizeMismatch(file, expected, actual):
            return "\(file): \(actual) bytes, expected \(expected)"
        case let .incomplete(url, attempts, have, expected):
            return "\(url): download incomplete after \(attempts) attempts (\(have)\(expected.map { " of \($0)" } ?? "") bytes kept; run the command again to resume)"
        case let .io(path, reason): return "\(path): \(reason)"
        }
    }
}
