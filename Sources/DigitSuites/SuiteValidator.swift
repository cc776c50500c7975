import DigitReports
import Foundation

/// Checks a parsed suite against the public ids, the weights registry and its baseline table.
/// Every problem is reported (not just the first), each with its line and a "did you mean"
/// suggestion for unknown ids.
public struct SuiteValidator {
    public var suite: Suite
    public var suiteURL: URL?
    public var repositoryRoot: URL?

    public init(suite: Suite, suiteURL: URL? = nil, repositoryRoot: URL? = nil) {
        self.suite = suite
        self.suiteURL = suiteURL
        self.repositoryRoot = repositoryRoot
    }

    /// Where the baseline file is: relative paths are tried against the repository root (given,
    /// or the suite file's parent directory when it lives in `suites/`), the suite's directory
    /// and the current directory.
    public func baselineURL() -> URL? {
        guard let b = suite.baseline else { return nil }
        if b.hasPrefix("/") { return URL(fileURLWithPath: b) }
        var bases: [URL] = []
        if let r = repositoryRoot { bases.append(r) }
        if let s = suiteURL {
            bases.append(s.deletingLastPathComponent().deletingLastPathComponent())
            bases.append(s.deletingLastPathComponent())
        }
        bases.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        for base in bases {
            let u = base.appendingPathComponent(b)
            if FileManager.default.fileExists(atPath: u.path) { return u }
        }
        return nil
    }

