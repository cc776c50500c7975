import Foundation

/// One line of a report: one metric of one row, published value beside ours.
public struct ReportLine: Equatable, Sendable {
    public enum Status: Equatable, Sendable {
        /// Computed by this run.
        case ok
        /// The suite has the row but its weights or data were missing.
        case notRun(missing: String?, message: String?)
        case failed(String)
        /// In the published table only (no weights digit-bench can run, or not in this suite).
        case publishedOnly
    }

    public var rowID: String
    public var model: String
    public var registryID: String?
    public var metric: MetricKind
    public var published: PublishedValue?
    public var footnoteMark: String?
    public var ours: Double?
    public var tolerance: Tolerance?
    public var status: Status
    public var evaluationProtocol: String?
    public var weights: WeightsMode?
    public var numSamples: Int?
    public var seed: UInt64?

    /// Decimals for ours and Δ: those of the published number, else the metric's default.
    public var decimals: Int { published?.decimals ?? metric.defaultDecimals }

    public var delta: Double? {
        guard let o = ours, let p = published else { return nil }
        return o - p.value
    }

    /// nil when there is nothing to compare (no published value, not run, or no tolerance).
    public var withinTolerance: Bool? {
        guard let o = ours, let p = published, let t = tolerance else { return nil }
        return t.allows(o, reference: p.value)
    }

    public var oursText: String {
        switch status {
        case .ok: return ours.map { Format.fixed($0, decimals) } ?? "—"
        case let .notRun(missing, message):
            if let m = missing { return "not run: \(m) missing (see `digit-bench weights`)" }
            return "not run: \(message ?? "inputs missing")"
        case let .failed(m): return "failed: \(m)"
        case .publishedOnly: return "—"
        }
    }

    public var deltaText: String { delta.map { Format.signed($0, decimals) } ?? "" }

    public var publishedText: String {
        guard let p = published else { return "—" }
        return p.text + (footnoteMark ?? "")
    }

    public var markText: String {
        switch withinTolerance {
        case .some(true): return "✓"
        case .some(false): return "✗"
        case .none: return ""
        }
    }
}

/// A suite run laid against its baseline table, in the baseline's row order. Rows of the table
/// the suite does not run appear as published-only lines; rows the suite ran that the table
/// lacks (e.g. smoke rows) follow in run order.
public struct Report: Sendable {
    public var record: RunRecord
    public var baseline: BaselineTable?
    public var lines: [ReportLine]
    /// Distinct footnotes of the table, in order, with the mark used for each.
    public var footnotes: [(mark: String, text: String)]

    public init(record: RunRecord, baseline: BaselineTable?) {
        self.record = record
        self.baseline = baseline
        var lines: [ReportLine] = []
        var footnotes: [(mark: String, text: String)] = []
        let marks = ["*", "†", "‡", "§"]

        func mark(for text: String?) -> String? {
            guard let text else { return nil }
            if let f = footnotes.first(where: { $0.text == text }) { return f.mark }
            // A footnote that starts with its own mark ("*: …") keeps it.
            var m = marks[min(footnotes.count, marks.count - 1)]
            if let c = text.first, marks.contains(String(c)) { m = String(c) }
            footnotes.append((m, text))
            return m
        }

        var covered = Set<String>()
        for row in baseline?.rows ?? [] {
            let fmark = mark(for: row.footnote)
            if let result = record.row(row.id) {
                covered.insert(row.id)
                lines += Self.lines(for: result, baselineRow: row, footnoteMark: fmark)
            } else {
                for m in baseline?.metrics ?? [] {
                    guard let p = row.published(m) else { continue }
                    lines.append(
                        ReportLine(
                            rowID: row.id, model: row.displayName, registryID: row.registryID, metric: m, published: p,
                            footnoteMark: fmark, ours: nil, tolerance: nil, status: .publishedOnly,
                            evaluationProtocol: row.evaluationProtocol, weights: nil, numSamples: nil, seed: nil))
                }
            }
        }
        for result in record.rows where !covered.contains(result.id) {
            lines += Self.lines(for: result, baselineRow: nil, footnoteMark: nil)
        }
        self.lines = lines
        self.footnotes = footnotes
    }

    static func lines(for r: RowResult, baselineRow: BaselineRow?, footnoteMark: String?) -> [ReportLine] {
        let status: ReportLine.Status
        switch r.status {
        case .ok: status = .ok
        case .notRun: status = .notRun(missing: r.missing, message: r.message)
        case .failed: status = .failed(r.message ?? "unknown error")
        }
        return r.metrics.compactMap { mr -> ReportLine? in
            // Unknown metric names are kept visible rather than dropped.
            let kind = MetricKind.named(mr.metric)
                ?? MetricKind(name: mr.metric, label: mr.metric, higherIsBetter: true, defaultDecimals: 4)
            return ReportLine(
                rowID: r.id, model: baselineRow?.displayName ?? r.model, registryID: r.model, metric: kind,
                published: baselineRow?.published(kind), footnoteMark: footnoteMark, ours: mr.value,
                tolerance: r.tolerance?[mr.metric], status: status,
                evaluationProtocol: mr.evaluationProtocol ?? r.evaluationProtocol, weights: r.weights,
                numSamples: r.numSamples, seed: r.seed)
        }
    }

    /// Lines computed by this run and compared with a published value.
    public var compared: [ReportLine] { lines.filter { $0.withinTolerance != nil } }
    public var outOfTolerance: [ReportLine] { lines.filter { $0.withinTolerance == false } }
    public var notRun: [ReportLine] {
        lines.filter { if case .notRun = $0.status { return true } else { return false } }
    }
}
