import Foundation

/// Writes a report as Markdown in the style of lm-evaluation-harness's results table:
/// `| Row | Model | Metric | ↑/↓ | Published | Ours | Δ | Within tol. |`, one line per metric,
/// row and model printed once per row, numbers right-aligned with the published number's decimals.
public enum MarkdownWriter {
    public struct Options: Sendable {
        /// File name of the FID-vs-parameters SVG to link, if one was written.
        public var plotFile: String?
        /// Title line; default "`<suite>` vs `<baseline>`".
        public var title: String?
        public init(plotFile: String? = nil, title: String? = nil) {
            self.plotFile = plotFile
            self.title = title
        }
    }

    public static func render(_ report: Report, options: Options = Options()) -> String {
        let r = report.record
        var out = ""
        let title = options.title ?? "`\(r.suite)`" + (report.baseline.map { " vs `\($0.name)`" } ?? "")
        out += "# \(title)\n\n"

        if r.usesSeededWeights {
            out += "> **Seeded weights.** Rows marked `seeded` ran on deterministic seeded weights "
            out += "(`--weights seeded`), not the published checkpoints: they check the pipeline end to end "
            out += "and are not comparable with the published numbers.\n\n"
        }

        out += "| | |\n|---|---|\n"
        out += "| suite | `\(r.suite)` v\(r.suiteVersion)\(r.suiteFile.map { " (`\($0)`)" } ?? "") |\n"
        if let b = report.baseline { out += "| baseline | `\(r.baseline ?? b.name + ".csv")` |\n" }
        out += "| digit-bench | \(r.digitBenchVersion)\(r.gitCommit.map { " @ `\($0)`" } ?? "") |\n"
        out += "| toolchain | \(escape(r.toolchain)) |\n"
        out += "| date | \(r.date) |\n"
        let machine = r.machine.cores > 0
            ? "\(escape(r.machine.cpu)), \(r.machine.cores) cores, \(Format.fixed(r.machine.memoryGiB, 1)) GiB, \(escape(r.machine.os))"
            : "not recorded (golden report)"
        out += "| machine | \(machine) |\n"
        let modes = Set(r.rows.map(\.weights.rawValue)).sorted().joined(separator: ", ")
        out += "| weights | \(modes.isEmpty ? "—" : modes) |\n"
        let ran = r.rows.filter { $0.status == .ok }.count
        out += "| rows | \(ran) run, \(r.rows.count - ran) not run or failed, \(report.compared.count) numbers compared, \(report.outOfTolerance.count) out of tolerance |\n\n"

        out += "| Row | Model | Metric | ↑/↓ | Published | Ours | Δ | Within tol. |\n"
        out += "|---|---|---|:-:|--:|--:|--:|:-:|\n"
        var previousRow: String?
        for l in report.lines {
            let first = l.rowID != previousRow
            previousRow = l.rowID
            var model = escape(l.model)
            if let id = l.registryID, first, id != l.model { model += " `\(id)`" }
            if l.weights == .seeded, first { model += " (seeded)" }
            out += "| \(first ? "`\(l.rowID)`" : "") | \(first ? model : "") | \(l.metric.label) | \(l.metric.arrow) "
            out += "| \(escape(l.publishedText)) | \(escape(l.oursText)) | \(l.deltaText) | \(l.markText) |\n"
        }
        out += "\n"

        if !report.footnotes.isEmpty {
            for f in report.footnotes {
                let text = f.text.hasPrefix(f.mark) ? f.text : "\(f.mark) \(f.text)"
                out += "\(escape(text))\n"
            }
            out += "\n"
        }

        // Which protocol produced which of our numbers, and how many samples.
        let runLines = report.lines.filter { $0.status == .ok }
        if !runLines.isEmpty {
            out += "Protocols of our numbers:\n\n"
            var byProtocol: [(String, [String])] = []
            for l in runLines {
                let p = l.evaluationProtocol ?? "unspecified"
                let item = "`\(l.rowID)` \(l.metric.label)"
                if let i = byProtocol.firstIndex(where: { $0.0 == p }) {
                    byProtocol[i].1.append(item)
                } else {
                    byProtocol.append((p, [item]))
                }
            }
            for (p, items) in byProtocol { out += "- `\(p)`: \(items.joined(separator: ", "))\n" }
            out += "\n"
        }

        let tolerances = report.lines.compactMap { l in l.tolerance.map { "`\(l.rowID)` \(l.metric.label) ±\($0)" } }
        if !tolerances.isEmpty { out += "Tolerances: \(tolerances.joined(separator: "; ")).\n\n" }

        if let plot = options.plotFile { out += "![FID against parameters](\(plot))\n\n" }

        // Why rows were not run (e.g. "needs weights: FILE (sha256 …, from …, put at …)") or failed.
        let reasons = r.rows.filter { $0.status != .ok }.compactMap { row in
            (row.message ?? row.missing.map { "\($0) missing" }).map { (row.id, row.status, $0) }
        }
        if !reasons.isEmpty {
            out += "Rows not run or failed:\n\n"
            for (id, status, text) in reasons { out += "- `\(id)` (\(status.rawValue)): \(escape(text))\n" }
            out += "\n"
        }

        // Sample / reconstruction grids, shown inline (each image links to the full file).
        let images = r.rows.flatMap { row in (row.images ?? []).map { (row.id, $0) } }
        if !images.isEmpty {
            out += "Images:\n\n"
            for (id, path) in images { out += "- `\(id)`\(r.row(id)?.weights == .seeded ? " (seeded)" : ""):\n\n  [![\(id)](\(path))](\(path))\n" }
            out += "\n"
        }

        if let b = report.baseline {
            let sources = Array(Set(b.rows.compactMap(\.source))).sorted()
            if !sources.isEmpty {
                out += "Published numbers: \(sources.map(escape).joined(separator: "; ")).\n"
            }
        }
        return out
    }

    /// Escapes the characters that would break a table cell.
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}

/// Writes a report as CSV with the same lines as the Markdown plus the machine-readable
/// details (`report diff` reads this format back).
public enum ReportCSVWriter {
    public static let header = [
        "row", "model", "registry_id", "metric", "direction", "published", "ours", "delta", "tolerance",
        "within_tolerance", "status", "protocol", "weights", "num_samples", "seed", "ours_exact",
    ]

    public static func render(_ report: Report) -> String {
        var records = [header]
        for l in report.lines {
            let status: String
            switch l.status {
            case .ok: status = "ok"
            case .notRun: status = l.oursText
            case let .failed(m): status = "failed: \(m)"
            case .publishedOnly: status = "published only"
            }
            records.append([
                l.rowID, l.model, l.registryID ?? "", l.metric.name, l.metric.higherIsBetter ? "higher" : "lower",
                l.published?.text ?? "", l.ours.map { Format.fixed($0, l.decimals) } ?? "", l.deltaText,
                l.tolerance?.description ?? "", l.withinTolerance.map { $0 ? "yes" : "no" } ?? "", status,
                l.evaluationProtocol ?? "", l.weights?.rawValue ?? "", l.numSamples.map(String.init) ?? "",
                l.seed.map(String.init) ?? "", l.ours.map { "\($0)" } ?? "",
            ])
        }
        return CSV.format(records)
    }
}