    public func validate() -> [SuiteProblem] {
        var problems = suite.readProblems
        func add(_ line: Int?, _ loc: String, _ msg: String) {
            problems.append(SuiteProblem(line: line, location: loc, message: msg))
        }

        if suite.name.isEmpty { add(nil, "suite", "'suite' (the name) is empty") }
        if suite.name.contains("/") || suite.name.contains(" ") {
            add(nil, "suite", "name '\(suite.name)' is used as a directory under reports/: no '/' or spaces")
        }
        if suite.version < 1 { add(nil, "suite.version", "must be an integer >= 1") }

        var baseline: BaselineTable?
        if let b = suite.baseline {
            if let url = baselineURL() {
                do { baseline = try BaselineTable.load(url) } catch { add(nil, "suite.baseline", "\(error)") }
            } else {
                add(nil, "suite.baseline", "file '\(b)' not found (paths are relative to the repository root)")
            }
        }

        var seen = Set<String>()
        for (i, row) in suite.rows.enumerated() {
            let loc = "rows[\(i)] (\(row.id))"
            let line = row.line
            if !row.id.isEmpty, !seen.insert(row.id).inserted { add(line, loc, "row id '\(row.id)' appears twice") }

            // Baseline row
            var bRow: BaselineRow?
            if let table = baseline, !row.id.isEmpty {
                bRow = table.row(row.id)
                if bRow == nil {
                    add(line, "\(loc).id", Suggest.unknown(row.id, kind: .baselineRow, available: table.rows.map(\.id)) + " (in \(table.name).csv)")
                }
            }

            // Task and what it evaluates
            let task = row.task
            if !task.isEmpty, !PublicIDs.tasks.contains(task) {
                add(line, "\(loc).task", Suggest.unknown(task, kind: .task, available: PublicIDs.tasks))
            }
            switch task {
            case "reconstruct":
                if let t = row.tokenizer {
                    if !PublicIDs.isTokenizer(t) {
                        add(line, "\(loc).tokenizer", Suggest.unknown(t, kind: .tokenizer, available: PublicIDs.tokenizers, extra: [PublicIDs.jpegPattern]))
                    }
                } else {
                    add(line, loc, "a reconstruct row needs 'tokenizer'")
                }
                if row.model != nil { add(line, "\(loc).model", "a reconstruct row names its 'tokenizer', not a 'model'") }
            case "generate":
                if let m = row.model {
                    if !PublicIDs.generators.contains(m) {
                        add(line, "\(loc).model", Suggest.unknown(m, kind: .generator, available: PublicIDs.generators))
                    }
                } else {
                    add(line, loc, "a generate row needs 'model'")
                }
                if let t = row.tokenizer, !PublicIDs.isTokenizer(t) {
                    add(line, "\(loc).tokenizer", Suggest.unknown(t, kind: .tokenizer, available: PublicIDs.tokenizers))
                }
            case "linear-probe":
                let ids = PublicIDs.generators + PublicIDs.featureExtractors
                if let m = row.model {
                    if !ids.contains(m) { add(line, "\(loc).model", Suggest.unknown(m, kind: .modelOrExtractor, available: ids)) }
                } else {
                    add(line, loc, "a linear-probe row needs 'model'")
                }
            default: break
            }
            if let b = bRow, let published = b.registryID, let ours = row.registryID, published != ours {
                add(line, loc, "evaluates '\(ours)' but baseline row '\(b.id)' is reproduced by '\(published)'")
            }
            if let b = bRow, b.registryID == nil {
                add(line, loc, "baseline row '\(b.id)' has no registry_id: digit-bench has no weights for it\(b.note.map { " (\($0))" } ?? "")")
            }

            // Weights
            for c in row.checkpoints where WeightsRegistry.file(c) == nil {
                add(line, "\(loc).checkpoints", Suggest.unknown(c, kind: .weights, available: WeightsRegistry.ids))
            }
            if (row.weights ?? suite.weights) == .real, row.checkpoints.isEmpty, !(row.tokenizer.map(PublicIDs.isJPEG) ?? false) {
                add(line, "\(loc).checkpoints", "a row on real weights must name its weight files (see `digit-bench weights list`)")
            }

            // Data
            if let d = row.dataset {
                if !PublicIDs.datasets.contains(d) { add(line, "\(loc).dataset", Suggest.unknown(d, kind: .dataset, available: PublicIDs.datasets)) }
            } else {
                add(line, loc, "missing 'dataset' (one of \(PublicIDs.datasets.joined(separator: ", ")))")
            }
            if let p = row.preprocessing, !PublicIDs.preprocessings.contains(p) {
                add(line, "\(loc).preprocessing", Suggest.unknown(p, kind: .preprocessing, available: PublicIDs.preprocessings))
            }
            if let r = row.resolution, !(8...4096).contains(r) { add(line, "\(loc).resolution", "\(r) is not a plausible image size") }

            // Protocols and metrics
            if let p = row.evaluationProtocol {
                if !PublicIDs.protocolIDs.contains(p) {
                    add(line, "\(loc).protocol", Suggest.unknown(p, kind: .evaluationProtocol, available: PublicIDs.protocolIDs))
                }
                if let bp = bRow?.evaluationProtocol, bp != p {
                    add(line, "\(loc).protocol", "'\(p)' differs from the published number's protocol '\(bp)' (baseline row '\(row.id)')")
                }
            } else {
                add(line, loc, "missing 'protocol' (one of \(PublicIDs.protocolIDs.joined(separator: ", ")))")
            }
            for (m, p) in row.protocols.sorted(by: { $0.key < $1.key }) {
                if !row.metrics.contains(m) { add(line, "\(loc).protocols", "'\(m)' is not among the row's metrics") }
                if !PublicIDs.protocolIDs.contains(p) {
                    add(line, "\(loc).protocols.\(m)", Suggest.unknown(p, kind: .evaluationProtocol, available: PublicIDs.protocolIDs))
                }
            }
            if row.metrics.isEmpty { add(line, loc, "missing 'metrics'") }
            for m in row.metrics {
                guard PublicIDs.metrics.contains(m) else {
                    add(line, "\(loc).metrics", Suggest.unknown(m, kind: .metric, available: PublicIDs.metrics))
                    continue
                }
                if let b = bRow {
                    if let kind = MetricKind.named(m), b.published(kind) != nil {
                        if row.tolerance[m] == nil {
                            add(line, "\(loc).tolerance", "metric '\(m)' has a published value (\(b[m] ?? "")) but no tolerance")
                        }
                    }
                }
            }
            for m in row.tolerance.keys.sorted() where !row.metrics.contains(m) {
                add(line, "\(loc).tolerance", "'\(m)' is not among the row's metrics")
            }
            if let n = row.numSamples, n < 1 { add(line, "\(loc).num_samples", "must be >= 1") }
            if row.numSamples == nil { add(line, loc, "missing 'num_samples'") }
            if row.seed == nil { add(line, loc, "missing 'seed'") }
        }
        return problems
    }
}
