/// Errors from the metrics: each names what was wrong, with the expected and actual values.
public enum MetricsError: Error, CustomStringConvertible, Equatable {
    /// Two inputs that must agree do not (feature dimensions, image shapes, counts).
    case shapeMismatch(what: String, expected: [Int], actual: [Int])
    /// Too few samples for the statistic (e.g. a covariance of one row, a KID subset larger than the set).
    case notEnoughSamples(what: String, needed: Int, actual: Int)
    /// A statistics file lacks a key or has the wrong dtype/shape under it.
    case badStatisticsFile(path: String, key: String, reason: String)
    /// A LAPACK routine reported failure (`info` as LAPACK returns it).
    case lapack(routine: String, info: Int)
    /// An argument is outside its valid range.
    case invalidArgument(name: String, value: String, reason: String)
    /// An unknown public id (metric, protocol).
    case unknownID(kind: String, id: String, valid: [String])

    public var description: String {
        switch self {
        case let .shapeMismatch(what, expected, actual):
            return "\(what): expected shape \(expected), got \(actual)"
        case let .notEnoughSamples(what, needed, actual):
            return "\(what): needs at least \(needed) samples, got \(actual)"
        case let .badStatisticsFile(path, key, reason):
            return "\(path): '\(key)': \(reason)"
        case let .lapack(routine, info):
            return "LAPACK \(routine) failed with info = \(info)"
        case let .invalidArgument(name, value, reason):
            return "\(name) = \(value): \(reason)"
        case let .unknownID(kind, id, valid):
            let near = valid.min { editDistance($0, id) < editDistance($1, id) }
            let hint = near.map { editDistance($0, id) <= 3 ? " (did you mean '\($0)'?)" : "" } ?? ""
            return "unknown \(kind) '\(id)'\(hint); valid: \(valid.joined(separator: ", "))"
        }
    }
}

/// Levenshtein distance, for "did you mean" hints.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    var row = Array(0...b.count)
    for i in 1...a.count {
        var prev = row[0]
        row[0] = i
        for j in stride(from: 1, through: b.count, by: 1) {
            let cur = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
            prev = cur
        }
    }
    return row[b.count]
}
