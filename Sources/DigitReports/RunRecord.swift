import Foundation

/// Where the numbers of a run came from: the published checkpoints or deterministic seeded
/// weights (`--weights seeded`, for tests and dry runs; never comparable to published values).
public enum WeightsMode: String, Codable, Sendable {
    case seeded
    case real
}

/// The machine a run was made on (enough to judge timings and to reproduce the environment).
public struct MachineInfo: Codable, Equatable, Sendable {
    public var hostname: String
    public var os: String
    public var cpu: String
    public var cores: Int
    public var memoryGiB: Double
    public var blas: String?

    public init(hostname: String, os: String, cpu: String, cores: Int, memoryGiB: Double, blas: String? = nil) {
        self.hostname = hostname
        self.os = os
        self.cpu = cpu
        self.cores = cores
        self.memoryGiB = memoryGiB
        self.blas = blas
    }

    /// The machine this process runs on.
    public static func current(blas: String? = nil) -> MachineInfo {
        let p = ProcessInfo.processInfo
        var cpu = "unknown"
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
            let colon = line.firstIndex(of: ":")
        {
            cpu = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return MachineInfo(
            hostname: p.hostName, os: p.operatingSystemVersionString, cpu: cpu, cores: p.activeProcessorCount,
            memoryGiB: (Double(p.physicalMemory) / 1_073_741_824 * 10).rounded() / 10, blas: blas)
    }
}

/// A checkpoint file a number was computed with.
public struct CheckpointUse: Codable, Equatable, Sendable {
    /// Weights-registry id (`llamagen-gpt-b-256`) or the file name for a user-given file.
    public var id: String
    public var file: String
    /// sha256 of the file as read (nil for seeded weights).
    public var sha256: String?

    public init(id: String, file: String, sha256: String?) {
        self.id = id
        self.file = file
        self.sha256 = sha256
    }
}

/// One number of a row, with the protocol that produced it.
public struct MetricResult: Codable, Equatable, Sendable {
    public var metric: String
    /// nil when the row was not run or failed.
    public var value: Double?
    public var evaluationProtocol: String?

    public init(metric: String, value: Double?, evaluationProtocol: String? = nil) {
        self.metric = metric
        self.value = value
        self.evaluationProtocol = evaluationProtocol
    }

    enum CodingKeys: String, CodingKey {
        case metric, value
        case evaluationProtocol = "protocol"
    }
}

/// What happened to a row.
public enum RowStatus: String, Codable, Sendable {
    case ok
    /// Weights or data were missing: the row was not attempted. `missing` names the file.
    case notRun = "not-run"
    case failed
}

/// The result of one suite row.
public struct RowResult: Codable, Equatable, Sendable {
    public var id: String
    public var task: String
    /// Registry id of the model or tokenizer.
    public var model: String
    public var status: RowStatus
    /// For `not-run`: the file that was missing (e.g. `c2i_B_256.pt`).
    public var missing: String?
    /// For `failed` (and optionally `not-run`): a one-line reason.
    public var message: String?
    public var weights: WeightsMode
    public var evaluationProtocol: String?
    public var dataset: String?
    public var seed: UInt64?
    public var numSamples: Int?
    /// Reference-side sample count where one applies (e.g. FID reference images).
    public var numReference: Int?
    public var checkpoints: [CheckpointUse]
    public var wallTimeSeconds: Double?
    public var metrics: [MetricResult]
    /// Per-metric tolerances the suite gives for this row.
    public var tolerance: [String: Tolerance]?
    /// Relative paths (from the report directory) of images to link: sample or reconstruction grids.
    public var images: [String]?

