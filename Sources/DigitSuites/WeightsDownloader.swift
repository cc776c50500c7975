import DigitCheckpoint
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Downloads weight files with resume and checksum verification.
///
/// Bytes go to `<file>.part`. A retry (after a cut connection, or a later run of the command)
/// asks for the rest with `Range: bytes=<have>-`; a server answering 206 is appended to, one
/// answering 200 restarts the file. When the transfer is complete the file is hashed (sha256);
/// a mismatch with the known checksum deletes the download and fails, a match (or nothing
/// known) renames `.part` into place.
public final class WeightsDownloader {
    public struct Options {
        public var maxAttempts: Int
        /// Seconds without any data before an attempt is abandoned.
        public var idleTimeout: TimeInterval
        /// Called with (bytes on disk, total bytes if known).
        public var progress: ((Int64, Int64?) -> Void)?
        /// Pause between attempts (seconds); tests use 0.
        public var retryDelay: TimeInterval

        public init(
            maxAttempts: Int = 5, idleTimeout: TimeInterval = 60, retryDelay: TimeInterval = 1,
            progress: ((Int64, Int64?) -> Void)? = nil
        ) {
            self.maxAttempts = maxAttempts
            self.idleTimeout = idleTimeout
            self.retryDelay = retryDelay
            self.progress = progress
        }
    }

    /// What a finished download produced.
    public struct Result: Equatable {
        public var path: URL
        public var sha256: String
        public var bytes: Int64
        /// Attempts made (1 = no resume needed).
        public var attempts: Int
        /// True when the file was already in place and valid.
        public var alreadyPresent: Bool
    }

    public var options: Options

    public init(options: Options = Options()) {
        self.options = options
    }

    /// Fetches a registry file into `home`.
    public func fetch(_ file: WeightFile, home: WeightsHome = WeightsHome()) throws -> Result {
        guard let s = file.url, let url = URL(string: s) else {
            throw WeightsError.noDirectURL(id: file.id, message: WeightsRegistry.missingMessage(for: file, home: home))
        }
        return try download(
            from: url, to: home.path(for: file), sha256: file.sha256, sha256Prefix: file.sha256Prefix,
            size: file.sizeBytes)
    }

