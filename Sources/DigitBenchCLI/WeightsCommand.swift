import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct Weights: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List, verify and fetch the real weight files.",
            discussion: """
                Weight files live in $DIGIT_BENCH_HOME/weights (default ~/.cache/digit-bench/weights). \
                Nothing is downloaded unless you run `weights fetch`.
                """,
            subcommands: [List.self, Show.self, Verify.self, Fetch.self],
            defaultSubcommand: List.self)

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Show every known weight file, where it comes from, and whether it is present.")

            func run() throws {
                let home = WeightsHome()
                print("weights home: \(home.weightsDirectory.path) (DIGIT_BENCH_HOME)\n")
                for f in WeightsRegistry.all {
                    let status = (try? WeightsRegistry.status(of: f, home: home, hash: false)) ?? .missing
                    print("\(f.id.padding(toLength: 24, withPad: " ", startingAt: 0)) \(f.fileName)  [\(status.label)]")
                    print("    \(f.summary); used by \(f.usedBy.joined(separator: ", "))")
                    print("    \(f.url.map { "url: \($0)" } ?? "download by hand from \(f.page)")")
                    print("    size: \(sizeText(f)); \(f.checksumDescription)")
                }
                print("\n`digit-bench weights show ID` prints where to put a file; `weights fetch ID…` downloads; `weights verify` hashes.")
            }
        }

        struct Show: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Say which file an id needs, where it comes from, its checksum and where to put it.")

            @Argument(help: "Weights ids, or registry ids (e.g. digit-base) to list the files they load.")
            var ids: [String]

            func run() throws {
                let home = WeightsHome()
                for id in ids {
                    let files = WeightsRegistry.file(id).map { [$0] } ?? WeightsRegistry.files(usedBy: id)
                    guard !files.isEmpty else { _ = try WeightsRegistry.lookup(id); continue }
                    for f in files {
                        let status = try WeightsRegistry.status(of: f, home: home, hash: false)
                        if status.isUsable {
                            print("\(f.id): \(home.path(for: f).path) [\(status.label)]")
                        } else {
                            print(WeightsRegistry.missingMessage(for: f, home: home))
                        }
                    }
                }
            }
        }

        struct Verify: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Hash the weight files that are present and check them against known checksums.",
                discussion: "Exits non-zero when a file is invalid, or when an id given explicitly is missing.")

            @Argument(help: "Weights ids to verify (default: every file that is present).")
            var ids: [String] = []

            func run() throws {
                let home = WeightsHome()
                let files = try ids.isEmpty ? WeightsRegistry.all : ids.map(WeightsRegistry.lookup)
                var bad = 0
                for f in files {
                    let s = try WeightsRegistry.status(of: f, home: home, hash: true) { done in
                        FileHandle.standardError.write(Data("\r\(f.fileName): \(WeightsRegistry.humanBytes(done)) hashed".utf8))
                    }
                    if s != .missing { FileHandle.standardError.write(Data("\n".utf8)) }
                    switch s {
                    case .missing:
                        if !ids.isEmpty {
                            bad += 1
                            print(WeightsRegistry.missingMessage(for: f, home: home))
                        }
                    case .verified(let hex, _):
                        print("\(f.id): \(s.label) sha256 \(hex)")
                    default:
                        bad += 1
                        print("\(f.id): \(s.label) (expected: \(f.checksumDescription))")
                    }
                }
                if bad > 0 { throw ExitCode(1) }
            }
        }

        struct Fetch: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Download weight files (resumable; verified against known checksums).")

            @Argument(help: "Weights ids (see `digit-bench weights list`), or registry ids to fetch every file they load.")
            var ids: [String]

            @Option(help: "Attempts per file before giving up (each resumes where the last stopped).")
            var attempts: Int = 5

            func run() throws {
                let home = WeightsHome()
                var files: [DigitSuites.WeightFile] = []
                for id in ids {
                    if let f = WeightsRegistry.file(id) {
                        files.append(f)
                    } else if !WeightsRegistry.files(usedBy: id).isEmpty {
                        files += WeightsRegistry.files(usedBy: id).filter { f in
                            // Of two interchangeable files, one is enough.
                            !(f.alternative.map { alt in files.contains { $0.id == alt } } ?? false)
                        }
                    } else {
                        _ = try WeightsRegistry.lookup(id)
                    }
                }
                var lastShown = -1
                let downloader = WeightsDownloader(
                    options: .init(maxAttempts: attempts) { have, total in
                        guard let t = total, t > 0 else { return }
                        let pct = Int(Double(have) / Double(t) * 100)
                        if pct != lastShown {
                            lastShown = pct
                            FileHandle.standardError.write(Data("\r  \(pct)% of \(WeightsRegistry.humanBytes(t))".utf8))
                        }
                    })
                var failed = 0
                for f in files {
                    lastShown = -1
                    guard f.url != nil else {
                        failed += 1
                        print(WeightsRegistry.missingMessage(for: f, home: home))
                        continue
                    }
                    print("\(f.id): \(f.url!)")
                    do {
                        let r = try downloader.fetch(f, home: home)
                        FileHandle.standardError.write(Data("\n".utf8))
                        let check = f.checksumMatches(r.sha256) == true ? "checksum ok" : "no published checksum"
                        print("  \(r.alreadyPresent ? "already present" : "saved") \(r.path.path) (\(WeightsRegistry.humanBytes(r.bytes)), sha256 \(r.sha256), \(check))")
                    } catch {
                        FileHandle.standardError.write(Data("\n".utf8))
                        failed += 1
                        print("  error: \(error)")
                    }
                }
                if failed > 0 { throw ExitCode(1) }
            }
        }
    }
}

private func sizeText(_ f: DigitSuites.WeightFile) -> String {
    if let s = f.sizeBytes { return "\(s) bytes" }
    if let p = f.parameters {
        return "not published (\(String(format: "%.1f", Double(p) / 1e6))M float parameters, ≈\(WeightsRegistry.humanBytes(Int64(p) * 4)) as float32)"
    }
    return "not published"
}
