import Logging
import Synchronization
import TinyKVProto
import Transport

/// A typed client of `schedulerpb.Scheduler` over gRPC.
///
/// Learns the cluster id with GetMembers and stamps it on every request header,
/// caches store addresses, and keeps one RegionHeartbeat stream open in the
/// background (reopened with backoff when it breaks), handing the operator
/// commands it receives to the registered handler.
public final class SchedulerClient: SchedulerAPI {
    private let channel: GRPCChannel
    private let logger: Logger
    private let timeout: Duration
    private struct State {
        var clusterID: UInt64 = 0
        var stores: [UInt64: Metapb.Store] = [:]
        var handler: (@Sendable (Schedulerpb.RegionHeartbeatResponse) -> Void)?
        var heartbeatTask: Task<Void, Never>?
        var closed = false
    }
    private let state = Mutex(State())
    private let heartbeats: AsyncStream<Schedulerpb.RegionHeartbeatRequest>
    private let heartbeatInput: AsyncStream<Schedulerpb.RegionHeartbeatRequest>.Continuation

    /// A client of the scheduler at `address` ("host:port"), over TLS when `tls` is given; connects lazily.
    public init(address: String, logger: Logger, timeout: Duration = .seconds(5), tls: TLSConfig? = nil) {
        channel = GRPCChannel(target: address, tls: tls)
        self.logger = logger
        self.timeout = timeout
        // Heartbeats are periodic and idempotent: when the stream is down, old ones are dropped.
        (heartbeats, heartbeatInput) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1024))
    }

    deinit { close() }

    private func header() async throws -> Schedulerpb.RequestHeader {
        Schedulerpb.RequestHeader(clusterId: try await clusterID())
    }

    public func clusterID() async throws -> UInt64 {
        let cached = state.withLock { $0.clusterID }
        if cached != 0 { return cached }
        let response = try await channel.call(Schedulerpb.Scheduler.getMembers, Schedulerpb.GetMembersRequest(), timeout: timeout)
        try SchedulerError.check(response.header)
        let id = response.header?.clusterId ?? 0
        guard id != 0 else { throw SchedulerError(type: .unknown, message: "GetMembers returned cluster id 0") }
        state.withLock { $0.clusterID = id }
        return id
    }

    public func allocID() async throws -> UInt64 {
        let response = try await channel.call(Schedulerpb.Scheduler.allocID, Schedulerpb.AllocIDRequest(header: try await header()), timeout: timeout)
        try SchedulerError.check(response.header)
        return response.id
    }

    public func isBootstrapped() async throws -> Bool {
        let response = try await channel.call(Schedulerpb.Scheduler.isBootstrapped,
                                              Schedulerpb.IsBootstrappedRequest(header: try await header()), timeout: timeout)
        try SchedulerError.check(response.header)
        return response.bootstrapped
    }

    public func bootstrap(store: Metapb.Store) async throws -> Bool {
        let response = try await channel.call(Schedulerpb.Scheduler.bootstrap,
                                              Schedulerpb.BootstrapRequest(header: try await header(), store: store), timeout: timeout)
        if response.header?.error?.type == .alreadyBootstrapped { return false }
        try SchedulerError.check(response.header)
        return true
    }

    public func putStore(_ store: Metapb.Store) async throws {
        let response = try await channel.call(Schedulerpb.Scheduler.putStore,
                                              Schedulerpb.PutStoreRequest(header: try await header(), store: store), timeout: timeout)
        try SchedulerError.check(response.header)
    }

    public func getStore(_ id: UInt64) async throws -> Metapb.Store {
        if let cached = state.withLock({ $0.stores[id] }) { return cached }
        let response = try await channel.call(Schedulerpb.Scheduler.getStore,
                                              Schedulerpb.GetStoreRequest(header: try await header(), storeId: id), timeout: timeout)
        try SchedulerError.check(response.header)
        guard let store = response.store else { throw SchedulerError(type: .unknown, message: "store \(id) not found") }
        state.withLock { $0.stores[id] = store }
        return store
    }

    public func invalidateStore(_ id: UInt64) {
        _ = state.withLock { $0.stores.removeValue(forKey: id) }
    }

    public func storeHeartbeat(_ stats: Schedulerpb.StoreStats) async throws {
        let response = try await channel.call(Schedulerpb.Scheduler.storeHeartbeat,
                                              Schedulerpb.StoreHeartbeatRequest(header: try await header(), stats: stats), timeout: timeout)
        try SchedulerError.check(response.header)
    }

    public func askSplit(_ region: Metapb.Region) async throws -> Schedulerpb.AskSplitResponse {
        let response = try await channel.call(Schedulerpb.Scheduler.askSplit,
                                              Schedulerpb.AskSplitRequest(header: try await header(), region: region), timeout: timeout)
        try SchedulerError.check(response.header)
        return response
    }

    public func getRegion(key: [UInt8]) async throws -> (region: Metapb.Region?, leader: Metapb.Peer?) {
        let response = try await channel.call(Schedulerpb.Scheduler.getRegion,
                                              Schedulerpb.GetRegionRequest(header: try await header(), regionKey: key), timeout: timeout)
        try SchedulerError.check(response.header)
        return (response.region, response.leader)
    }

    public func getRegion(id: UInt64) async throws -> (region: Metapb.Region?, leader: Metapb.Peer?) {
        let response = try await channel.call(Schedulerpb.Scheduler.getRegionByID,
                                              Schedulerpb.GetRegionByIDRequest(header: try await header(), regionId: id), timeout: timeout)
        try SchedulerError.check(response.header)
        return (response.region, response.leader)
    }

    public func onRegionHeartbeatResponse(_ handler: @escaping @Sendable (Schedulerpb.RegionHeartbeatResponse) -> Void) {
        state.withLock { $0.handler = handler }
    }

    public func regionHeartbeat(_ request: Schedulerpb.RegionHeartbeatRequest) {
        let start = state.withLock { s -> Bool in
            guard !s.closed, s.heartbeatTask == nil else { return false }
            s.heartbeatTask = Task { [weak self] in await self?.runHeartbeatStream() }
            return true
        }
        if start { logger.debug("region heartbeat stream starting") }
        heartbeatInput.yield(request)
    }

    /// Keeps the RegionHeartbeat stream open: sends queued heartbeats, dispatches responses.
    private func runHeartbeatStream() async {
        var backoff: Duration = .milliseconds(100)
        var iterator = heartbeats.makeAsyncIterator()
        var pending: Schedulerpb.RegionHeartbeatRequest?
        while !Task.isCancelled && !state.withLock({ $0.closed }) {
            do {
                let header = try await header()
                let call = try channel.bidiStreaming(method: Schedulerpb.Scheduler.regionHeartbeat.path)
                let receiver = Task { [weak self] in
                    while let bytes = try await call.receive() {
                        guard let response = try? Schedulerpb.RegionHeartbeatResponse(decoding: bytes) else { continue }
                        self?.state.withLock { $0.handler }?(response)
                    }
                }
                defer { receiver.cancel(); call.cancel() }
                while true {
                    let next: Schedulerpb.RegionHeartbeatRequest?
                    if let queued = pending { next = queued } else { next = await iterator.next() }
                    guard var request = next else { return }
                    pending = request
                    request.header = header
                    try await call.send(request.encode())
                    pending = nil
                    backoff = .milliseconds(100)
                }
            } catch {
                logger.debug("region heartbeat stream failed; reconnecting", metadata: ["error": "\(error)"])
                pending = nil  // periodic: the next one supersedes it
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
    }

    public func close() {
        let task = state.withLock { s -> Task<Void, Never>? in
            s.closed = true
            defer { s.heartbeatTask = nil }
            return s.heartbeatTask
        }
        task?.cancel()
        heartbeatInput.finish()
        channel.close()
    }
}
