import Foundation

/// Runs the built `digit-bench` executable in a subprocess, for CLI tests that must read its
/// stdout (capturing the test process's own stdout is unreliable while parallel tests print).
public enum CLIBinary {
    /// Where the executable is looked for, in order: `$DIGIT_BENCH_BINARY`; next to the running
    /// test executable / `.xctest` bundle (SwiftPM puts products and tests in the same build
    /// directory); `<repo>/.build/release/digit-bench`.
    public static var candidates: [URL] {
        var c: [URL] = []
        if let s = ProcessInfo.processInfo.environment["DIGIT_BENCH_BINARY"] { c.append(URL(fileURLWithPath: s)) }
        let argv0 = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        c.append(argv0.deletingLastPathComponent().appendingPathComponent("digit-bench"))
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            c.append(URL(fileURLWithPath: bundle.bundlePath).deletingLastPathComponent().appendingPathComponent("digit-bench"))
        }
        c.append(Fixtures.repoRoot.appendingPathComponent(".build/release/digit-bench"))
        return c
    }

    /// The first executable candidate; throws (a test failure, not a skip) when there is none.
    public static func url() throws -> URL {
        let c = candidates
        guard let found = c.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw CLIBinaryError.notFound(c.map(\.path))
        }
        return found
    }

    /// What one run printed.
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: Data
        public var stderr: String
        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// Runs `digit-bench args…` to completion. stdout and stderr go to temporary files (no pipe
    /// can fill up and block the child). `environment` entries are added to this process's.
    public static func run(_ args: [String], environment: [String: String] = [:]) throws -> Output {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("digit-bench-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let outURL = dir.appendingPathComponent("stdout"), errURL = dir.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        let p = Process()
        p.executableURL = try url()
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        p.standardOutput = out
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        try out.close()
        try err.close()
        return Output(status: p.terminationStatus, stdout: try Data(contentsOf: outURL),
                      stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }
}

public enum CLIBinaryError: Error, CustomStringConvertible {
    case notFound([String])
    public var description: String {
        switch self {
        case .notFound(let paths):
            return "digit-bench executable not found (build it with `swift build -c release`, or set DIGIT_BENCH_BINARY); looked at: "
                + paths.joined(separator: ", ")
        }
    }
}
