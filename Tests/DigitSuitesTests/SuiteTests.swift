import DigitReports
import DigitSuites
import Foundation
import Testing
import _DigitTestSupport

let suitesDir = Fixtures.repoRoot.appendingPathComponent("suites")

func problems(_ yaml: String) -> [SuiteProblem] {
    do {
        let s = try Suite.parse(yaml, path: "test.yaml")
        return SuiteValidator(suite: s, repositoryRoot: Fixtures.repoRoot).validate()
    } catch let e as SuiteError {
        return e.problems
    } catch {
        Issue.record("unexpected \(error)")
        return []
    }
}

let goodRow = """
    suite: t
    version: 1
    baseline: baselines/openmagvit2_recon_in256.csv
    rows:
      - id: recon-openmagvit2-16
        task: reconstruct
        tokenizer: lfq-256
        checkpoints: [lfq-256]
        dataset: imagenet-val
        preprocessing: resize-center-crop
        resolution: 256
        protocol: pytorch-fid
        protocols: {psnr: openmagvit2-2024}
        metrics: [rfid, psnr]
        num_samples: 50000
        seed: 0
        tolerance: {rfid: 0.05, psnr: "1%"}

    """

@Suite struct SuiteTests {
    @Test func everySuiteFileValidates() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: suitesDir.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files.count == 11)  // 9 baselines + smoke + smoke_full
        var baselinesCovered = Set<String>()
        for f in files {
            do {
                let s = try Suite.load(suitesDir.appendingPathComponent(f), repositoryRoot: Fixtures.repoRoot)
                if let b = s.baseline { baselinesCovered.insert(b) }
                #expect(!s.rows.isEmpty)
            } catch {
                Issue.record("\(error)")
            }
        }
        // One suite per baseline table.
        let tables = try FileManager.default.contentsOfDirectory(atPath: Fixtures.repoRoot.appendingPathComponent("baselines").path)
            .filter { $0.hasSuffix(".csv") }.map { "baselines/" + $0 }
        #expect(baselinesCovered == Set(tables))
    }

    @Test func everyReproducibleBaselineRowHasASuiteRow() throws {
        for f in try FileManager.default.contentsOfDirectory(atPath: suitesDir.path) where f.hasSuffix(".yaml") && !f.hasPrefix("smoke") {
            let s = try Suite.load(suitesDir.appendingPathComponent(f), repositoryRoot: Fixtures.repoRoot)
            let table = try BaselineTable.load(Fixtures.repoRoot.appendingPathComponent(s.baseline!))
            let reproducible = table.rows.filter { $0.registryID != nil }.map(\.id)
            #expect(Set(s.rows.map(\.id)) == Set(reproducible), "\(f)")
        }
    }

    @Test func defaultsMergeIntoRows() throws {
        let s = try Suite.load(suitesDir.appendingPathComponent("llamagen_tokenizers.yaml"), repositoryRoot: Fixtures.repoRoot)
        let r = try #require(s.row("llamagen-vq16-24x24"))
        #expect(r.task == "reconstruct")
        #expect(r.evaluationProtocol == "adm")
        #expect(r.metrics == ["rfid"])
        // Default tolerances/protocols for metrics the row does not have are dropped.
        #expect(r.tolerance == ["rfid": .absolute(0.05)])
        #expect(r.protocols.isEmpty)
        let full = try #require(s.row("llamagen-vq16-16x16"))
        #expect(full.evaluationProtocol(for: "usage_pct") == "codebook")
        #expect(full.evaluationProtocol(for: "rfid") == "adm")
    }

    @Test func aCorrectRowHasNoProblems() {
        #expect(problems(goodRow) == [])
    }

    @Test func unknownTokenizerSaysDidYouMean() {
        let p = problems(goodRow.replacingOccurrences(of: "tokenizer: lfq-256", with: "tokenizer: lfq256"))
        let msg = p.map(\.message)
        #expect(msg.contains { $0.hasPrefix("Unknown tokenizer 'lfq256'. Did you mean: lfq-256? Available: lfq-128, lfq-256, lfq-128-l,") })
        #expect(p.first?.line == 5)  // the row starts on line 5
    }

    @Test func unknownIDsOfEveryKindAreReported() {
        var y = goodRow
        y = y.replacingOccurrences(of: "protocol: pytorch-fid", with: "protocol: pytorchfid")
        y = y.replacingOccurrences(of: "checkpoints: [lfq-256]", with: "checkpoints: [lfq_256]")
        y = y.replacingOccurrences(of: "metrics: [rfid, psnr]", with: "metrics: [rfid, psnr, fdi]")
        y = y.replacingOccurrences(of: "dataset: imagenet-val", with: "dataset: imagenet_val")
        y = y.replacingOccurrences(of: "id: recon-openmagvit2-16", with: "id: recon-openmagvit2-61")
        y = y.replacingOccurrences(of: "task: reconstruct", with: "task: reconstruct\n    toleranse: 1")
        let text = problems(y).map(\.description).joined(separator: "\n")
        #expect(text.contains("Unknown protocol 'pytorchfid'. Did you mean: pytorch-fid?"), "\(text)")
        #expect(text.contains("Unknown weights id 'lfq_256'. Did you mean: lfq-256?"), "\(text)")
        #expect(text.contains("Unknown metric 'fdi'. Did you mean: fid?"), "\(text)")
        #expect(text.contains("Unknown dataset 'imagenet_val'. Did you mean: imagenet-val?"), "\(text)")
        #expect(text.contains("Unknown baseline row 'recon-openmagvit2-61'. Did you mean: recon-openmagvit2-16"), "\(text)")
        #expect(text.contains("Unknown key 'toleranse'. Did you mean: tolerance?"), "\(text)")
    }

    @Test func mismatchesWithTheBaselineAreReported() {
        var y = goodRow.replacingOccurrences(of: "tokenizer: lfq-256", with: "tokenizer: lfq-128")
        y = y.replacingOccurrences(of: "protocol: pytorch-fid", with: "protocol: adm")
        y = y.replacingOccurrences(of: "tolerance: {rfid: 0.05, psnr: \"1%\"}", with: "tolerance: {rfid: 0.05}")
        let text = problems(y).map(\.message).joined(separator: "\n")
        #expect(text.contains("evaluates 'lfq-128' but baseline row 'recon-openmagvit2-16' is reproduced by 'lfq-256'"))
        #expect(text.contains("'adm' differs from the published number's protocol 'pytorch-fid'"))
        #expect(text.contains("metric 'psnr' has a published value (21.53) but no tolerance"))
    }

    @Test func rowsWithoutReleasedWeightsAreRefused() {
        let y = """
            suite: t
            version: 1
            baseline: baselines/digit_uncond_in256.csv
            rows:
              - id: uncond-digit-maskgit-219m
                task: generate
                model: digit-base
                checkpoints: [digit-base-stage1]
                dataset: imagenet-val
                protocol: torch-fidelity
                metrics: [fid]
                num_samples: 50000
                seed: 0
                tolerance: 0.3
            """
        let text = problems(y).map(\.message).joined(separator: "\n")
        #expect(text.contains("has no registry_id: digit-bench has no weights for it (no released weights for the MaskGIT-style (NAR) stage 2)"))
    }

    @Test func structuralErrorsCarryLines() {
        let y = """
            suite: t
            version: one
            rows:
              - id: a
                task: generat
                model: llamagen-gpt-b
                dataset: bundled
                protocol: adm
                metrics: [fid]
                seed: -1
                tolerance: {fid: "abc"}
            """
        let p = problems(y)
        let text = p.map(\.description).joined(separator: "\n")
        #expect(text.contains("line 2: suite.version: expected an integer, got 'one'"), "\(text)")
        #expect(text.contains("line 10: rows[0] (a).seed: expected an integer >= 0"), "\(text)")
        #expect(text.contains("line 11: rows[0] (a).tolerance.fid: tolerance 'abc' is neither"), "\(text)")
    }

    @Test func semanticErrorsAreAllCollected() {
        let y = """
            suite: t
            version: 1
            weights: seeded
            rows:
              - id: a
                task: generat
                dataset: bundled
                protocol: adm
                metrics: [fid]
                num_samples: 0
              - id: a
                task: reconstruct
                model: llamagen-gpt-b
                dataset: bundled
                protocol: adm
                metrics: [psnr]
                num_samples: 1
                seed: 0
            """
        let text = problems(y).map(\.description).joined(separator: "\n")
        #expect(text.contains("Unknown task 'generat'. Did you mean: generate?"), "\(text)")
        #expect(text.contains("num_samples: must be >= 1"), "\(text)")
        #expect(text.contains("missing 'seed'"), "\(text)")
        #expect(text.contains("row id 'a' appears twice"), "\(text)")
        #expect(text.contains("a reconstruct row needs 'tokenizer'"), "\(text)")
    }

    @Test func badYAMLIsReportedAsSuch() {
        #expect(throws: SuiteError.self) { try Suite.parse("suite: [unclosed", path: "bad.yaml") }
    }

    @Test func jpegTokenizerIDs() {
        #expect(PublicIDs.isTokenizer("jpeg-q75"))
        #expect(!PublicIDs.isTokenizer("jpeg-q0"))
        #expect(!PublicIDs.isTokenizer("jpeg-q075"))
        #expect(!PublicIDs.isTokenizer("jpeg-q101"))
    }

    @Test func suggestions() {
        #expect(Suggest.closest("lfq256", in: PublicIDs.tokenizers) == ["lfq-256"])
        #expect(Suggest.closest("LLAMAGEN_GPT_B", in: PublicIDs.generators) == ["llamagen-gpt-b"])
        #expect(Suggest.closest("digit-bse", in: PublicIDs.generators).first == "digit-base")
        #expect(Suggest.closest("zzzzzz", in: PublicIDs.generators).isEmpty)
        #expect(
            Suggest.unknown("lfq256", kind: .tokenizer, available: ["lfq-128", "lfq-256"])
                == "Unknown tokenizer 'lfq256'. Did you mean: lfq-256? Available: lfq-128, lfq-256")
    }
}
