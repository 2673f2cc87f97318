import CoreMetrics
import Synchronization

/// Per-method server RPC metrics through swift-metrics (no-ops until the process bootstraps a
/// metrics backend), named like go-grpc-prometheus's: `grpc_server_started_total`,
/// `grpc_server_handled_total{grpc_code}` and the `grpc_server_handling_seconds` histogram,
/// labelled with `grpc_service` and `grpc_method`.
final class RPCMetrics: Sendable {
    static let shared = RPCMetrics()

    final class Method: Sendable {
        let labels: [(String, String)]
        let started: Counter
        let latency: Timer
        private let handled = Mutex<[GRPCStatus.Code: Counter]>([:])

        init(path: String, type: String) {
            var service = "unknown"
            var method = "unknown"
            let parts = path.split(separator: "/")
            if parts.count == 2 {
                service = String(parts[0])
                method = String(parts[1])
            }
            labels = [("grpc_service", service), ("grpc_method", method), ("grpc_type", type)]
            started = Counter(label: "grpc_server_started_total", dimensions: labels)
            latency = Timer(label: "grpc_server_handling_seconds", dimensions: labels)
        }

        func finished(_ code: GRPCStatus.Code, since start: ContinuousClock.Instant) {
            latency.recordInterval(since: start)
            handled.withLock { counters in
                if let counter = counters[code] { return counter }
                let counter = Counter(label: "grpc_server_handled_total", dimensions: labels + [("grpc_code", code.canonicalName)])
                counters[code] = counter
                return counter
            }.increment()
        }
    }

    private let methods = Mutex<[String: Method]>([:])

    /// The metrics of `path`; unknown paths share one entry (no label explosion).
    func method(_ path: String, handler: MethodHandler?) -> Method {
        let key = handler == nil ? "unimplemented" : path
        return methods.withLock { methods in
            if let m = methods[key] { return m }
            let type: String
            switch handler {
            case .unary?: type = "unary"
            case .clientStreaming?, .clientStreamingInline?: type = "client_stream"
            case .serverStreaming?: type = "server_stream"
            case .bidiStreaming?, .bidiStreamingInline?: type = "bidi_stream"
            case nil: type = "unknown"
            }
            let m = Method(path: handler == nil ? "/unknown/unknown" : path, type: type)
            methods[key] = m
            return m
        }
    }
}

extension Timer {
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let (seconds, attoseconds) = elapsed.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

extension GRPCStatus.Code {
    /// The canonical upper-case name, e.g. `INVALID_ARGUMENT`.
    public var canonicalName: String {
        var out = ""
        for ch in "\(self)" {
            if ch.isUppercase { out += "_" }
            out += ch.uppercased()
        }
        return out == "INTERNAL_ERROR" ? "INTERNAL" : out
    }
}
