import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal HTTP/1.1 server on 127.0.0.1 (an ephemeral port) for downloader tests: one
/// connection at a time, `Connection: close`, and a handler that decides the status, headers,
/// body, and optionally to cut the connection after some bytes of the body.
final class LoopbackHTTPServer: @unchecked Sendable {
    struct Request {
        var method: String
        var path: String
        var headers: [String: String]  // lowercased names
    }

    struct Response {
        var status: Int
        var headers: [String: String] = [:]
        var body: Data = Data()
        /// Send only this many body bytes, then close (Content-Length still announces the whole body).
        var cutAfter: Int?
    }

    let port: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var _requests: [Request] = []
    private let handler: (Request) -> Response
    private let finished = DispatchSemaphore(value: 0)

    var requests: [Request] {
        lock.lock()
        defer { lock.unlock() }
        return _requests
    }

    init(handler: @escaping (Request) -> Response) throws {
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 8) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = UInt16(bigEndian: addr.sin_port)
        listener = fd
        let t = Thread { [self] in serve() }
        t.start()
    }

    func url(_ path: String) -> URL { URL(string: "http://127.0.0.1:\(port)\(path)")! }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        finished.wait()
    }

    private func serve() {
        defer { finished.signal() }
        while true {
            let c = accept(listener, nil, nil)
            if c < 0 { return }
            handle(c)
            close(c)
        }
    }

    private func handle(_ c: Int32) {
        // Read the request head (no bodies in these tests).
        var head = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        while !head.suffix(4).elementsEqual([13, 10, 13, 10]) {
            let n = recv(c, &buf, buf.count, 0)
            if n <= 0 { return }
            head += buf[0..<n]
            if head.count > 65536 { return }
        }
        let lines = String(decoding: head, as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2 else { return }
        var headers: [String: String] = [:]
        for l in lines.dropFirst() {
            guard let colon = l.firstIndex(of: ":") else { continue }
            headers[l[..<colon].lowercased()] = l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let req = Request(method: String(parts[0]), path: String(parts[1]), headers: headers)
        lock.lock()
        _requests.append(req)
        lock.unlock()
        let resp = handler(req)

        var text = "HTTP/1.1 \(resp.status) \(resp.status == 200 ? "OK" : resp.status == 206 ? "Partial Content" : "Status")\r\n"
        text += "Content-Length: \(resp.body.count)\r\nConnection: close\r\n"
        for (k, v) in resp.headers { text += "\(k): \(v)\r\n" }
        text += "\r\n"
        var out = Data(text.utf8)
        out += resp.body.prefix(resp.cutAfter ?? resp.body.count)
        out.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = send(c, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                off += n
            }
        }
    }

    /// Serves `body` with Range support (206 + Content-Range), as a real file server does.
    static func serveRange(_ body: Data, _ req: Request) -> Response {
        if let r = req.headers["range"], r.hasPrefix("bytes="), let start = Int(r.dropFirst(6).split(separator: "-").first ?? "") {
            guard start < body.count else {
                return Response(status: 416, headers: ["Content-Range": "bytes */\(body.count)"])
            }
            return Response(
                status: 206, headers: ["Content-Range": "bytes \(start)-\(body.count - 1)/\(body.count)"],
                body: body.subdata(in: start..<body.count))
        }
        return Response(status: 200, body: body)
    }
}
