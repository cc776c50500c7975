import DigitReports
import Foundation
import Yams

/// A suite file (`suites/*.yaml`): a named, versioned evaluation reproducing rows of one
/// published table.
///
/// ```yaml
/// suite: llamagen-c2i-in256          # name (reports/<suite>/…)
/// version: 1                         # bump when a row's recipe changes
/// description: LlamaGen class-conditional GPTs, FID at 256 px
/// baseline: baselines/llamagen_c2i_in256.csv
/// weights: real                      # or seeded (smoke suites)
/// defaults:                          # merged into every row (maps merge key by key)
///   task: generate
///   protocol: adm
/// rows:
///   - id: llamagen-gpt-b-256         # the baseline row it reproduces
///     model: llamagen-gpt-b          # registry id (tokenizer: for reconstruct rows)
///     checkpoints: [llamagen-gpt-b-256, llamagen-vq16]   # weights ids
///     dataset: imagenet-val
///     preprocessing: center-crop-arr
///     resolution: 256
///     reference: VIRTUAL_imagenet256_labeled.npz
///     metrics: [fid]
///     protocols: {psnr: openmagvit2-2024}   # per-metric protocol overrides
///     num_samples: 50000
///     seed: 0
///     tolerance: {fid: 0.1}         # absolute, or "2%" relative; a single value applies to all metrics
///     options: {cfg: 2.0, top_k: 0}  # task options passed to the runner
/// ```
public struct Suite: Sendable, Equatable {
    public var name: String
    public var version: Int
    public var description: String?
    /// Path of the baseline CSV as written in the file (relative to the repository root).
    public var baseline: String?
    public var weights: WeightsMode
    public var rows: [SuiteRow]
    /// Where the suite was read from.
    public var path: String
    /// Problems found while reading that do not stop validation (unknown keys).
    public var readProblems: [SuiteProblem] = []

    public func row(_ id: String) -> SuiteRow? { rows.first { $0.id == id } }
}

/// One evaluation of a suite, reproducing one baseline row.
public struct SuiteRow: Sendable, Equatable {
    public var id: String
    public var task: String
    public var model: String?
    public var tokenizer: String?
    public var checkpoints: [String]
    public var dataset: String?
    public var preprocessing: String?
    public var resolution: Int?
    /// FID reference: a statistics/images file or a dataset name.
    public var reference: String?
    public var evaluationProtocol: String?
    public var protocols: [String: String]
    public var metrics: [String]
    public var numSamples: Int?
    public var seed: UInt64?
    public var tolerance: [String: Tolerance]
    public var options: [String: String]
    public var weights: WeightsMode?
    public var note: String?
    /// Line of the row in the suite file.
    public var line: Int?

    /// The registry id the row evaluates: the tokenizer for reconstruct rows, else the model.
    public var registryID: String? { task == "reconstruct" ? (tokenizer ?? model) : (model ?? tokenizer) }

    /// The protocol that produces `metric` in this row.
    public func evaluationProtocol(for metric: String) -> String? { protocols[metric] ?? evaluationProtocol }
}

/// One thing wrong with a suite file, with its line when known.
public struct SuiteProblem: Sendable, Equatable, CustomStringConvertible {
    public var line: Int?
    /// `rows[2] (llamagen-gpt-b-256).model`
    public var location: String
    public var message: String

    public var description: String { "\(line.map { "line \($0): " } ?? "")\(location): \(message)" }
}

public enum SuiteError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case yaml(file: String, reason: String)
    case invalid(file: String, problems: [SuiteProblem])

    public var description: String {
        switch self {
        case let .unreadable(file, reason): return "\(file): cannot read (\(reason))"
        case let .yaml(file, reason): return "\(file): not valid YAML: \(reason)"
        case let .invalid(file, problems):
            return "\(file): \(problems.count) problem\(problems.count == 1 ? "" : "s"):\n"
                + problems.map { "  \(file):\($0)" }.joined(separator: "\n")
        }
    }

    public var problems: [SuiteProblem] {
        if case let .invalid(_, p) = self { return p }
        return []
    }
}

// MARK: - Reading

extension Suite {
    static let topKeys = ["suite", "version", "description", "baseline", "weights", "defaults", "rows"]
    static let rowKeys = [
        "id", "task", "model", "tokenizer", "checkpoints", "dataset", "preprocessing", "resolution", "reference",
        "protocol", "protocols", "metrics", "num_samples", "seed", "tolerance", "options", "weights", "note",
    ]

