import CoreMetrics
import Foundation
import Synchronization
import Transport

/// What both servers add for operators: reflection and health services next to their own, and an
/// optional HTTP status port with Prometheus `/metrics` and `/status` JSON.
public final class ServerOperability: Sendable {
    public static let version = "0.1.0"

    public let role: String
    public let health: HealthService
    public let reflection: ReflectionService
    private let startedAt = Date()
    private let startInstant = ContinuousClock.now
    private let status = Mutex<StatusServer?>(nil)

    /// - Parameters:
    ///   - role: "store" or "scheduler".
    ///   - services: the fully-qualified names of the server's own services (health reports each).
    public init(role: String, services: [String]) {
        self.role = role
        let all = services + ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]
        self.health = HealthService(services: services)
        self.reflection = ReflectionService(services: all.sorted())
    }

    /// Reflection and health handlers, to merge into the server's.
    public var handlers: ServiceHandlers {
        var handlers = reflection.handlers
        handlers.merge(health.handlers)
        return handlers
    }

    public var uptime: Duration { ContinuousClock.now - startInstant }

    /// Serves `/metrics` and `/status` on `address`; returns the bound port.
    ///
    /// - Parameters:
    ///   - refresh: called before each `/metrics` rendering, to update gauges (sizes, counts).
    ///   - details: extra `/status` fields.
    @discardableResult
    public func startStatusServer(
        address: String, grpcAddress: String,
        refresh: @escaping @Sendable () -> Void = {},
        details: @escaping @Sendable () -> [String: Any] = { [:] }
    ) throws -> Int {
        let registry = ServerMetrics.registry
        let server = try StatusServer(address: address) { [self] path in
            switch path {
            case "/metrics":
                refresh()
                return StatusServer.Response(contentType: "text/plain; version=0.0.4; charset=utf-8", body: registry.emitToBuffer())
            case "/status":
                var body: [String: Any] = [
                    "role": role,
                    "version": Self.version,
                    "address": grpcAddress,
                    "status_address": address,
                    "start_time": ISO8601DateFormatter().string(from: startedAt),
                    "uptime_seconds": Double(uptime.components.seconds) + Double(uptime.components.attoseconds) / 1e18,
                    "health": health.status()?.description ?? "UNKNOWN",
                ]
                body.merge(details()) { _, new in new }
                return .json(body)
            case "/", "":
                return .text("tinykv \(role) \(Self.version): see /metrics and /status\n")
            default:
                return .text("not found: \(path)\n", status: 404)
            }
        }
        status.withLock { $0 = server }
        return server.port
    }

    /// Marks the server NOT_SERVING (ending Watch streams) ahead of the gRPC shutdown.
    public func beginShutdown() {
        health.shutdown()
    }

    /// Stops the status server.
    public func stop() {
        let server = status.withLock { s -> StatusServer? in
            defer { s = nil }
            return s
        }
        server?.stop()
    }
}

/// Bootstraps the metrics system with Prometheus; call once, first thing in a server's main.
public func bootstrapServerMetrics() {
    _ = ServerMetrics.registry
}
