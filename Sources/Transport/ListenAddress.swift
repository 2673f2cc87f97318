import Glibc

/// A check that a server could listen on an address, made before anything announces it.
///
/// It says why an address cannot be bound, which the gRPC core does not. A store also binds
/// its gRPC address before it joins the cluster (``GRPCServer/start(adding:)`` serves the
/// handlers once the joined raft store exists), so a port taken after the check still fails
/// before the store registers. (The store's status port binds in its own `StatusPort`, also
/// before the store joins; the scheduler checks its status port with this.)
public enum ListenAddress {
    /// Binds and closes a socket on `address` ("host:port", "[v6 address]:port") the way the
    /// gRPC core binds it (SO_REUSEADDR, no SO_REUSEPORT): succeeds when any resolved address
    /// binds, as the core does.
    ///
    /// - Throws: ``GRPCServerError/addressUnavailable(address:reason:)`` with the system's reason.
    public static func checkBindable(_ address: String) throws {
        guard let (host, port) = split(address) else {
            throw GRPCServerError.addressUnavailable(address: address, reason: "expected host:port")
        }
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host.isEmpty ? nil : host, port, &hints, &results)
        guard status == 0, let first = results else {
            throw GRPCServerError.addressUnavailable(address: address, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(first) }
        var reason = "no address resolved"
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            candidate = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            guard fd >= 0 else {
                reason = String(cString: strerror(errno))
                continue
            }
            defer { close(fd) }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return }
            reason = String(cString: strerror(errno))
        }
        throw GRPCServerError.addressUnavailable(address: address, reason: reason)
    }

    /// "host:port" or "[v6]:port" into host and port; nil without a port.
    static func split(_ address: String) -> (host: String, port: String)? {
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            let rest = address[address.index(after: close)...]
            guard rest.hasPrefix(":"), rest.count > 1 else { return nil }
            return (String(address[address.index(after: address.startIndex)..<close]), String(rest.dropFirst()))
        }
        guard let colon = address.lastIndex(of: ":"), address.index(after: colon) < address.endIndex else { return nil }
        return (String(address[..<colon]), String(address[address.index(after: colon)...]))
    }
}