    public init(
        id: String, task: String, model: String, status: RowStatus, missing: String? = nil, message: String? = nil,
        weights: WeightsMode, evaluationProtocol: String? = nil, dataset: String? = nil, seed: UInt64? = nil,
        numSamples: Int? = nil, numReference: Int? = nil, checkpoints: [CheckpointUse] = [],
        wallTimeSeconds: Double? = nil, metrics: [MetricResult], tolerance: [String: Tolerance]? = nil,
        images: [String]? = nil
    ) {
        self.id = id
        self.task = task
        self.model = model
        self.status = status
        self.missing = missing
        self.message = message
        self.weights = weights
        self.evaluationProtocol = evaluationProtocol
        self.dataset = dataset
        self.seed = seed
        self.numSamples = numSamples
        self.numReference = numReference
        self.checkpoints = checkpoints
        self.wallTimeSeconds = wallTimeSeconds
        self.metrics = metrics
        self.tolerance = tolerance
        self.images = images
    }

    enum CodingKeys: String, CodingKey {
        case id, task, model, status, missing, message, weights
        case evaluationProtocol = "protocol"
        case dataset, seed
        case numSamples = "num_samples"
        case numReference = "num_reference"
        case checkpoints
        case wallTimeSeconds = "wall_time_s"
        case metrics, tolerance, images
    }

    public func value(_ metric: String) -> Double? { metrics.first { $0.metric == metric }?.value }
    public func metricProtocol(_ metric: String) -> String? {
        metrics.first { $0.metric == metric }?.evaluationProtocol ?? evaluationProtocol
    }
}

/// Everything needed to judge and reproduce a suite run: written as `<timestamp>.json` beside
/// the Markdown and CSV report.
public struct RunRecord: Codable, Equatable, Sendable {
    public static let formatVersion = 1

    public var format: Int
    public var suite: String
    public var suiteVersion: Int
    public var suiteFile: String?
    public var baseline: String?
    public var digitBenchVersion: String
    public var gitCommit: String?
    public var toolchain: String
    /// ISO 8601, UTC.
    public var date: String
    public var machine: MachineInfo
    public var command: String?
    public var rows: [RowResult]

    public init(
        suite: String, suiteVersion: Int, suiteFile: String? = nil, baseline: String?, digitBenchVersion: String,
        gitCommit: String?, toolchain: String, date: String, machine: MachineInfo, command: String? = nil,
        rows: [RowResult]
    ) {
        self.format = Self.formatVersion
        self.suite = suite
        self.suiteVersion = suiteVersion
        self.suiteFile = suiteFile
        self.baseline = baseline
        self.digitBenchVersion = digitBenchVersion
        self.gitCommit = gitCommit
        self.toolchain = toolchain
        self.date = date
        self.machine = machine
        self.command = command
        self.rows = rows
    }

    enum CodingKeys: String, CodingKey {
        case format, suite
        case suiteVersion = "suite_version"
        case suiteFile = "suite_file"
        case baseline
        case digitBenchVersion = "digit_bench_version"
        case gitCommit = "git_commit"
        case toolchain, date, machine, command, rows
    }

    /// True when any row used seeded weights: every output then says so.
    public var usesSeededWeights: Bool { rows.contains { $0.weights == .seeded } }

    public func row(_ id: String) -> RowResult? { rows.first { $0.id == id } }

    // MARK: JSON

    public func jsonData() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(self)
    }

    public static func decode(_ data: Data, file: String = "<json>") throws -> RunRecord {
        do {
            return try JSONDecoder().decode(RunRecord.self, from: data)
        } catch let e as DecodingError {
            throw ReportError.badRunRecord(file: file, reason: Self.describe(e))
        }
    }

    public static func load(_ url: URL) throws -> RunRecord {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ReportError.unreadable(file: url.path, reason: error.localizedDescription)
        }
        return try decode(data, file: url.path)
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ p: [CodingKey]) -> String { p.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
        switch e {
        case let .keyNotFound(k, ctx): return "missing key '\(path(ctx.codingPath + [k]))'"
        case let .typeMismatch(_, ctx), let .valueNotFound(_, ctx), let .dataCorrupted(ctx):
            return "at '\(path(ctx.codingPath))': \(ctx.debugDescription)"
        @unknown default: return "\(e)"
        }
    }

    /// The current UTC time as ISO 8601 (`2025-01-31T12:00:00Z`).
    public static func now() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date())
    }
}
