import Synchronization
import TinyKVProto
import Transport

/// `grpc.health.v1.Health`: Check and Watch over a status per service ("" is the whole server).
///
/// Services start NOT_SERVING; the server flips them to SERVING once it is ready (a store that has
/// joined its cluster, a scheduler that has loaded its state) and back to NOT_SERVING when it
/// shuts down. ``shutdown()`` reports NOT_SERVING to every watcher and ends their streams, so open
/// Watch calls never hold up the server's graceful shutdown.
public final class HealthService: Sendable {
    public typealias Status = HealthCheckResponse.ServingStatus

    public static let check = RPCMethod<HealthCheckRequest, HealthCheckResponse>(
        path: "/grpc.health.v1.Health/Check", clientStreaming: false, serverStreaming: false)
    public static let watch = RPCMethod<HealthCheckRequest, HealthCheckResponse>(
        path: "/grpc.health.v1.Health/Watch", clientStreaming: false, serverStreaming: true)

    private struct State {
        var statuses: [String: Status] = [:]
        var watchers: [Int: (service: String, continuation: AsyncStream<Status>.Continuation)] = [:]
        var nextWatcher = 0
        var shutDown = false
    }

    private let state = Mutex(State())

    /// - Parameter services: the services to report on; "" (the server) is always added.
    public init(services: [String]) {
        state.withLock { s in
            for service in services + [""] { s.statuses[service] = .notServing }
        }
    }

    /// The current status of `service`, nil if unknown.
    public func status(of service: String = "") -> Status? {
        state.withLock { $0.statuses[service] }
    }

    /// Sets the status of every known service.
    public func setAll(_ status: Status) {
        let services = state.withLock { Array($0.statuses.keys) }
        for service in services { set(service, status) }
    }

    /// Sets the status of `service` (adding it if new) and tells its watchers about a change.
    public func set(_ service: String, _ status: Status) {
        state.withLock { s in
            guard !s.shutDown else { return }
            let old = s.statuses[service]
            s.statuses[service] = status
            guard old != status else { return }
            for watcher in s.watchers.values where watcher.service == service {
                watcher.continuation.yield(status)
            }
        }
    }

    /// Reports NOT_SERVING everywhere, then ends the Watch streams; later ``set`` calls are ignored.
    public func shutdown() {
        let watchers: [AsyncStream<Status>.Continuation] = state.withLock { s in
            s.shutDown = true
            for key in s.statuses.keys { s.statuses[key] = .notServing }
            return s.watchers.values.map(\.continuation)
        }
        for continuation in watchers {
            continuation.yield(.notServing)
            continuation.finish()
        }
    }

    /// A stream of `service`'s status: the current one, then each change (SERVICE_UNKNOWN while unknown).
    public func updates(of service: String) -> AsyncStream<Status> {
        let (stream, continuation) = AsyncStream<Status>.makeStream(bufferingPolicy: .bufferingNewest(16))
        let id: Int? = state.withLock { s in
            continuation.yield(s.statuses[service] ?? .serviceUnknown)
            if s.shutDown { return nil }
            let id = s.nextWatcher
            s.nextWatcher += 1
            s.watchers[id] = (service, continuation)
            return id
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
        }
        return stream
    }

    public var handlers: ServiceHandlers {
        var handlers = ServiceHandlers()
        handlers.unary(Self.check) { [self] request, _ in
            guard let status = status(of: request.service) else {
                throw GRPCStatus(.notFound, "unknown service \"\(request.service)\"")
            }
            return HealthCheckResponse(status: status)
        }
        handlers.serverStreaming(Self.watch) { [self] request, responses, _ in
            var last: Status?
            for await status in updates(of: request.service) where status != last {
                last = status
                try await responses.send(HealthCheckResponse(status: status))
            }
        }
        return handlers
    }
}
