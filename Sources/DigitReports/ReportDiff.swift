import Foundation

/// The numbers of one side of a diff: a report CSV (our values) or a baseline CSV (published
/// values), keyed by (row, metric).
public struct ComparableValues: Sendable {
    public enum Kind: String, Sendable {
        case report
        case baseline
    }

    public struct Entry: Sendable {
        public var text: String
        public var value: Double
        /// The report's own tolerance for this number, if it gave one.
        public var tolerance: Tolerance?
        /// Why there is no value ("not run: …"), for report rows without a number.
        public var status: String?
    }

    public var path: String
    public var kind: Kind
    /// Ordered keys, so diffs print in table order.
    public var keys: [String]
    public var entries: [String: Entry]
    /// Report rows that have no number, with their status.
    public var missing: [String: String]

    static func key(_ row: String, _ metric: String) -> String { "\(row) \(metric)" }

    /// Reads a report CSV (header has `row`, `metric`, `ours`) or a baseline CSV (header has `id`
    /// and `source`).
    public static func load(_ url: URL) throws -> ComparableValues {
        let records = try CSV.read(contentsOf: url)
        guard let header = records.first?.fields else { throw ReportError.csvEmpty(file: url.path) }
        if header.contains("row"), header.contains("metric"), header.contains("ours") {
            return try fromReport(records, path: url.path)
        }
        if header.contains("id"), header.contains("source") {
            let table = try BaselineTable.load(url)
            var v = ComparableValues(path: url.path, kind: .baseline, keys: [], entries: [:], missing: [:])
            for row in table.rows {
                for m in table.metrics {
                    guard let p = row.published(m) else { continue }
                    let k = key(row.id, m.name)
                    v.keys.append(k)
                    v.entries[k] = Entry(text: p.text, value: p.value, tolerance: nil, status: nil)
                }
            }
            return v
        }
        throw ReportError.notComparable(
            file: url.path, reason: "neither a report CSV (columns row, metric, ours) nor a baseline CSV (columns id, source)")
    }

    static func fromReport(_ records: [CSV.Record], path: String) throws -> ComparableValues {
        let header = records[0].fields
        func col(_ name: String) -> Int? { header.firstIndex(of: name) }
        let iRow = col("row")!, iMetric = col("metric")!, iOurs = col("ours")!
        let iExact = col("ours_exact"), iTol = col("tolerance"), iStatus = col("status")
        var v = ComparableValues(path: path, kind: .report, keys: [], entries: [:], missing: [:])
        for r in records.dropFirst() {
            guard r.fields.count == header.count else {
                throw ReportError.csvRaggedRow(file: path, line: r.line, expected: header.count, actual: r.fields.count)
            }
            let f = r.fields
            let k = key(f[iRow], f[iMetric])
            let status = iStatus.map { f[$0] } ?? "ok"
            if status == "published only" { continue }
            let text = iExact.flatMap { f[$0].isEmpty ? nil : f[$0] } ?? f[iOurs]
            guard !text.isEmpty else {
                v.keys.append(k)
                v.missing[k] = status
                continue
            }
            guard let value = Double(text) else {
                throw ReportError.badNumber(file: path, id: f[iRow], column: "ours", value: text)
            }
            v.keys.append(k)
            v.entries[k] = Entry(
                text: f[iOurs], value: value, tolerance: iTol.flatMap { Tolerance(parsing: f[$0]) }, status: status)
        }
        return v
    }
}

/// Compares two reports row by row (or a report against its baseline) and says which numbers
/// drifted. Without `--tolerance` two reports must agree exactly (every digit of the stored
/// value), and a report against a baseline uses the report's own per-row tolerances.
public struct ReportDiff: Sendable {
    public struct Line: Sendable {
        public var key: String
        public var a: String
        public var b: String
        public var delta: Double?
        public var drift: Bool
        public var note: String
    }

    public var a: ComparableValues
    public var b: ComparableValues
    public var lines: [Line]

    public var driftCount: Int { lines.filter(\.drift).count }
    public var comparedCount: Int { lines.filter { $0.delta != nil }.count }
    /// Non-zero exit is wanted when anything drifted, or when nothing could be compared at all.
    public var failed: Bool { driftCount > 0 || comparedCount == 0 }

    public init(_ a: ComparableValues, _ b: ComparableValues, tolerance: Tolerance? = nil) {
        self.a = a
        self.b = b
        var lines: [Line] = []
        var keys = a.keys
        for k in b.keys where !keys.contains(k) { keys.append(k) }
        let reportVsBaseline = a.kind != b.kind
        for k in keys {
            let ea = a.entries[k], eb = b.entries[k]
            switch (ea, eb) {
            case let (x?, y?):
                let d = x.value - y.value
                let ours = a.kind == .report ? x : y
                let tol = tolerance ?? (reportVsBaseline ? ours.tolerance : nil)
                let within: Bool
                var note = ""
                if let tol {
                    within = tol.allows(x.value, reference: y.value)
                    note = "tolerance \(tol)"
                } else if reportVsBaseline {
                    within = true
                    note = "no tolerance given: not judged"
                } else {
                    within = x.value == y.value
                    note = "exact"
                }
                lines.append(Line(key: k, a: x.text, b: y.text, delta: d, drift: !within, note: note))
            case let (x?, nil):
                // Between two reports a number that vanished is drift; a baseline simply may not
                // publish every number we compute.
                let reason = b.missing[k] ?? "absent"
                lines.append(Line(key: k, a: x.text, b: "", delta: nil, drift: !reportVsBaseline, note: "only in A (B: \(reason))"))
            case let (nil, y?):
                let reason = a.missing[k] ?? "absent"
                lines.append(Line(key: k, a: "", b: y.text, delta: nil, drift: !reportVsBaseline, note: "only in B (A: \(reason))"))
            case (nil, nil):
                let ra = a.missing[k] ?? "absent", rb = b.missing[k] ?? "absent"
                lines.append(Line(key: k, a: "", b: "", delta: nil, drift: false, note: "no number in either (A: \(ra); B: \(rb))"))
            }
        }
        if reportVsBaseline {
            // Published-only rows of the baseline are not part of the comparison.
            lines.removeAll { $0.a.isEmpty && !$0.drift && $0.note.hasPrefix("only in B (A: absent") }
            lines.removeAll { $0.b.isEmpty && !$0.drift && $0.note.hasPrefix("only in A (B: absent") }
        }
        self.lines = lines
    }

    /// A plain-text table of the comparison.
    public func render() -> String {
        var out = "A: \(a.path) (\(a.kind.rawValue))\nB: \(b.path) (\(b.kind.rawValue))\n\n"
        let w0 = max(10, lines.map(\.key.count).max() ?? 0)
        out += "  " + "row metric".padding(toLength: w0, withPad: " ", startingAt: 0) + "  A            B            Δ\n"
        for l in lines {
            let mark = l.drift ? "✗ " : "  "
            let d = l.delta.map { Format.shortest(($0 * 1e9).rounded() / 1e9) } ?? ""
            out += mark + l.key.padding(toLength: w0, withPad: " ", startingAt: 0) + "  "
            out += l.a.padding(toLength: 12, withPad: " ", startingAt: 0) + " "
            out += l.b.padding(toLength: 12, withPad: " ", startingAt: 0) + " "
            out += d.padding(toLength: 12, withPad: " ", startingAt: 0) + " " + l.note + "\n"
        }
        out += "\n\(comparedCount) compared, \(driftCount) drifted"
        if comparedCount == 0 { out += " (nothing to compare)" }
        out += "\n"
        return out
    }
}
