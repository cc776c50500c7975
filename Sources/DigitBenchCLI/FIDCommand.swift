import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct FID: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fid",
            abstract: "Fréchet Inception Distance between two inputs (image folders, ADM .npz batches or statistics .npz).",
            discussion: """
                Each input is an image folder / file list, an ADM .npz of images (arr_0 uint8 NHWC), or \
                a statistics .npz (pytorch-fid `mu`/`sigma`, an ADM reference batch's `mu`/`sigma`, or a \
                `digit-bench stats` file). ADM reference batches with both are used through their \
                statistics. The mean term follows the protocol: float32 means for adm/torch-fidelity, \
                float64 for pytorch-fid/clean-fid. The trace term is float64 LAPACK: Cholesky congruence \
                (dpotrf + dsygst + dsyevd values only), or the symmetric-eigen form when the first \
                covariance is singular (notes say so, e.g. for fewer images than 2048).
                """)

        @Argument(help: "First input.") var a: String
        @Argument(help: "Second input.") var b: String
        @OptionGroup var options: EvalOptions

        func run() throws {
            var resolver = InputResolver(options: options)
            let sa = try resolver.statistics(a, label: "A")
            let sb = try resolver.statistics(b, label: "B")
            let p = try resolver.commonProtocol([sa, sb])
            let fd = try FrechetDistance.compute(sa.stats, sb.stats, protocol: p.frechetProtocol)
            let weights = resolver.weightsSummary([sa, sb])
            var rows: [(String, String)] = [
                ("FID", String(format: "%.6f", fd.value)),
                ("A", sa.summary), ("B", sb.summary),
                ("protocol", p.rawValue), ("weights", weights),
                ("terms", String(format: "|mu1-mu2|^2 %.6f, tr1 %.6f, tr2 %.6f, tr sqrt %.6f", fd.meanTerm, fd.trace1, fd.trace2, fd.traceSqrtProduct)),
            ]
            for n in fd.notes + resolver.notes { rows.append(("note", n)) }
            let json: [String: Any] = [
                "fid": fd.value, "protocol": p.rawValue, "weights": weights, "seeded": resolver.anySeeded([sa, sb]),
                "a": sa.json, "b": sb.json, "notes": fd.notes + resolver.notes,
                "terms": ["mean": fd.meanTerm, "trace1": fd.trace1, "trace2": fd.trace2, "trace_sqrt_product": fd.traceSqrtProduct],
            ]
            try emitResult(rows: rows, json: json, asJSON: options.json)
        }
    }
}

/// Turns command-line inputs into statistics or features, loading the network only when an
/// image input needs it, and tracks which protocol and weights every side used.
struct InputResolver {
    let options: EvalOptions
    var network: InceptionV3?
    var notes: [String] = []

    init(options: EvalOptions) { self.options = options }

    struct Resolved {
        var stats: GaussianStatistics
        var protocolName: String?
        /// true/false when known; nil for statistics files from other tools.
        var seeded: Bool?
        var weights: String
        var source: String
        var count: Int?

        var summary: String {
            "\(source) (\(count.map { "\($0) images, " } ?? "")protocol \(protocolName ?? "not recorded"))"
        }
        var json: [String: Any] {
            ["source": source, "images": count as Any, "protocol": protocolName as Any, "weights": weights, "seeded": seeded as Any]
        }
    }

    mutating func net() throws -> InceptionV3 {
        if let network { return network }
        let n = try options.loadNetwork()
        network = n
        return n
    }

    /// True when `path` names a statistics file (an `.npz` with `mu` and `sigma`).
    static func isStatisticsFile(_ path: String) throws -> Bool {
        guard path.lowercased().hasSuffix(".npz") else { return false }
        let recs = try StatsFile.records(URL(fileURLWithPath: path))
        if recs["mu"] != nil && recs["sigma"] != nil { return true }
        if recs["arr_0"] != nil { return false }
        let keys = recs.keys.sorted().joined(separator: ", ")
        throw ValidationError("\(path): a .npz input needs `mu` and `sigma` (statistics) or `arr_0` (uint8 (N, H, W, 3) images); it has: \(keys.isEmpty ? "no arrays" : keys)")
    }

    mutating func statistics(_ path: String, label: String) throws -> Resolved {
        if try Self.isStatisticsFile(path) {
            let c = try StatsFile.read(URL(fileURLWithPath: path))
            if let m = c.meta {
                if m.seeded { note("\(path) was made with SEEDED Inception weights") }
                return Resolved(stats: c.stats, protocolName: m.protocolName, seeded: m.seeded, weights: m.seeded ? "seeded" : "real",
                                source: path, count: c.stats.count ?? c.accumulator?.count)
            }
            return Resolved(stats: c.stats, protocolName: nil, seeded: nil, weights: "not recorded (external statistics file)", source: path, count: nil)
        }
        let network = try net()
        let p = try options.resolvedProtocol()
        var acc = GaussianAccumulator(dimension: InceptionFeature.pool3.dimension)
        let run = try options.extract(path, net: network, protocol: p, features: [.pool3], label: label) { acc.add($0[.pool3]!) }
        var stats = try acc.statistics()
        if p.frechetProtocol.float32Means { stats.mu = acc.float32Mean.map(Double.init) }
        if !run.skipped.isEmpty { notes.append("\(path): skipped \(run.skipped.count) unreadable images: \(run.skipped.map(\.id).joined(separator: ", "))") }
        return Resolved(stats: stats, protocolName: p.rawValue, seeded: network.isSeeded, weights: network.isSeeded ? "seeded" : "real",
                        source: path, count: run.used)
    }

    /// The protocol both sides share: `--protocol`, else the one recorded; differing records are an error.
    mutating func commonProtocol(_ sides: [Resolved]) throws -> InceptionProtocol {
        let recorded = Set(sides.compactMap(\.protocolName))
        if recorded.count > 1 {
            throw ValidationError("the inputs were made with different protocols (\(recorded.sorted().joined(separator: " vs "))); FID between them is meaningless")
        }
        let r = try recorded.first.map { try InceptionProtocol(parsing: $0) }
        if let given = options.inputProtocol, let r, given != r.rawValue {
            throw ValidationError("--protocol \(given) but the statistics were made with \(r.rawValue)")
        }
        if sides.contains(where: { $0.protocolName == nil }) {
            notes.append("a statistics file does not record its protocol; the mean term uses \(try options.resolvedProtocol(recorded: r).rawValue)")
        }
        return try options.resolvedProtocol(recorded: r)
    }

    func anySeeded(_ sides: [Resolved]) -> Bool { sides.contains { $0.seeded == true } }

    func weightsSummary(_ sides: [Resolved]) -> String {
        if anySeeded(sides) { return "SEEDED Inception weights (test values, NOT a real FID)" }
        if let network { return EvalOptions.describeWeights(network) }
        return Set(sides.map(\.weights)).sorted().joined(separator: " / ")
    }

    /// Features of an image input; statistics files are refused (they hold no per-image features).
    mutating func features(_ path: String, features: [InceptionFeature], label: String) throws -> ([InceptionFeature: Tensor], ExtractionRun) {
        if try Self.isStatisticsFile(path) {
            throw ValidationError("\(path) holds only statistics (mu, sigma); this metric needs per-image features: pass the images (a folder or an .npz with arr_0)")
        }
        let network = try net()
        return try options.extractAll(path, net: network, protocol: try options.resolvedProtocol(), features: features, label: label)
    }
}
