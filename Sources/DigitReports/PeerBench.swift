import Foundation

/// The machine a `digit-bench bench peers` run was measured on, and the two limits every row is
/// compared with (both measured in the same run).
public struct PeerBenchMachine: Codable, Sendable, Equatable {
    public var cpu: String
    public var cores: Int
    public var memoryGiB: Double
    public var blas: String
    public var torch: String
    public var python: String
    public var threads: Int
    public var date: String
    /// 1/5/15-minute load averages at the start and at the end of the run.
    public var loadStart: String
    public var loadEnd: String
    /// Best 2048³ (or 1024³ with --quick) sgemm rate, GFLOP/s.
    public var sgemmGFLOPs: Double
    /// Stream copy bandwidth (read + write bytes), GB/s.
    public var memoryGBs: Double
    public var note: String

    public init(cpu: String, cores: Int, memoryGiB: Double, blas: String, torch: String, python: String, threads: Int,
                date: String, loadStart: String, loadEnd: String, sgemmGFLOPs: Double, memoryGBs: Double, note: String) {
        (self.cpu, self.cores, self.memoryGiB, self.blas, self.torch, self.python) = (cpu, cores, memoryGiB, blas, torch, python)
        (self.threads, self.date, self.loadStart, self.loadEnd) = (threads, date, loadStart, loadEnd)
        (self.sgemmGFLOPs, self.memoryGBs, self.note) = (sgemmGFLOPs, memoryGBs, note)
    }
}

/// One line of the side-by-side table: our time and the peer's on the same work, their ratio
/// against the target, and our time against the machine's roofline bound for that work.
public struct PeerBenchRow: Codable, Sendable, Equatable {
    /// Which limit bounds the work.
    public enum Bound: String, Codable, Sendable {
        /// FLOPs / sgemm rate.
        case sgemm
        /// Bytes / stream-copy bandwidth.
        case memory
        /// No simple bound (codecs, LAPACK, iterative solvers): only the peer ratio is stated.
        case none
    }

    public var id: String
    public var workload: String
    /// The unit of work counted, e.g. "img", "token", "iteration", "fit".
    public var unit: String
    public var units: Double
    public var ourSeconds: Double?
    public var peer: String
    public var peerVersion: String
    public var peerSeconds: Double?
    /// The speed-up over the peer that the issue asks for (1.5 = "≥ 1.5×", 1 = "faster").
    public var ratioTarget: Double
    public var bound: Bound
    /// The roofline time of `units` of work on this machine (FLOPs / sgemm or bytes / bandwidth).
    public var boundSeconds: Double?
    /// The fraction of the bound the issue asks for (0.6 on conv/transformer forwards), if any.
    public var boundTarget: Double?
    public var ourPeakRSSKB: Int?
    public var peerPeakRSSKB: Int?
    /// What was compared to prove both sides computed the same thing, and the outcome.
    public var check: String
    /// Set when the peer could not run (the row is still printed).
    public var unavailable: String?
    public var notes: String

    public init(id: String, workload: String, unit: String, units: Double, ourSeconds: Double?, peer: String,
                peerVersion: String = "", peerSeconds: Double? = nil, ratioTarget: Double, bound: Bound = .none,
                boundSeconds: Double? = nil, boundTarget: Double? = nil, ourPeakRSSKB: Int? = nil,
                peerPeakRSSKB: Int? = nil, check: String = "", unavailable: String? = nil, notes: String = "") {
        (self.id, self.workload, self.unit, self.units, self.ourSeconds) = (id, workload, unit, units, ourSeconds)
        (self.peer, self.peerVersion, self.peerSeconds, self.ratioTarget) = (peer, peerVersion, peerSeconds, ratioTarget)
        (self.bound, self.boundSeconds, self.boundTarget) = (bound, boundSeconds, boundTarget)
        (self.ourPeakRSSKB, self.peerPeakRSSKB, self.check, self.unavailable, self.notes) =
            (ourPeakRSSKB, peerPeakRSSKB, check, unavailable, notes)
    }

    /// Units per second of our side and of the peer.
    public var ourRate: Double? { ourSeconds.flatMap { $0 > 0 ? units / $0 : nil } }
    public var peerRate: Double? { peerSeconds.flatMap { $0 > 0 ? units / $0 : nil } }
    /// Speed-up over the peer on the same work: peer seconds / our seconds.
    public var ratio: Double? {
        guard let o = ourSeconds, let p = peerSeconds, o > 0 else { return nil }
        return p / o
    }
    public var ratioMet: Bool? { ratio.map { $0 >= ratioTarget } }
    /// Fraction of the roofline bound reached: bound seconds / our seconds (1 = at the limit).
    public var fractionOfBound: Double? {
        guard let b = boundSeconds, let o = ourSeconds, o > 0 else { return nil }
        return b / o
    }
    public var boundMet: Bool? {
        guard let t = boundTarget, let f = fractionOfBound else { return nil }
        return f >= t
    }
    /// Every stated target met (nil when nothing could be measured against a target).
    public var met: Bool? {
        let all = [ratioMet, boundMet].compactMap { $0 }
        return all.isEmpty ? nil : all.allSatisfy { $0 }
    }
}

/// Renders a peers run as Markdown (machine description + table + notes) and CSV, and writes both
/// atomically.
public enum PeerBenchReport {
    public static let unavailableHint = "peer unavailable: install with tools/bench-peers.sh"

    public static func rate(_ r: Double?, unit: String) -> String {
        guard let r else { return "—" }
        let digits = r >= 100 ? 0 : r >= 10 ? 1 : r >= 1 ? 2 : 3
        return String(format: "%.\(digits)f %@/s", r, unit)
    }