    /// Reads and validates a suite file. Problems are collected and thrown together.
    public static func load(_ url: URL, repositoryRoot: URL? = nil) throws -> Suite {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw SuiteError.unreadable(file: url.path, reason: error.localizedDescription)
        }
        let suite = try parse(text, path: url.path)
        let problems = SuiteValidator(suite: suite, suiteURL: url, repositoryRoot: repositoryRoot).validate()
        if !problems.isEmpty { throw SuiteError.invalid(file: url.path, problems: problems) }
        return suite
    }

    /// Parses the YAML into a suite (structure and types only; ids are checked by `SuiteValidator`).
    public static func parse(_ text: String, path: String) throws -> Suite {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw SuiteError.yaml(file: path, reason: "\(error)")
        }
        var r = NodeReader()
        guard let top = root?.mapping else {
            throw SuiteError.invalid(
                file: path, problems: [SuiteProblem(line: root?.mark?.line, location: "file", message: "expected a mapping with keys \(topKeys.joined(separator: ", "))")])
        }
        r.checkKeys(top, allowed: topKeys, location: "suite")
        let name = r.string(top, "suite", location: "suite", required: true) ?? ""
        let version = r.int(top, "version", location: "suite", required: true) ?? 0
        let weights = r.weightsMode(top, location: "suite") ?? .real
        var defaults = RawRow()
        if let d = top["defaults"] {
            if let m = d.mapping {
                r.checkKeys(m, allowed: rowKeys.filter { $0 != "id" }, location: "defaults")
                defaults = r.row(m, location: "defaults")
            } else {
                r.problem(d, "defaults", "expected a mapping")
            }
        }
        var rows: [SuiteRow] = []
        if let seq = top["rows"]?.sequence {
            for (i, node) in seq.enumerated() {
                guard let m = node.mapping else {
                    r.problem(node, "rows[\(i)]", "expected a mapping")
                    continue
                }
                let idText = m["id"]?.string ?? "?"
                let loc = "rows[\(i)] (\(idText))"
                r.checkKeys(m, allowed: rowKeys, location: loc)
                let raw = defaults.merged(with: r.row(m, location: loc))
                if raw.id == nil { r.problems.append(SuiteProblem(line: node.mark?.line, location: loc, message: "missing 'id'")) }
                if raw.task == nil { r.problems.append(SuiteProblem(line: node.mark?.line, location: loc, message: "missing 'task' (one of \(PublicIDs.tasks.joined(separator: ", ")))")) }
                rows.append(
                    SuiteRow(
                        id: raw.id ?? "", task: raw.task ?? "", model: raw.model, tokenizer: raw.tokenizer,
                        checkpoints: raw.checkpoints ?? [], dataset: raw.dataset, preprocessing: raw.preprocessing,
                        resolution: raw.resolution, reference: raw.reference, evaluationProtocol: raw.evaluationProtocol,
                        protocols: raw.protocols, metrics: raw.metrics ?? [], numSamples: raw.numSamples, seed: raw.seed,
                        tolerance: raw.expandedTolerance, options: raw.options, weights: raw.weights, note: raw.note,
                        line: node.mark?.line))
            }
        } else if let n = top["rows"] {
            r.problem(n, "rows", "expected a list of rows")
        } else {
            r.problems.append(SuiteProblem(line: nil, location: "suite", message: "missing 'rows'"))
        }
        if !r.problems.isEmpty { throw SuiteError.invalid(file: path, problems: r.unknownKeys + r.problems) }
        return Suite(
            name: name, version: version, description: top["description"]?.string, baseline: top["baseline"]?.string,
            weights: weights, rows: rows, path: path, readProblems: r.unknownKeys)
    }
}

/// A row as written (every field optional), before defaults are merged in.
struct RawRow {
    var id, task, model, tokenizer, dataset, preprocessing, reference, evaluationProtocol, note: String?
    var checkpoints, metrics: [String]?
    var resolution, numSamples: Int?
    var seed: UInt64?
    var protocols: [String: String] = [:]
    var options: [String: String] = [:]
    /// Per metric, or for all metrics under the key "*".
    var tolerance: [String: Tolerance] = [:]
    var weights: WeightsMode?

    func merged(with row: RawRow) -> RawRow {
        var m = self
        m.id = row.id ?? id
        m.task = row.task ?? task
        m.model = row.model ?? model
        m.tokenizer = row.tokenizer ?? tokenizer
        m.dataset = row.dataset ?? dataset
        m.preprocessing = row.preprocessing ?? preprocessing
        m.reference = row.reference ?? reference
        m.evaluationProtocol = row.evaluationProtocol ?? evaluationProtocol
        m.note = row.note ?? note
        m.checkpoints = row.checkpoints ?? checkpoints
        m.metrics = row.metrics ?? metrics
        m.resolution = row.resolution ?? resolution
        m.numSamples = row.numSamples ?? numSamples
        m.seed = row.seed ?? seed
        m.weights = row.weights ?? weights
        // Per-metric defaults apply only to the metrics the row has; the row's own entries are
        // kept as written (so the validator can flag a tolerance for a metric the row lacks).
        let rowMetrics = Set(m.metrics ?? [])
        m.protocols = protocols.filter { rowMetrics.contains($0.key) }.merging(row.protocols) { $1 }
        m.options.merge(row.options) { $1 }
        m.tolerance = tolerance.filter { $0.key == "*" || rowMetrics.contains($0.key) }
        if row.tolerance["*"] != nil { m.tolerance = [:] }
        m.tolerance.merge(row.tolerance) { $1 }
        return m
    }

