import DigitReports
import Foundation
import Testing
import _DigitTestSupport

let baselinesDir = Fixtures.repoRoot.appendingPathComponent("baselines")

func baseline(_ name: String) throws -> BaselineTable {
    try BaselineTable.load(baselinesDir.appendingPathComponent(name + ".csv"))
}

@Suite struct BaselineTests {
    /// Every table, with its row count as published.
    static let expectedRows: [String: Int] = [
        "digit_linear_probe": 9, "digit_uncond_in256": 10, "digit_cond_in256": 20,
        "openmagvit2_recon_in256": 15, "openmagvit2_vs_magvit2_in128": 2, "openmagvit2_tokenizers": 5,
        "openmagvit2_ar_in256": 3, "llamagen_tokenizers": 4, "llamagen_c2i_in256": 7,
    ]

    @Test func everyBaselineParses() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: baselinesDir.path).filter { $0.hasSuffix(".csv") }
        #expect(Set(files.map { String($0.dropLast(4)) }) == Set(Self.expectedRows.keys))
        for (name, count) in Self.expectedRows {
            let t = try baseline(name)
            #expect(t.rows.count == count, "\(name)")
            #expect(!t.metrics.isEmpty, "\(name) has no metric column")
            for r in t.rows {
                #expect(r.source != nil, "\(name) \(r.id) has no source")
                #expect(r.id.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "." }, "id \(r.id)")
                // Rows digit-bench reproduces name their protocol.
                if r.registryID != nil { #expect(r.evaluationProtocol != nil, "\(name) \(r.id)") }
                if r.evaluationProtocol != nil { #expect(r.registryID != nil, "\(name) \(r.id)") }
            }
        }
    }

    @Test func rowIDsAreUniqueAcrossTables() throws {
        var seen: [String: String] = [:]
        for name in Self.expectedRows.keys {
            for r in try baseline(name).rows {
                #expect(seen[r.id] == nil, "\(r.id) in \(name) and \(seen[r.id] ?? "")")
                seen[r.id] = name
            }
        }
    }

    @Test func badBaselinesFailWithClearErrors() {
        #expect(throws: ReportError.missingColumn(file: "t.csv", column: "source")) {
            try BaselineTable(csvText: "id,fid\na,1\n", name: "t", path: "t.csv")
        }
        #expect(throws: ReportError.duplicateRowID(file: "t.csv", id: "a", line: 3)) {
            try BaselineTable(csvText: "id,fid,source\na,1,s\na,2,s\n", name: "t", path: "t.csv")
        }
        #expect(throws: ReportError.badNumber(file: "t.csv", id: "a", column: "fid", value: "3.60*")) {
            try BaselineTable(csvText: "id,fid,source\na,3.60*,s\n", name: "t", path: "t.csv")
        }
        #expect(throws: ReportError.csvRaggedRow(file: "t.csv", line: 2, expected: 3, actual: 2)) {
            try BaselineTable(csvText: "id,fid,source\na,1\n", name: "t", path: "t.csv")
        }
    }

    @Test func upstreamReadmeNumbers() throws {
        // From the issue text / upstream READMEs (cited in each row's source).
        let omv2 = try baseline("openmagvit2_tokenizers")
        #expect(omv2.row("omv2-in256-l")?["rfid"] == "1.17")
        #expect(omv2.row("omv2-in256-l")?["psnr"] == "21.90")
        #expect(omv2.row("omv2-in128-l")?["rfid"] == "1.18")
        #expect(omv2.row("omv2-in128-l-at256")?["rfid"] == "0.34")
        #expect(omv2.row("omv2-in128-l-at256")?["psnr"] == "26.19")
        let ar = try baseline("openmagvit2_ar_in256")
        #expect(ar.rows.map { [$0["params"]!, $0["fid"]!, $0["is"]!] } == [
            ["343M", "3.08", "258.26"], ["804M", "2.51", "271.70"], ["1.5B", "2.33", "271.77"],
        ])
        let vq = try baseline("llamagen_tokenizers")
        #expect(vq.rows.map { $0["rfid"]! } == ["2.19", "0.94", "0.70", "0.59"])
        #expect(vq.row("llamagen-vq16-16x16")?["psnr"] == "20.79")
        #expect(vq.row("llamagen-vq16-16x16")?["usage_pct"] == "97")
        let gpt = try baseline("llamagen_c2i_in256")
        let fids = Dictionary(uniqueKeysWithValues: gpt.rows.map { ($0.id, $0["fid"]!) })
        #expect(fids["llamagen-gpt-b-256"] == "5.46")
        #expect(fids["llamagen-gpt-l-256"] == "3.80")
        #expect(fids["llamagen-gpt-xl-384"] == "2.62")
        #expect(fids["llamagen-gpt-xxl-384"] == "2.34")
        #expect(fids["llamagen-gpt-3b-384"] == "2.18")
    }
}

