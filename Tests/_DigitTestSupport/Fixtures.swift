import DigitCheckpoint
import DigitTensor
import Foundation

/// Locates `shared/` (fixtures, spec, seeds) for tests.
///
/// CI checks the repository out with `shared/` beside it, so the default is `<repo>/../shared`,
/// found from this file's path. `DIGIT_BENCH_SHARED` overrides it. A missing fixture is a test
/// failure with this explanation, never a silent skip.
public enum Fixtures {
    public static let sharedRoot: URL = {
        if let s = ProcessInfo.processInfo.environment["DIGIT_BENCH_SHARED"] { return URL(fileURLWithPath: s) }
        return URL(fileURLWithPath: #filePath)  // <repo>/Tests/_DigitTestSupport/Fixtures.swift
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared")
    }()

    /// The repository root (for suites/, baselines/, reports/).
    public static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `shared/fixtures/<area>/<name>`; throws a descriptive error if it does not exist.
    public static func url(_ area: String, _ name: String) throws -> URL {
        let u = sharedRoot.appendingPathComponent("fixtures").appendingPathComponent(area).appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: u.path) else { throw FixtureError.missing(u.path) }
        return u
    }

    /// Reads a fixture `.npy`.
    public static func npy(_ area: String, _ name: String) throws -> NPYArray {
        try NPY.read(contentsOf: url(area, name))
    }

    /// Reads and decodes a fixture JSON file.
    public static func json(_ area: String, _ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url(area, name)))
    }
}

public enum FixtureError: Error, CustomStringConvertible {
    case missing(String)
    public var description: String {
        switch self {
        case let .missing(p):
            return "fixture \(p) not found: tests read ../shared/fixtures beside the checkout (or set DIGIT_BENCH_SHARED)"
        }
    }
}
