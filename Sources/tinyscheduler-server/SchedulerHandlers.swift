import Metrics
import Scheduler
import TinyKVProto
import Transport

/// The 21 `schedulerpb.Scheduler` methods bound to a ``SchedulerServer``.
enum SchedulerHandlers {
    static func make(_ server: SchedulerServer) -> ServiceHandlers {
        var handlers = ServiceHandlers()
        let api = Schedulerpb.Scheduler.self
        handlers.unary(api.getMembers) { request, _ in await server.getMembers(request) }
        handlers.unary(api.allocID) { request, _ in await server.allocID(request) }
        handlers.unary(api.bootstrap) { request, _ in await server.bootstrap(request) }
        handlers.unary(api.isBootstrapped) { request, _ in await server.isBootstrapped(request) }
        handlers.unary(api.putStore) { request, _ in await server.putStore(request) }
        handlers.unary(api.getStore) { request, _ in await server.getStore(request) }
        handlers.unary(api.getAllStores) { request, _ in await server.getAllStores(request) }
        handlers.unary(api.storeHeartbeat) { request, _ in await server.storeHeartbeat(request) }
        handlers.unary(api.getClusterConfig) { request, _ in await server.getClusterConfig(request) }
        handlers.unary(api.putClusterConfig) { request, _ in await server.putClusterConfig(request) }
        handlers.unary(api.getRegion) { request, _ in await server.getRegion(request) }
        handlers.unary(api.getPrevRegion) { request, _ in await server.getPrevRegion(request) }
        handlers.unary(api.getRegionByID) { request, _ in await server.getRegionByID(request) }
        handlers.unary(api.scanRegions) { request, _ in await server.scanRegions(request) }
        handlers.unary(api.askSplit) { request, _ in await server.askSplit(request) }
        handlers.unary(api.scatterRegion) { request, _ in await server.scatterRegion(request) }
        handlers.unary(api.getOperator) { request, _ in await server.getOperator(request) }
        handlers.unary(api.getGCSafePoint) { request, _ in await server.getGCSafePoint(request) }
        handlers.unary(api.updateGCSafePoint) { request, _ in await server.updateGCSafePoint(request) }
        let tsoRequests = Counter(label: "tinyscheduler_tso_requests_total")
        let tsoTimestamps = Counter(label: "tinyscheduler_tso_timestamps_total")
        // Served inline on the transport's poll thread: allocating a timestamp is a short
        // critical section, cheaper than the two task wake-ups a task-based stream pays per message.
        handlers.bidiStreamingInline(api.tso) { request, _ in
            let response = server.tsoResponse(for: request)
            tsoRequests.increment()
            tsoTimestamps.increment(by: Int(response.count))
            return response
        }
        handlers.bidiStreaming(api.regionHeartbeat) { requests, responses, _ in
            try await server.regionHeartbeat(requests: requests) { try await responses.send($0) }
        }
        return handlers
    }
}