    /// Tolerances per metric, a catch-all "*" expanded over the row's metrics.
    var expandedTolerance: [String: Tolerance] {
        var t = tolerance
        if let all = t.removeValue(forKey: "*") {
            for m in metrics ?? [] where t[m] == nil { t[m] = all }
        }
        return t
    }
}

/// Typed access to YAML nodes that records problems with their line instead of throwing.
struct NodeReader {
    var problems: [SuiteProblem] = []
    /// Reported with the validator's problems (a misspelt key should not hide other mistakes).
    var unknownKeys: [SuiteProblem] = []

    mutating func problem(_ node: Node?, _ location: String, _ message: String) {
        problems.append(SuiteProblem(line: node?.mark?.line, location: location, message: message))
    }

    mutating func checkKeys(_ m: Node.Mapping, allowed: [String], location: String) {
        for (k, _) in m {
            guard let key = k.string else {
                problem(k, location, "keys must be strings")
                continue
            }
            if !allowed.contains(key) {
                unknownKeys.append(SuiteProblem(line: k.mark?.line, location: location, message: Suggest.unknown(key, kind: .key, available: allowed)))
            }
        }
    }

    mutating func string(_ m: Node.Mapping, _ key: String, location: String, required: Bool = false) -> String? {
        guard let n = m[key] else {
            if required { problem(nil, location, "missing '\(key)'") }
            return nil
        }
        guard let s = n.scalar?.string, !s.isEmpty else {
            problem(n, "\(location).\(key)", "expected a string")
            return nil
        }
        return s
    }

    mutating func int(_ m: Node.Mapping, _ key: String, location: String, required: Bool = false) -> Int? {
        guard let n = m[key] else {
            if required { problem(nil, location, "missing '\(key)'") }
            return nil
        }
        guard let v = n.int else {
            problem(n, "\(location).\(key)", "expected an integer, got '\(n.string ?? "a collection")'")
            return nil
        }
        return v
    }

    mutating func stringList(_ m: Node.Mapping, _ key: String, location: String) -> [String]? {
        guard let n = m[key] else { return nil }
        if let s = n.scalar?.string { return [s] }
        guard let seq = n.sequence else {
            problem(n, "\(location).\(key)", "expected a string or a list of strings")
            return nil
        }
        return seq.compactMap { item in
            guard let s = item.scalar?.string else {
                problem(item, "\(location).\(key)", "expected a string")
                return nil
            }
            return s
        }
    }

    mutating func stringMap(_ m: Node.Mapping, _ key: String, location: String) -> [String: String] {
        guard let n = m[key] else { return [:] }
        guard let map = n.mapping else {
            problem(n, "\(location).\(key)", "expected a mapping")
            return [:]
        }
        var out: [String: String] = [:]
        for (k, v) in map {
            guard let ks = k.string, let vs = v.scalar?.string else {
                problem(v, "\(location).\(key)", "expected scalar keys and values")
                continue
            }
            out[ks] = vs
        }
        return out
    }

    mutating func weightsMode(_ m: Node.Mapping, location: String) -> WeightsMode? {
        guard let n = m["weights"] else { return nil }
        guard let s = n.string, let w = WeightsMode(rawValue: s) else {
            problem(n, "\(location).weights", "expected 'real' or 'seeded'")
            return nil
        }
        return w
    }

    mutating func tolerance(_ n: Node, location: String) -> Tolerance? {
        if let s = n.scalar?.string, let t = Tolerance(parsing: s) { return t }
        problem(n, location, "tolerance '\(n.string ?? "?")' is neither a number >= 0 (absolute) nor 'N%' (relative)")
        return nil
    }

    mutating func row(_ m: Node.Mapping, location: String) -> RawRow {
        var r = RawRow()
        r.id = string(m, "id", location: location)
        r.task = string(m, "task", location: location)
        r.model = string(m, "model", location: location)
        r.tokenizer = string(m, "tokenizer", location: location)
        r.dataset = string(m, "dataset", location: location)
        r.preprocessing = string(m, "preprocessing", location: location)
        r.reference = string(m, "reference", location: location)
        r.evaluationProtocol = string(m, "protocol", location: location)
        r.note = string(m, "note", location: location)
        r.checkpoints = stringList(m, "checkpoints", location: location)
        r.metrics = stringList(m, "metrics", location: location)
        r.resolution = int(m, "resolution", location: location)
        r.numSamples = int(m, "num_samples", location: location)
        if let n = m["seed"] {
            if let s = n.scalar?.string, let v = UInt64(s) { r.seed = v } else { problem(n, "\(location).seed", "expected an integer >= 0") }
        }
        r.protocols = stringMap(m, "protocols", location: location)
        r.options = stringMap(m, "options", location: location)
        r.weights = weightsMode(m, location: location)
        if let n = m["tolerance"] {
            if let map = n.mapping {
                for (k, v) in map {
                    guard let ks = k.string else { continue }
                    if let t = tolerance(v, location: "\(location).tolerance.\(ks)") { r.tolerance[ks] = t }
                }
            } else if let t = tolerance(n, location: "\(location).tolerance") {
                r.tolerance["*"] = t
            }
        }
        return r
    }
}