/// Re-reads the seed documents and compares their tables with the CSVs, cell by cell.
@Suite struct SeedTableTests {
    static func seed(_ prefix: String) throws -> String {
        let dir = Fixtures.sharedRoot.appendingPathComponent("seeds")
        let name = try #require(
            try FileManager.default.contentsOfDirectory(atPath: dir.path).first { $0.hasPrefix(prefix) },
            "seed \(prefix)_*.txt not found in \(dir.path)")
        return try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
    }

    /// The lines of the table that follows `title` in the model card, up to the next blank line.
    static func tableLines(_ text: String, after title: String) throws -> [String] {
        let lines = text.components(separatedBy: "\n")
        let start = try #require(lines.firstIndex { $0.hasPrefix(title) }, "table '\(title)' not in seed")
        var out: [String] = []
        for l in lines[(start + 1)...] {
            let t = l.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { if out.isEmpty { continue } else { break } }
            out.append(t)
        }
        return Array(out.dropFirst())  // header line
    }

    static func tokens(_ s: String) -> String { s.replacingOccurrences(of: " $\\times$ ", with: "x") }

    @Test func digitLinearProbeTableMatchesSeed001() throws {
        let rows = try Self.tableLines(Self.seed("001"), after: "Linear-Probe Accuracy on ImageNet")
        let csv = try baseline("digit_linear_probe")
        try #require(rows.count == csv.rows.count)
        for (line, row) in zip(rows, csv.rows) {
            // "<method> <a> $\times$ <b> <features> <params> <top1>"
            let t = Self.tokens(line).split(separator: " ").map(String.init)
            let n = t.count
            #expect(t[..<(n - 4)].joined(separator: " ") == row["method"], "\(line)")
            #expect(t[n - 4] == row["tokens"], "\(line)")
            #expect(t[n - 3] == row["features"], "\(line)")
            #expect(t[n - 2] == row["params"], "\(line)")
            #expect(t[n - 1] == row["top1"], "\(line)")
        }
    }

    static func checkGenerationTable(title: String, csvName: String) throws {
        let text = try seed("001")
        let rows = try tableLines(text, after: title)
        let csv = try baseline(csvName)
        try #require(rows.count == csv.rows.count, "\(title): \(rows.count) rows in the seed")
        for (line, row) in zip(rows, csv.rows) {
            // "<type> <method…> <params> <epochs> <fid> <is>"
            let t = line.split(separator: " ").map(String.init)
            let n = t.count
            #expect(t[0] == row["type"], "\(line)")
            #expect(t[1..<(n - 4)].joined(separator: " ") == row["method"], "\(line)")
            #expect(t[n - 4] == row["params"], "\(line)")
            #expect(t[n - 3] == (row["epochs"] ?? "-"), "\(line)")
            // A trailing "*" is the CFG footnote: the number goes to fid/is, the note to `footnote`.
            for (cell, col) in [(t[n - 2], "fid"), (t[n - 1], "is")] {
                let starred = cell.hasSuffix("*")
                let number = starred ? String(cell.dropLast()) : cell
                #expect(number == (row[col] ?? "-"), "\(line) \(col)")
                #expect(starred == (row.footnote?.hasPrefix("*") ?? false), "\(line) footnote")
            }
        }
    }

    @Test func digitUnconditionalTableMatchesSeed001() throws {
        try Self.checkGenerationTable(title: "Class-Unconditional Image Generation", csvName: "digit_uncond_in256")
    }

    @Test func digitConditionalTableMatchesSeed001() throws {
        try Self.checkGenerationTable(title: "Class-Conditional Image Generation", csvName: "digit_cond_in256")
        let text = try Self.seed("001")
        let footnote = try #require(text.components(separatedBy: "\n").first { $0.hasPrefix("*: VAR") })
        let csv = try baseline("digit_cond_in256")
        #expect(csv.rows.filter { $0.footnote != nil }.allSatisfy { $0.footnote == footnote })
    }

    /// Open-MAGVIT2's Table 1 and 2 (seed 002 is a pipe table; Chinese headers, numbers as published).
    @Test func openMagvit2TablesMatchSeed002() throws {
        let text = try Self.seed("002")
        let pipeRows = text.components(separatedBy: "\n").filter { $0.contains(" | ") && !$0.hasPrefix("---") }
            .map { $0.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } }
        // Table 1 rows have 10 cells (9 columns + trailing empty), table 2 rows 10 too: tell them apart by width.
        let t1 = pipeRows.filter { $0.count == 10 && $0[0] != "方法" && Int($0[4]) != nil }
        let t2 = pipeRows.filter { $0.count == 10 && $0[0] != "方法" && $0[4] == "√" }
        let csv1 = try baseline("openmagvit2_recon_in256")
        try #require(t1.count == csv1.rows.count)
        func plain(_ s: String) -> String { s.replacingOccurrences(of: ":fire:", with: "").replacingOccurrences(of: " × ", with: "x") }
        for (cells, row) in zip(t1, csv1.rows) {
            let method = plain(cells[0])
            #expect(method.replacingOccurrences(of: "*", with: "") == row["method"], "\(cells)")
            #expect(method.hasSuffix("*") == (row.footnote != nil), "\(cells)")
            #expect(cells[1] == row["token_type"])
            #expect(plain(cells[2]) == row["tokens"])
            #expect(plain(cells[3]) == row["training_data"])
            #expect(cells[4] == row["codebook_size"])
            #expect(cells[5] == row["rfid"])
            #expect(cells[6] == (row["psnr"] ?? "-"))
            #expect(cells[7] == (row["usage_pct"].map { $0 + "%" } ?? "-"))
            #expect(cells[8] == (row["checkpoint"] ?? "-"))
        }
        let csv2 = try baseline("openmagvit2_vs_magvit2_in128")
        try #require(t2.count == csv2.rows.count)
        for (cells, row) in zip(t2, csv2.rows) {
            #expect(cells[0] == row["method"])
            #expect(cells[2].replacingOccurrences(of: "×", with: "x") == row["tokens"])
            #expect(cells[7] == row["rfid"])
            #expect(cells[8] == (row["checkpoint"] ?? "-"))
        }
    }
}
