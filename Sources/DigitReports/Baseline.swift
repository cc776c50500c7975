import Foundation

/// A published number as printed in its table: the text (for exact display) and its value.
public struct PublishedValue: Equatable, Sendable {
    public var text: String
    public var value: Double
    public var decimals: Int { Format.decimals(of: text) }

    public init?(_ text: String) {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard !t.isEmpty, let v = Double(t), v.isFinite else { return nil }
        self.text = t
        self.value = v
    }
}

/// One row of a published table (`baselines/*.csv`).
public struct BaselineRow: Sendable {
    public var id: String
    /// 1-based line of the row in its file.
    public var line: Int
    public var fields: [String: String]

    public subscript(_ column: String) -> String? {
        guard let v = fields[column], !v.isEmpty else { return nil }
        return v
    }

    /// The registry id digit-bench reproduces this row with (`lfq-256`, `digit-large`, …), if any.
    public var registryID: String? { self["registry_id"] }
    /// The evaluation protocol of the published number (`adm`, `pytorch-fid`, `torch-fidelity`, …).
    public var evaluationProtocol: String? { self["protocol"] }
    public var footnote: String? { self["footnote"] }
    public var source: String? { self["source"] }
    public var note: String? { self["note"] }
    public var parameterCount: Double? { self["params"].flatMap(Format.parameterCount) }

    /// "DiGIT (+VQGAN) 732M", "LlamaGen-B 16x16", "Open-MAGVIT2 16x16": the method plus what
    /// tells rows of the same method apart.
    public var displayName: String {
        var parts = [self["method"] ?? id]
        if let p = self["params"] { parts.append(p) }
        if let t = self["tokens"], self["params"] == nil || self["image_size"] != nil || self["eval_resolution"] != nil {
            parts.append(t)
        }
        return parts.joined(separator: " ")
    }

    public func published(_ metric: MetricKind) -> PublishedValue? {
        self[metric.name].flatMap(PublishedValue.init)
    }
}

/// A published table: `baselines/<name>.csv`, one row per table row, with the columns
/// `id` (stable, unique) and `source` (document and table) required. Metric columns are those
/// named in `MetricKind.all`; their cells are plain numbers or empty.
public struct BaselineTable: Sendable {
    public var name: String
    public var path: String
    public var columns: [String]
    public var rows: [BaselineRow]

    public static let requiredColumns = ["id", "source"]

    public init(csvText: String, name: String, path: String) throws {
        let records = try CSV.parse(csvText, file: path)
        guard let header = records.first else { throw ReportError.csvEmpty(file: path) }
        var seenColumns = Set<String>()
        for c in header.fields where !seenColumns.insert(c).inserted {
            throw ReportError.duplicateColumn(file: path, column: c)
        }
        for c in Self.requiredColumns where !seenColumns.contains(c) {
            throw ReportError.missingColumn(file: path, column: c)
        }
        let metrics = header.fields.compactMap(MetricKind.named)
        var rows: [BaselineRow] = []
        var ids = Set<String>()
        for r in records.dropFirst() {
            guard r.fields.count == header.fields.count else {
                throw ReportError.csvRaggedRow(file: path, line: r.line, expected: header.fields.count, actual: r.fields.count)
            }
            var fields: [String: String] = [:]
            for (k, v) in zip(header.fields, r.fields) { fields[k] = v }
            let id = fields["id"] ?? ""
            guard !id.isEmpty else { throw ReportError.emptyRowID(file: path, line: r.line) }
            guard ids.insert(id).inserted else { throw ReportError.duplicateRowID(file: path, id: id, line: r.line) }
            for m in metrics {
                let v = fields[m.name] ?? ""
                if !v.isEmpty, PublishedValue(v) == nil {
                    throw ReportError.badNumber(file: path, id: id, column: m.name, value: v)
                }
            }
            rows.append(BaselineRow(id: id, line: r.line, fields: fields))
        }
        self.name = name
        self.path = path
        self.columns = header.fields
        self.rows = rows
    }

    public static func load(_ url: URL) throws -> BaselineTable {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ReportError.unreadable(file: url.path, reason: error.localizedDescription)
        }
        return try BaselineTable(csvText: text, name: url.deletingPathExtension().lastPathComponent, path: url.path)
    }

    /// The metric columns of this table, in header order.
    public var metrics: [MetricKind] { columns.compactMap(MetricKind.named) }

    public func row(_ id: String) -> BaselineRow? { rows.first { $0.id == id } }
}
