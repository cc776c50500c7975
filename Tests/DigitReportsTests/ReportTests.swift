import DigitReports
import Foundation
import Testing
import _DigitTestSupport

/// Compares `text` with `Tests/Snapshots/DigitReports/<name>`. With RECORD_SNAPSHOTS=1 the
/// snapshot is (re)written and the test fails, so a recording run never passes by accident.
func assertSnapshot(_ text: String, named name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let url = Fixtures.repoRoot.appendingPathComponent("Tests/Snapshots/DigitReports").appendingPathComponent(name)
    if ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1" {
        try AtomicFile.write(text, to: url)
        Issue.record("recorded snapshot \(url.path); re-run without RECORD_SNAPSHOTS=1", sourceLocation: sourceLocation)
        return
    }
    guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
        Issue.record("snapshot \(url.path) missing: run with RECORD_SNAPSHOTS=1 to record it", sourceLocation: sourceLocation)
        return
    }
    if expected != text {
        let a = expected.components(separatedBy: "\n"), b = text.components(separatedBy: "\n")
        let i = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
        Issue.record(
            """
            \(name) differs from its snapshot at line \(i + 1):
              snapshot: \(i < a.count ? a[i] : "<end>")
              actual:   \(i < b.count ? b[i] : "<end>")
            (RECORD_SNAPSHOTS=1 re-records after a deliberate change)
            """, sourceLocation: sourceLocation)
    }
}

/// A fixed run record: one computed row within tolerance on FID and outside on IS, one row
/// whose weights are missing.
func fixedRecord() -> RunRecord {
    let machine = MachineInfo(hostname: "ci", os: "Linux 6.1", cpu: "Test CPU @ 2.0GHz", cores: 2, memoryGiB: 24, blas: "OpenBLAS 0.3.21")
    return RunRecord(
        suite: "digit-uncond-in256", suiteVersion: 1, suiteFile: "suites/digit_uncond_in256.yaml",
        baseline: "baselines/digit_uncond_in256.csv", digitBenchVersion: "0.1.0", gitCommit: "0123456789ab",
        toolchain: "Swift 6.3.1", date: "2025-01-31T12:00:00Z", machine: machine,
        command: "digit-bench suite run suites/digit_uncond_in256.yaml",
        rows: [
            RowResult(
                id: "uncond-digit-vqgan-219m", task: "generate", model: "digit-base", status: .ok, weights: .real,
                evaluationProtocol: "torch-fidelity", dataset: "imagenet-val", seed: 0, numSamples: 50000,
                numReference: 50000,
                checkpoints: [
                    CheckpointUse(id: "digit-base-stage1", file: "digit_base_8k_stage1.pt", sha256: String(repeating: "ab", count: 32)),
                    CheckpointUse(id: "digit-base-stage2", file: "digit_base_8k_stage2.pt", sha256: String(repeating: "cd", count: 32)),
                ],
                wallTimeSeconds: 86400.5,
                metrics: [MetricResult(metric: "fid", value: 9.2341), MetricResult(metric: "is", value: 71.204)],
                tolerance: ["fid": .absolute(0.3), "is": .relative(0.02)], images: ["uncond-digit-vqgan-219m-grid.png"]),
            RowResult(
                id: "uncond-digit-vqgan-732m", task: "generate", model: "digit-large", status: .notRun,
                missing: "digit_large_16k_stage1.pt", weights: .real, evaluationProtocol: "torch-fidelity",
                dataset: "imagenet-val", seed: 0, numSamples: 50000,
                metrics: [MetricResult(metric: "fid", value: nil), MetricResult(metric: "is", value: nil)],
                tolerance: ["fid": .absolute(0.3), "is": .relative(0.02)]),
        ])
}

