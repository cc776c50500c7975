import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

#if canImport(Glibc)
    private let sysWrite = Glibc.write
#else
    private let sysWrite = Darwin.write
#endif

/// Writes files so that a reader never sees a half-written one: the bytes go to a temporary
/// file in the same directory, are flushed to disk, and the temporary is renamed over the
/// destination (rename(2) is atomic within a file system).
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw ReportError.writeFailed(path: url.path, reason: "cannot create \(dir.path): \(error.localizedDescription)")
        }
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw ReportError.writeFailed(path: tmp.path, reason: String(cString: strerror(errno))) }
        var ok = false
        defer {
            if !ok { unlink(tmp.path) }
        }
        let written: Int = data.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let n = sysWrite(fd, buf.baseAddress! + off, buf.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    return -1
                }
                off += n
            }
            return off
        }
        let err = errno
        if written != data.count {
            close(fd)
            throw ReportError.writeFailed(path: tmp.path, reason: String(cString: strerror(err)))
        }
        if fsync(fd) != 0 || close(fd) != 0 {
            throw ReportError.writeFailed(path: tmp.path, reason: String(cString: strerror(errno)))
        }
        guard rename(tmp.path, url.path) == 0 else {
            throw ReportError.writeFailed(path: url.path, reason: "rename: \(String(cString: strerror(errno)))")
        }
        ok = true
    }

    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }
}

/// Writes one run's report files: `<dir>/<stamp>.md`, `.csv`, `.json` and, when the table has
/// FID and parameter counts, `.svg`.
public enum ReportWriter {
    public struct Written: Sendable {
        public var markdown: URL
        public var csv: URL
        public var json: URL
        public var svg: URL?
    }

    /// A file-name-safe UTC timestamp (`20250131T120000Z`).
    public static func timestamp(_ date: Date = Date()) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return f.string(from: date)
    }

    /// Writes into `directory` (conventionally `reports/<suite>/`).
    @discardableResult
    public static func write(_ report: Report, to directory: URL, stem: String) throws -> Written {
        let svgURL = directory.appendingPathComponent("\(stem).svg")
        var svgWritten: URL?
        let title = "\(report.record.suite): FID against parameters"
        if let svg = SVGPlot.render(SVGPlot.points(report), title: title) {
            try AtomicFile.write(svg, to: svgURL)
            svgWritten = svgURL
        }
        let md = directory.appendingPathComponent("\(stem).md")
        let csv = directory.appendingPathComponent("\(stem).csv")
        let json = directory.appendingPathComponent("\(stem).json")
        try AtomicFile.write(report.record.jsonData(), to: json)
        try AtomicFile.write(ReportCSVWriter.render(report), to: csv)
        try AtomicFile.write(
            MarkdownWriter.render(report, options: .init(plotFile: svgWritten?.lastPathComponent)), to: md)
        return Written(markdown: md, csv: csv, json: json, svg: svgWritten)
    }
}
