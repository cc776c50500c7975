import DigitReports
import Foundation
import Testing

@Suite struct PeerBenchTests {
    static let machine = PeerBenchMachine(
        cpu: "Test CPU", cores: 2, memoryGiB: 24, blas: "OpenBLAS test", torch: "1.13.0a0", python: "3.11.2", threads: 2,
        date: "2025-01-01T00:00:00Z", loadStart: "0.1 0.2 0.3", loadEnd: "0.4 0.5 0.6", sgemmGFLOPs: 100, memoryGBs: 10,
        note: "under load")

    /// 8 images in 2 s (4 img/s) against a peer taking 5 s: 2.5× (target 1.5×); the bound of 1.5 s is 75 % of 2 s.
    static let inception = PeerBenchRow(
        id: "inception-pytorch-fid", workload: "Inception", unit: "img", units: 8, ourSeconds: 2, peer: "pytorch-fid",
        peerVersion: "0.3.0", peerSeconds: 5, ratioTarget: 1.5, bound: .sgemm, boundSeconds: 1.5, boundTarget: 0.6,
        ourPeakRSSKB: 204_800, peerPeakRSSKB: 1_048_576, check: "pool3 agree")

    @Test func ratioAndBoundMath() {
        let r = Self.inception
        #expect(r.ourRate == 4)
        #expect(r.peerRate == 1.6)
        #expect(r.ratio == 2.5)
        #expect(r.ratioMet == true)
        #expect(r.fractionOfBound == 0.75)
        #expect(r.boundMet == true)
        #expect(r.met == true)

        var slow = r
        slow.ourSeconds = 4  // 1.25× < 1.5×, and 37.5 % of the bound < 60 %
        #expect(slow.ratio == 1.25)
        #expect(slow.met == false)

        var fasterOnly = r
        fasterOnly.ratioTarget = 1
        fasterOnly.boundTarget = nil
        fasterOnly.ourSeconds = 4.9  // "faster than faiss": any ratio ≥ 1 meets it
        #expect(fasterOnly.met == true)
    }

    @Test func unavailablePeerHasNoRatio() {
        let r = PeerBenchRow(id: "probe", workload: "probe", unit: "fit", units: 1, ourSeconds: 3, peer: "scikit-learn",
                             ratioTarget: 1, unavailable: "missing python modules: sklearn")
        #expect(r.ratio == nil)
        #expect(r.met == nil)
        let md = PeerBenchReport.markdown([r], machine: Self.machine)
        #expect(md.contains("scikit-learn: peer unavailable: install with tools/bench-peers.sh"))
    }

    @Test func markdownAndCSVRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("peerbench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (md, csv) = try PeerBenchReport.write([Self.inception], machine: Self.machine, to: dir)
        let text = try String(contentsOf: md, encoding: .utf8)
        #expect(text.contains("> under load"))
        #expect(text.contains("| Inception | 4.00 img/s | pytorch-fid 0.3.0 | 1.60 img/s | 2.50× | ≥ 1.5× | yes | sgemm 100 GFLOP/s | 75% | ≥ 60% | 200 / 1024 | pool3 agree |"))
        let records = try CSV.read(contentsOf: csv)
        #expect(records.count == 2)
        let row = Dictionary(uniqueKeysWithValues: zip(records[0].fields, records[1].fields))
        #expect(records[0].fields == PeerBenchReport.csvHeader)
        #expect(row["speedup"] == "2.5")
        #expect(row["fraction_of_bound"] == "0.75")
        #expect(row["met"] == "yes")
        #expect(row["cpu"] == "Test CPU")
        #expect(row["torch"] == "1.13.0a0")
    }
}