func seededRecord() -> RunRecord {
    var r = fixedRecord()
    r.suite = "smoke"
    r.suiteFile = "suites/smoke.yaml"
    r.baseline = nil
    r.rows = [
        RowResult(
            id: "smoke-recon-lfq-256", task: "reconstruct", model: "lfq-256", status: .ok, weights: .seeded,
            evaluationProtocol: "pytorch-fid", dataset: "bundled", seed: 0, numSamples: 8,
            metrics: [
                MetricResult(metric: "rfid", value: 312.456789), MetricResult(metric: "psnr", value: 8.123, evaluationProtocol: "openmagvit2-2024"),
                MetricResult(metric: "usage_pct", value: 0.0123, evaluationProtocol: "codebook"),
            ]),
        RowResult(
            id: "smoke-generate-llamagen-gpt-b", task: "generate", model: "llamagen-gpt-b", status: .failed,
            message: "out of memory", weights: .seeded, evaluationProtocol: "adm", seed: 0, numSamples: 4,
            metrics: [MetricResult(metric: "fid", value: nil)]),
    ]
    return r
}

@Suite struct ReportTests {
    func report() throws -> Report { Report(record: fixedRecord(), baseline: try baseline("digit_uncond_in256")) }

    @Test func markdownSnapshot() throws {
        try assertSnapshot(MarkdownWriter.render(report(), options: .init(plotFile: "fixed.svg")), named: "digit_uncond_in256.md")
    }

    @Test func csvSnapshot() throws {
        try assertSnapshot(ReportCSVWriter.render(report()), named: "digit_uncond_in256.csv")
    }

    @Test func seededMarkdownAndCSVSnapshots() throws {
        let r = Report(record: seededRecord(), baseline: nil)
        try assertSnapshot(MarkdownWriter.render(r), named: "smoke_seeded.md")
        try assertSnapshot(ReportCSVWriter.render(r), named: "smoke_seeded.csv")
    }

    @Test func svgSnapshot() throws {
        let r = try report()
        let svg = try #require(SVGPlot.render(SVGPlot.points(r), title: "digit-uncond-in256: FID against parameters"))
        try assertSnapshot(svg, named: "digit_uncond_in256.svg")
    }

    @Test func linesFollowTheBaselineOrderAndJudgeTolerance() throws {
        let r = try report()
        // 10 published rows x (fid, is) = 20 lines; every published row appears, in order.
        #expect(r.lines.count == 20)
        #expect(r.lines.map(\.rowID).first == "uncond-biggan")
        let fid = try #require(r.lines.first { $0.rowID == "uncond-digit-vqgan-219m" && $0.metric == .fid })
        #expect(fid.oursText == "9.23")  // published "9.13" has 2 decimals
        #expect(fid.deltaText == "+0.10")
        #expect(fid.withinTolerance == true)
        let isc = try #require(r.lines.first { $0.rowID == "uncond-digit-vqgan-219m" && $0.metric == .inceptionScore })
        #expect(isc.withinTolerance == false)  // 71.204 vs 73.85: 3.6% off, tolerance 2%
        let large = try #require(r.lines.first { $0.rowID == "uncond-digit-vqgan-732m" })
        #expect(large.oursText == "not run: digit_large_16k_stage1.pt missing (see `digit-bench weights`)")
        #expect(r.outOfTolerance.count == 1)
        #expect(r.notRun.count == 2)
    }

    @Test func runRecordJSONRoundTrips() throws {
        let rec = fixedRecord()
        let data = try rec.jsonData()
        #expect(try RunRecord.decode(data) == rec)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"protocol\" : \"torch-fidelity\""))
        #expect(text.contains("\"weights\" : \"real\""))
        #expect(text.contains("\"relative\"") == false)  // tolerances are written as 0.3 / "2%"
        #expect(throws: ReportError.self) { try RunRecord.decode(Data("{\"suite\": 1}".utf8), file: "x.json") }
    }