    static func x(_ v: Double?) -> String { v.map { String(format: "%.2f×", $0) } ?? "—" }
    static func pct(_ v: Double?) -> String { v.map { String(format: "%.0f%%", 100 * $0) } ?? "—" }
    static func mb(_ kb: Int?) -> String { kb.map { String(format: "%.0f", Double($0) / 1024) } ?? "—" }
    static func mark(_ b: Bool?) -> String { b.map { $0 ? "yes" : "**no**" } ?? "—" }

    /// "≥ 1.5×" / "faster".
    public static func ratioTargetText(_ t: Double) -> String { t == 1 ? "> 1× (faster)" : String(format: "≥ %g×", t) }

    public static func boundText(_ row: PeerBenchRow, machine: PeerBenchMachine) -> String {
        switch row.bound {
        case .sgemm: String(format: "sgemm %.0f GFLOP/s", machine.sgemmGFLOPs)
        case .memory: String(format: "memory %.1f GB/s", machine.memoryGBs)
        case .none: "—"
        }
    }

    public static func markdown(_ rows: [PeerBenchRow], machine m: PeerBenchMachine) -> String {
        var s = "# digit-bench vs the reference tools (`digit-bench bench peers`)\n\n"
        if !m.note.isEmpty { s += "> \(m.note)\n\n" }
        s += "| machine | |\n|---|---|\n"
        s += "| CPU | \(m.cpu) |\n| cores | \(m.cores) (\(m.threads) threads used by both sides) |\n"
        s += String(format: "| memory | %.1f GiB |\n", m.memoryGiB)
        s += "| BLAS | \(m.blas) |\n| torch | \(m.torch) |\n| python | \(m.python) |\n| date | \(m.date) |\n"
        s += "| load average (1/5/15 min) | start \(m.loadStart); end \(m.loadEnd) |\n"
        s += String(format: "| sgemm | %.1f GFLOP/s (measured in this run) |\n", m.sgemmGFLOPs)
        s += String(format: "| memory bandwidth | %.1f GB/s (stream copy, read + write, in this run) |\n\n", m.memoryGBs)
        s += "| workload | digit-bench | peer | peer rate | speed-up | target | met | limit | % of bound | bound target | RSS ours / peer (MB) | check |\n"
        s += "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        for r in rows {
            let peer = r.unavailable != nil ? "\(r.peer): \(unavailableHint)" : "\(r.peer) \(r.peerVersion)"
            let cells = [
                r.workload, rate(r.ourRate, unit: r.unit), peer, rate(r.peerRate, unit: r.unit), x(r.ratio),
                ratioTargetText(r.ratioTarget), mark(r.met), boundText(r, machine: m), pct(r.fractionOfBound),
                r.boundTarget.map { "≥ " + pct($0) } ?? "—", "\(mb(r.ourPeakRSSKB)) / \(mb(r.peerPeakRSSKB))", r.check,
            ]
            s += "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |\n"
        }
        let notes = rows.filter { !$0.notes.isEmpty }
        if !notes.isEmpty {
            s += "\nNotes\n\n"
            for r in notes { s += "- **\(r.workload)**: \(r.notes)\n" }
        }
        return s
    }

    public static let csvHeader = [
        "id", "workload", "unit", "units", "ours_seconds", "ours_rate", "peer", "peer_version", "peer_seconds", "peer_rate",
        "speedup", "speedup_target", "bound", "bound_seconds", "fraction_of_bound", "bound_target", "met",
        "ours_peak_rss_kb", "peer_peak_rss_kb", "check", "unavailable",
        "cpu", "cores", "threads", "memory_gib", "blas", "torch", "sgemm_gflops", "memory_gbs", "date", "load_start", "load_end",
    ]

    public static func csv(_ rows: [PeerBenchRow], machine m: PeerBenchMachine) -> String {
        func num(_ v: Double?) -> String { v.map { String(format: "%.6g", $0) } ?? "" }
        var records = [csvHeader]
        for r in rows {
            records.append([
                r.id, r.workload, r.unit, num(r.units), num(r.ourSeconds), num(r.ourRate), r.peer, r.peerVersion,
                num(r.peerSeconds), num(r.peerRate), num(r.ratio), num(r.ratioTarget), r.bound.rawValue, num(r.boundSeconds),
                num(r.fractionOfBound), num(r.boundTarget), r.met.map { $0 ? "yes" : "no" } ?? "",
                r.ourPeakRSSKB.map(String.init) ?? "", r.peerPeakRSSKB.map(String.init) ?? "", r.check, r.unavailable ?? "",
                m.cpu, "\(m.cores)", "\(m.threads)", String(format: "%.1f", m.memoryGiB), m.blas, m.torch,
                num(m.sgemmGFLOPs), num(m.memoryGBs), m.date, m.loadStart, m.loadEnd,
            ])
        }
        return CSV.format(records)
    }

    /// Writes `<dir>/<name>.md` and `<dir>/<name>.csv` atomically; returns their URLs.
    @discardableResult
    public static func write(_ rows: [PeerBenchRow], machine: PeerBenchMachine, to dir: URL, name: String = "peers") throws
        -> (markdown: URL, csv: URL)
    {
        let md = dir.appendingPathComponent("\(name).md"), c = dir.appendingPathComponent("\(name).csv")
        try AtomicFile.write(markdown(rows, machine: machine), to: md)
        try AtomicFile.write(csv(rows, machine: machine), to: c)
        return (md, c)
    }
}
