import Foundation
import Transport
#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP/1.1 server for `/metrics` and `/status`, on one thread with blocking sockets.
///
/// Deliberately minimal (GET only, one request per connection, `Connection: close`): it serves
/// Prometheus scrapes and people with curl, and it costs nothing at build time, unlike an HTTP
/// framework. Requests are handled one at a time.
public final class StatusServer: @unchecked Sendable {
    // @unchecked: `listener` is written in init only; `stopped` is guarded by `lock`.
    public struct Response: Sendable {
        public var status: Int
        public var contentType: String
        public var body: [UInt8]

        public init(status: Int = 200, contentType: String, body: [UInt8]) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }

        public static func text(_ text: String, status: Int = 200) -> Response {
            Response(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
        }

        public static func json(_ object: Any) -> Response {
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data()
            return Response(contentType: "application/json", body: [UInt8](data) + [10])
        }
    }

    public typealias Handler = @Sendable (_ path: String) -> Response

    public enum Failure: Error, CustomStringConvertible {
        case badAddress(String)
        case bind(String, Int32)

        public var description: String {
            switch self {
            case .badAddress(let a): return "status address \"\(a)\" must be HOST:PORT with an IPv4 host"
            case .bind(let a, let e): return "cannot listen on status address \(a): \(String(cString: strerror(e)))"
            }
        }
    }

    private let listener: Int32
    private let handler: Handler
    private let lock = NSLock()
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)
    /// The bound port (useful with port 0).
    public let port: Int

    /// Binds `address` (e.g. "127.0.0.1:20180", "0.0.0.0:0") and starts serving.
    public init(address: String, handler: @escaping Handler) throws {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw Failure.badAddress(address)
        }
        var host = String(address[..<colon])
        if host.isEmpty { host = "0.0.0.0" }
        if host == "localhost" { host = "127.0.0.1" }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { throw Failure.badAddress(address) }

        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure.bind(address, errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            let e = errno
            close(fd)
            throw Failure.bind(address, e)
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        self.listener = fd
        self.handler = handler
        let thread = Thread { [self] in
            nameCurrentThread("status-http")
            serve()
        }
        thread.start()
    }

    /// Stops accepting and waits for the serving thread to finish.
    public func stop() {
        let first: Bool = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
        done.wait()
        close(listener)
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func serve() {
        defer { done.signal() }
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if isStopped { return }
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EINVAL { return }
                usleep(10_000)
                continue
            }
            handle(client)
            close(client)
        }
    }

    private func handle(_ fd: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        while request.count < 16 * 1024 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            request.append(contentsOf: buffer[0..<n])
            if request.count >= 4, request.suffix(from: max(0, request.count - n - 3)).firstRange(of: end) != nil { break }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        let response: Response
        if parts.count < 2 {
            response = .text("bad request\n", status: 400)
        } else if parts[0] != "GET" && parts[0] != "HEAD" {
            response = .text("only GET is supported\n", status: 405)
        } else {
            var path = String(parts[1])
            if let q = path.firstIndex(of: "?") { path = String(path[..<q]) }
            response = handler(path)
        }
        let reason = [200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"][response.status] ?? "Status"
        var head = "HTTP/1.1 \(response.status) \(reason)\r\n"
        head += "Content-Type: \(response.contentType)\r\n"
        head += "Content-Length: \(response.body.count)\r\n"
        head += "Connection: close\r\n\r\n"
        var out = Array(head.utf8)
        if parts.first != "HEAD" { out += response.body }
        var sent = 0
        while sent < out.count {
            let n = out[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }
}
