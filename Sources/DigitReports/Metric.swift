import Foundation

/// A metric column as it appears in baselines, suites and reports. The name is the CSV column
/// and suite key (`fid`, `is`, `rfid`, `psnr`, `ssim`, `usage_pct`, `top1`, …); the direction
/// gives the arrow in reports.
public struct MetricKind: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public let label: String
    public let higherIsBetter: Bool
    /// Decimals printed when there is no published value to copy the precision from.
    public let defaultDecimals: Int

    public var arrow: String { higherIsBetter ? "↑" : "↓" }
    public var description: String { name }

    public static let fid = MetricKind(name: "fid", label: "FID", higherIsBetter: false, defaultDecimals: 2)
    public static let inceptionScore = MetricKind(name: "is", label: "IS", higherIsBetter: true, defaultDecimals: 2)
    public static let sfid = MetricKind(name: "sfid", label: "sFID", higherIsBetter: false, defaultDecimals: 2)
    public static let kid = MetricKind(name: "kid", label: "KID", higherIsBetter: false, defaultDecimals: 4)
    public static let precision = MetricKind(name: "precision", label: "Precision", higherIsBetter: true, defaultDecimals: 2)
    public static let recall = MetricKind(name: "recall", label: "Recall", higherIsBetter: true, defaultDecimals: 2)
    public static let rfid = MetricKind(name: "rfid", label: "rFID", higherIsBetter: false, defaultDecimals: 2)
    public static let psnr = MetricKind(name: "psnr", label: "PSNR", higherIsBetter: true, defaultDecimals: 2)
    public static let ssim = MetricKind(name: "ssim", label: "SSIM", higherIsBetter: true, defaultDecimals: 4)
    public static let usage = MetricKind(name: "usage_pct", label: "Codebook usage %", higherIsBetter: true, defaultDecimals: 1)
    public static let perplexity = MetricKind(name: "perplexity", label: "Code perplexity", higherIsBetter: true, defaultDecimals: 1)
    public static let bpp = MetricKind(name: "bpp", label: "Bits per pixel", higherIsBetter: false, defaultDecimals: 4)
    public static let top1 = MetricKind(name: "top1", label: "Top-1 %", higherIsBetter: true, defaultDecimals: 1)
    public static let top5 = MetricKind(name: "top5", label: "Top-5 %", higherIsBetter: true, defaultDecimals: 1)

    /// Every metric a baseline, suite or report may name, in report order.
    public static let all: [MetricKind] = [
        .fid, .inceptionScore, .sfid, .kid, .precision, .recall, .rfid, .psnr, .ssim, .usage, .perplexity, .bpp,
        .top1, .top5,
    ]

    public static func named(_ name: String) -> MetricKind? { all.first { $0.name == name } }
}

/// How far a number may be from its reference and still count as reproduced: an absolute
/// difference (`0.05`) or a relative one (`"2%"`). In YAML/JSON a number is absolute and a
/// string ending in `%` relative.
public enum Tolerance: Equatable, Sendable, Codable, CustomStringConvertible {
    case absolute(Double)
    case relative(Double)  // fraction: 0.02 for "2%"

    public init?(parsing s: String) {
        let t = s.trimmingCharacters(in: .whitespaces)
        if t.hasSuffix("%") {
            guard let v = Double(t.dropLast()), v >= 0, v.isFinite else { return nil }
            self = .relative(v / 100)
        } else {
            guard let v = Double(t), v >= 0, v.isFinite else { return nil }
            self = .absolute(v)
        }
    }

    public func allows(_ value: Double, reference: Double) -> Bool {
        let d = abs(value - reference)
        switch self {
        case let .absolute(a): return d <= a + 1e-12 * max(1, abs(reference))
        case let .relative(r): return d <= r * abs(reference) + 1e-12 * max(1, abs(reference))
        }
    }

    public var description: String {
        switch self {
        case let .absolute(a): return Format.shortest(a)
        case let .relative(r): return Format.shortest(r * 100) + "%"
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let d = try? c.decode(Double.self) {
            guard d >= 0, d.isFinite else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "tolerance must be >= 0, got \(d)")
            }
            self = .absolute(d)
            return
        }
        let s = try c.decode(String.self)
        guard let t = Tolerance(parsing: s) else {
            throw DecodingError.dataCorruptedError(
                in: c, debugDescription: "tolerance '\(s)' is neither a number (absolute) nor 'N%' (relative)")
        }
        self = t
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case let .absolute(a): try c.encode(a)
        case .relative: try c.encode(description)
        }
    }
}

/// Number formatting shared by every writer, so the same value prints the same everywhere.
public enum Format {
    /// Fixed decimals, with "-0.00" normalised to "0.00".
    public static func fixed(_ v: Double, _ decimals: Int) -> String {
        guard v.isFinite else { return v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf") }
        let s = String(format: "%.\(max(0, decimals))f", v)
        if s.hasPrefix("-"), Double(s) == 0 { return String(s.dropFirst()) }
        return s
    }

    /// A signed difference with fixed decimals ("+0.12", "-1.30", "0.00").
    public static func signed(_ v: Double, _ decimals: Int) -> String {
        let s = fixed(v, decimals)
        if Double(s) == 0 { return s }
        return v > 0 ? "+" + s : s
    }

    /// The shortest round-tripping text ("0.5", "2", "1e-06").
    public static func shortest(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    /// Number of digits after the decimal point in a published number ("9.10" → 2, "45" → 0).
    public static func decimals(of text: String) -> Int {
        guard let dot = text.firstIndex(of: ".") else { return 0 }
        return text[text.index(after: dot)...].prefix(while: { $0.isNumber }).count
    }

    /// Parameter counts as published ("219M", "0.6B", "7B", "13.5B", "1362M") → count.
    public static func parameterCount(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard let last = t.last else { return nil }
        let scale: Double
        switch last {
        case "K", "k": scale = 1e3
        case "M": scale = 1e6
        case "B", "G": scale = 1e9
        default: return Double(t)
        }
        guard let v = Double(t.dropLast()) else { return nil }
        return v * scale
    }
}
