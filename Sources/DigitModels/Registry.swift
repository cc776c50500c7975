import DigitCheckpoint
import Foundation

// MARK: - Public ids

/// A registry of public ids: the raw value is the CLI value, suite field, cache-key part and
/// baseline row id.
public protocol RegistryID: RawRepresentable, CaseIterable, Sendable, Codable where RawValue == String {
    /// What the ids name, for error messages ("feature extractor").
    static var kind: String { get }
}

extension RegistryID {
    /// The id for `name`, or an error listing the valid ids with a "did you mean" suggestion.
    public static func parse(_ name: String) throws -> Self {
        if let id = Self(rawValue: name) { return id }
        throw UnknownIDError(kind: kind, given: name, valid: allCases.map(\.rawValue))
    }
}

/// An id that is not in its registry.
public struct UnknownIDError: Error, CustomStringConvertible, Equatable {
    public var kind: String
    public var given: String
    public var valid: [String]

    public var description: String {
        "unknown \(kind) '\(given)'\(didYouMean(given, valid)); valid: \(valid.joined(separator: ", "))"
    }
}

/// `" (did you mean 'x'?)"` for the closest candidate within a small edit distance, else "".
func didYouMean(_ given: String, _ candidates: [String]) -> String {
    let g = Array(given.lowercased())
    func distance(_ s: String) -> Int {
        let t = Array(s.lowercased())
        var row = Array(0...t.count)
        for i in 1...max(g.count, 1) where !g.isEmpty {
            var prev = row[0]
            row[0] = i
            for j in 1...max(t.count, 1) where !t.isEmpty {
                let cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (g[i - 1] == t[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return g.isEmpty ? t.count : row[t.count]
    }
    guard let best = candidates.min(by: { distance($0) < distance($1) }),
          distance(best) <= max(2, best.count / 3) else { return "" }
    return " (did you mean '\(best)'?)"
}

/// Feature extractors (`--extractor`).
public enum FeatureExtractorID: String, RegistryID {
    /// The FID Inception-v3 (pytorch-fid / torch-fidelity / ADM / clean-fid), see ``InceptionV3``.
    case inceptionV3 = "inception-v3"

    public static let kind = "feature extractor"
}

// MARK: - Real weight files

/// A real checkpoint digit-bench knows: where it comes from and how to recognise it.
public struct WeightFile: Sendable, Equatable {
    public var fileName: String
    public var url: String
    /// Leading hex digits of the file's SHA-256 (torch hub names files `<name>-<first 8 hex>.pth`),
    /// or nil when the name's suffix is not a checksum of the file.
    public var sha256Prefix: String?
    /// Size in bytes when known.
    public var byteCount: Int?
    /// Which upstream tool publishes it.
    public var publisher: String

    /// pytorch-fid's port of the TF `inception-2015-12-05` graph (566 entries incl. num_batches_tracked).
    public static let inceptionPytorchFID = WeightFile(
        fileName: "pt_inception-2015-12-05-6726825d.pth",
        url: "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        sha256Prefix: "6726825d", byteCount: nil, publisher: "pytorch-fid")

    /// torch-fidelity's conversion of the same graph (472 float tensors, no num_batches_tracked).
    /// Its name copies pytorch-fid's suffix; the file itself is different, so no checksum is known.
    public static let inceptionTorchFidelity = WeightFile(
        fileName: "weights-inception-2015-12-05-6726825d.pth",
        url: "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
        sha256Prefix: nil, byteCount: nil, publisher: "torch-fidelity")
}

/// Errors finding or verifying a real weight file.
public enum WeightFileError: Error, CustomStringConvertible, Equatable {
    case notFound(file: String, url: String, searched: [String])
    case checksumMismatch(path: String, expectedPrefix: String, actual: String)

    public var description: String {
        switch self {
        case let .notFound(file, url, searched):
            return """
                weight file \(file) not found (looked in: \(searched.joined(separator: ", "))).
                Download it from \(url)
                and put it in $DIGIT_BENCH_HOME (default ~/.cache/digit-bench), or pass --checkpoint PATH.
                (--weights seeded runs the architecture with seeded test weights; its numbers are not real.)
                """
        case let .checksumMismatch(path, expected, actual):
            return "\(path): SHA-256 \(actual) does not start with \(expected); the file is corrupt or not the expected checkpoint"
        }
    }
}

/// Where real weight files live: `--checkpoint`, `$DIGIT_BENCH_CHECKPOINTS`, `$DIGIT_BENCH_HOME`
/// (default `~/.cache/digit-bench`).
public enum WeightStore {
    /// `$DIGIT_BENCH_HOME`, else `~/.cache/digit-bench`.
    public static var home: URL {
        let env = ProcessInfo.processInfo.environment
        if let h = env["DIGIT_BENCH_HOME"], !h.isEmpty { return URL(fileURLWithPath: h) }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/digit-bench")
    }

    /// The candidate paths for `file`, in search order.
    public static func candidates(for file: WeightFile, explicit: String? = nil) -> [URL] {
        var out: [URL] = []
        if let explicit { out.append(URL(fileURLWithPath: explicit)) }
        if let dir = ProcessInfo.processInfo.environment["DIGIT_BENCH_CHECKPOINTS"], !dir.isEmpty {
            out.append(URL(fileURLWithPath: dir).appendingPathComponent(file.fileName))
        }
        out.append(home.appendingPathComponent(file.fileName))
        out.append(home.appendingPathComponent("checkpoints").appendingPathComponent(file.fileName))
        return out
    }

    /// The first existing candidate; an explicit path that does not exist is an error by itself.
    public static func locate(_ file: WeightFile, explicit: String? = nil) throws -> URL {
        let fm = FileManager.default
        if let explicit {
            guard fm.fileExists(atPath: explicit) else {
                throw WeightFileError.notFound(file: file.fileName, url: file.url, searched: [explicit])
            }
            return URL(fileURLWithPath: explicit)
        }
        let cands = candidates(for: file)
        guard let hit = cands.first(where: { fm.fileExists(atPath: $0.path) }) else {
            throw WeightFileError.notFound(file: file.fileName, url: file.url, searched: cands.map(\.path))
        }
        return hit
    }

    /// Checks the file's SHA-256 against `file.sha256Prefix`; returns the full digest (hex).
    @discardableResult
    public static func verify(_ url: URL, against file: WeightFile) throws -> String {
        let digest = try SHA256.hexDigest(ofFileAt: url)
        if let prefix = file.sha256Prefix, !digest.hasPrefix(prefix.lowercased()) {
            throw WeightFileError.checksumMismatch(path: url.path, expectedPrefix: prefix, actual: digest)
        }
        return digest
    }
}