    @Test func writerWritesAllFilesAtomically() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("digit-reports-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let w = try ReportWriter.write(report(), to: dir, stem: "20250131T120000Z")
        #expect(w.svg != nil)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(names == ["20250131T120000Z.csv", "20250131T120000Z.json", "20250131T120000Z.md", "20250131T120000Z.svg"])
        let md = try String(contentsOf: w.markdown, encoding: .utf8)
        #expect(md.contains("![FID against parameters](20250131T120000Z.svg)"))
        #expect(try RunRecord.load(w.json) == fixedRecord())
        // Overwriting replaces the file whole.
        try AtomicFile.write("x", to: w.csv)
        #expect(try String(contentsOf: w.csv, encoding: .utf8) == "x")
    }

    @Test func atomicWriteFailsCleanlyOnABadDirectory() {
        #expect(throws: ReportError.self) { try AtomicFile.write("x", to: URL(fileURLWithPath: "/proc/digit-bench-denied/x.md")) }
    }
}

@Suite struct ReportDiffTests {
    func write(_ text: String, _ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("digit-diff-\(ProcessInfo.processInfo.processIdentifier)")
        let u = dir.appendingPathComponent(name)
        try AtomicFile.write(text, to: u)
        return u
    }

    func reportCSV(_ record: RunRecord) throws -> String {
        ReportCSVWriter.render(Report(record: record, baseline: try baseline("digit_uncond_in256")))
    }

    @Test func identicalReportsDoNotDrift() throws {
        let a = try ComparableValues.load(write(reportCSV(fixedRecord()), "a.csv"))
        let d = ReportDiff(a, a)
        #expect(d.driftCount == 0)
        #expect(d.comparedCount == 2)
        #expect(!d.failed)
    }

    @Test func anyNumericChangeIsDriftBetweenReports() throws {
        var rec = fixedRecord()
        rec.rows[0].metrics[0].value = 9.2342  // prints the same with 2 decimals; ours_exact differs
        let a = try ComparableValues.load(write(reportCSV(rec), "a2.csv"))
        let b = try ComparableValues.load(write(reportCSV(fixedRecord()), "b2.csv"))
        let d = ReportDiff(a, b)
        #expect(d.driftCount == 1)
        #expect(d.failed)
        #expect(!ReportDiff(a, b, tolerance: .absolute(0.001)).failed)
        #expect(d.render().contains("✗ uncond-digit-vqgan-219m fid"))
    }

    @Test func aNumberThatVanishesIsDrift() throws {
        var rec = fixedRecord()
        rec.rows[0].status = .notRun
        rec.rows[0].missing = "digit_base_8k_stage1.pt"
        rec.rows[0].metrics = rec.rows[0].metrics.map { MetricResult(metric: $0.metric, value: nil) }
        let a = try ComparableValues.load(write(reportCSV(rec), "a3.csv"))
        let b = try ComparableValues.load(write(reportCSV(fixedRecord()), "b3.csv"))
        #expect(ReportDiff(a, b).driftCount == 2)
    }

    @Test func reportAgainstBaselineUsesTheRowTolerances() throws {
        let a = try ComparableValues.load(write(reportCSV(fixedRecord()), "a4.csv"))
        let b = try ComparableValues.load(baselinesDir.appendingPathComponent("digit_uncond_in256.csv"))
        let d = ReportDiff(a, b)
        // fid 9.2341 vs 9.13 within 0.3; is 71.204 vs 73.85 outside 2%; the 732m row was not run
        // (reported, not drift); published-only rows are left out.
        #expect(d.comparedCount == 2)
        #expect(d.driftCount == 1)
        #expect(d.lines.count == 4)
        #expect(!ReportDiff(a, b, tolerance: .relative(0.05)).failed)
    }

    @Test func nothingToCompareFails() throws {
        let a = try ComparableValues.load(baselinesDir.appendingPathComponent("digit_uncond_in256.csv"))
        let b = try ComparableValues.load(baselinesDir.appendingPathComponent("digit_cond_in256.csv"))
        #expect(ReportDiff(a, b).failed)
    }

    @Test func otherCSVsAreRefused() throws {
        let u = try write("x,y\n1,2\n", "other.csv")
        #expect(throws: ReportError.self) { try ComparableValues.load(u) }
    }
}