    /// Downloads `url` to `dest`, resuming a previous `.part` and verifying the checksum.
    public func download(
        from url: URL, to dest: URL, sha256: String? = nil, sha256Prefix: String? = nil, size: Int64? = nil
    ) throws -> Result {
        let fm = FileManager.default
        func matches(_ hex: String) -> Bool? {
            if let s = sha256 { return s.lowercased() == hex }
            if let p = sha256Prefix { return hex.hasPrefix(p.lowercased()) }
            return nil
        }
        // Already there and valid?
        if fm.fileExists(atPath: dest.path) {
            let hex = try SHA256.hex(ofFile: dest)
            if matches(hex) != false {
                let bytes = fileSize(dest) ?? 0
                return Result(path: dest, sha256: hex, bytes: bytes, attempts: 0, alreadyPresent: true)
            }
            try? fm.removeItem(at: dest)
        }
        do {
            try fm.createDirectory(at: dest.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw WeightsError.io(path: dest.deletingLastPathComponent().path, reason: error.localizedDescription)
        }
        let part = dest.appendingPathExtension("part")
        var attempts = 0
        var total: Int64? = size
        var complete = false
        var lastError: WeightsError?
        while attempts < options.maxAttempts {
            attempts += 1
            let have = fileSize(part) ?? 0
            if let t = total, have == t {
                complete = true
                break
            }
            if let t = total, have > t { try? fm.removeItem(at: part) }
            let outcome = runAttempt(url: url, part: part, offset: fileSize(part) ?? 0)
            switch outcome {
            case let .finished(t):
                total = t ?? total
                let now = fileSize(part) ?? 0
                if let t = total, now < t {
                    lastError = .network(url: url.absoluteString, reason: "connection closed at \(now) of \(t) bytes")
                } else {
                    complete = true
                }
            case .rangeNotSatisfiable:
                // The server has nothing past our offset: the .part is complete (or too long,
                // which the checksum will tell).
                complete = true
            case let .failed(err, t):
                total = t ?? total
                if case let .httpStatus(_, status) = err, status < 500 {
                    try? fm.removeItem(at: part)
                    throw err
                }
                lastError = err
            }
            if complete { break }
            if options.retryDelay > 0 { Thread.sleep(forTimeInterval: options.retryDelay) }
        }
        guard complete else {
            if let e = lastError, attempts <= 1 { throw e }
            throw WeightsError.incomplete(
                url: url.absoluteString, attempts: attempts, have: fileSize(part) ?? 0, expected: total)
        }
        let bytes = fileSize(part) ?? 0
        if let s = size, s != bytes {
            try? fm.removeItem(at: part)
            throw WeightsError.sizeMismatch(file: dest.path, expected: s, actual: bytes)
        }
        let hex = try SHA256.hex(ofFile: part)
        if matches(hex) == false {
            try? fm.removeItem(at: part)
            throw WeightsError.checksumMismatch(
                file: dest.path, expected: sha256 ?? "\(sha256Prefix ?? "")…", actual: hex)
        }
        guard rename(part.path, dest.path) == 0 else {
            throw WeightsError.io(path: dest.path, reason: "rename failed: \(String(cString: strerror(errno)))")
        }
        return Result(path: dest, sha256: hex, bytes: bytes, attempts: attempts, alreadyPresent: false)
    }

    func fileSize(_ url: URL) -> Int64? {
        (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.int64Value
    }

    enum Outcome {
        /// Transfer ended without error; the total size if the server said.
        case finished(total: Int64?)
        case rangeNotSatisfiable
        case failed(WeightsError, total: Int64?)
    }

    /// One HTTP request, streaming the body into `part` starting at `offset`.
    func runAttempt(url: URL, part: URL, offset: Int64) -> Outcome {
        var request = URLRequest(url: url)
        request.timeoutInterval = options.idleTimeout
        if offset > 0 { request.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }
        let sink = Sink(part: part, offset: offset, progress: options.progress)
        let config = URLSessionConfiguration.ephemeral
        config.requestCachePolicy = .reloadIgnoringLocalCacheData
        config.timeoutIntervalForRequest = options.idleTimeout
        let session = URLSession(configuration: config, delegate: sink, delegateQueue: nil)
        session.dataTask(with: request).resume()
        sink.done.wait()
        session.finishTasksAndInvalidate()
        sink.close()
        if let e = sink.error { return .failed(e, total: sink.total) }
        if sink.status == 416 { return .rangeNotSatisfiable }
        if let s = sink.status, !(200..<300).contains(s) {
            return .failed(.httpStatus(url: url.absoluteString, status: s), total: nil)
        }
        if let te = sink.transportError {
            // The bytes received so far stay in .part; the next attempt resumes after them.
            return .failed(.network(url: url.absoluteString, reason: te), total: sink.total)
        }
        return .finished(total: sink.total)
    }

    /// URLSession delegate that writes the body to disk as it arrives. Its state is written on
    /// the session's delegate queue and read by the caller only after `done` is signalled.
    final class Sink: NSObject, URLSessionDataDelegate, @unchecked Sendable {
        let part: URL
        var offset: Int64
        let progress: ((Int64, Int64?) -> Void)?
        let done = DispatchSemaphore(value: 0)
        var handle: FileHandle?
        var status: Int?
        var total: Int64?
        var received: Int64 = 0
        var error: WeightsError?
        var transportError: String?

        init(part: URL, offset: Int64, progress: ((Int64, Int64?) -> Void)?) {
            self.part = part
            self.offset = offset
            self.progress = progress
        }

        func urlSession(
            _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
            completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
        ) {
            guard let http = response as? HTTPURLResponse else {
                completionHandler(.allow)
                return
            }
            status = http.statusCode
            let length = http.expectedContentLength >= 0 ? http.expectedContentLength : nil
            switch http.statusCode {
            case 206:
                // Content-Range: bytes <start>-<end>/<total>
                let cr = (http.allHeaderFields["Content-Range"] ?? http.allHeaderFields["content-range"]) as? String
                let (start, t) = Self.parseContentRange(cr)
                if let start, start != offset {
                    error = .network(url: part.path, reason: "server resumed at byte \(start), asked for \(offset)")
                    completionHandler(.cancel)
                    return
                }
                total = t ?? length.map { $0 + offset }
                openHandle(truncate: false)
            case 200:
                // The server ignored the range: start over.
                offset = 0
                total = length
                openHandle(truncate: true)
            default:
                break
            }
            if error == nil, (200..<300).contains(http.statusCode), handle == nil {
                error = .io(path: part.path, reason: "cannot open for writing")
                completionHandler(.cancel)
                return
            }
            completionHandler(.allow)
        }

        func openHandle(truncate: Bool) {
            let fm = FileManager.default
            if truncate || !fm.fileExists(atPath: part.path) {
                _ = fm.createFile(atPath: part.path, contents: nil)
            }
            handle = FileHandle(forWritingAtPath: part.path)
            if truncate { handle?.truncateFile(atOffset: 0) }
            handle?.seek(toFileOffset: UInt64(offset))
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
            guard let h = handle, let s = status, (200..<300).contains(s), error == nil else { return }
            do {
                try h.write(contentsOf: data)
            } catch {
                self.error = .io(path: part.path, reason: "write failed: \(error.localizedDescription)")
                dataTask.cancel()
                return
            }
            received += Int64(data.count)
            progress?(offset + received, total)
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
            if let error, self.error == nil { transportError = error.localizedDescription }
            done.signal()
        }

        func close() {
            handle?.synchronizeFile()
            handle?.closeFile()
            handle = nil
        }

        static func parseContentRange(_ s: String?) -> (Int64?, Int64?) {
            guard let s, let sp = s.firstIndex(of: " ") else { return (nil, nil) }
            let rest = s[s.index(after: sp)...]
            let parts = rest.split(separator: "/")
            let start = parts.first?.split(separator: "-").first.flatMap { Int64($0) }
            let total = parts.count > 1 ? Int64(parts[1]) : nil
            return (start, total)
        }
    }
}
