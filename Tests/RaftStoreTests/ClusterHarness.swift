import Foundation
import Logging
import Raft
@testable import RaftStore
import Scheduler
import SchedulerClient
import Storage
import Synchronization
import TinyKVProto
import XCTest

/// The real `SchedulerServer`, called directly (no gRPC), behind `SchedulerAPI`.
/// One per store (each has its own heartbeat stream, like the gRPC client).
final class InProcessScheduler: SchedulerAPI {
    let server: SchedulerServer
    private let handler = Mutex<(@Sendable (Schedulerpb.RegionHeartbeatResponse) -> Void)?>(nil)
    /// One heartbeat stream per store, like the real client.
    private let stream: AsyncStream<Schedulerpb.RegionHeartbeatRequest>
    private let input: AsyncStream<Schedulerpb.RegionHeartbeatRequest>.Continuation
    private let task = Mutex<Task<Void, Never>?>(nil)
    /// When false, every call fails (the scheduler is unreachable for this store).
    let reachable = Mutex(true)

    init(server: SchedulerServer) {
        self.server = server
        (stream, input) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1024))
    }

    private var header: Schedulerpb.RequestHeader { Schedulerpb.RequestHeader(clusterId: server.clusterID) }

    private func check(_ header: Schedulerpb.ResponseHeader?) throws {
        guard reachable.withLock({ $0 }) else { throw SchedulerError(type: .unknown, message: "unreachable") }
        try SchedulerError.check(header)
    }

    func clusterID() async throws -> UInt64 { server.clusterID }
    func allocID() async throws -> UInt64 {
        let response = await server.allocID(.init(header: header))
        try check(response.header)
        return response.id
    }
    func isBootstrapped() async throws -> Bool {
        let response = await server.isBootstrapped(.init(header: header))
        try check(response.header)
        return response.bootstrapped
    }
    func bootstrap(store: Metapb.Store) async throws -> Bool {
        let response = await server.bootstrap(.init(header: header, store: store))
        if response.header?.error?.type == .alreadyBootstrapped { return false }
        try check(response.header)
        return true
    }
    func putStore(_ store: Metapb.Store) async throws {
        try check(await server.putStore(.init(header: header, store: store)).header)
    }
    func getStore(_ id: UInt64) async throws -> Metapb.Store {
        let response = await server.getStore(.init(header: header, storeId: id))
        try check(response.header)
        return response.store ?? Metapb.Store()
    }
    func invalidateStore(_ id: UInt64) {}
    func storeHeartbeat(_ stats: Schedulerpb.StoreStats) async throws {
        try check(await server.storeHeartbeat(.init(header: header, stats: stats)).header)
    }
    func regionHeartbeat(_ request: Schedulerpb.RegionHeartbeatRequest) {
        task.withLock { current in
            guard current == nil else { return }
            let server = self.server, stream = self.stream
            current = Task { [self] in
                try? await server.regionHeartbeat(requests: stream) { response in self.handler.withLock { $0 }?(response) }
            }
        }
        var request = request
        request.header = header
        input.yield(request)
    }
    func onRegionHeartbeatResponse(_ handler: @escaping @Sendable (Schedulerpb.RegionHeartbeatResponse) -> Void) {
        self.handler.withLock { $0 = handler }
    }
    /// Hands `command` to the store as if the scheduler had answered a heartbeat with it.
    func deliver(_ command: Schedulerpb.RegionHeartbeatResponse) {
        handler.withLock { $0 }?(command)
    }
    func askSplit(_ region: Metapb.Region) async throws -> Schedulerpb.AskSplitResponse {
        let response = await server.askSplit(.init(header: header, region: region))
        try check(response.header)
        return response
    }
    func getRegion(key: [UInt8]) async throws -> (region: Metapb.Region?, leader: Metapb.Peer?) {
        let response = await server.getRegion(.init(header: header, regionKey: key))
        try check(response.header)
        return (response.region, response.leader)
    }
    func getRegion(id: UInt64) async throws -> (region: Metapb.Region?, leader: Metapb.Peer?) {
        let response = await server.getRegionByID(.init(header: header, regionId: id))
        try check(response.header)
        return (response.region, response.leader)
    }
    func close() {
        input.finish()
        task.withLock { $0?.cancel() }
    }
}

/// A simulated network between in-process stores: messages are delivered directly,
/// except across a partition or to a stopped store, or when the seeded dice drop them.
final class SimNetwork: Sendable {
    struct State {
        var nodes: [UInt64: RaftStoreNode] = [:]
        /// Store id → partition group; stores in different groups can't talk. Empty: no partition.
        var groups: [UInt64: Int] = [:]
        var dropRate = 0.0
        var random = SplitMix(seed: 1)
        var delivered = 0
        /// Delivered messages of regions (store pings, region 0, not counted).
        var regionMessages = 0
        /// Snapshot chunks streamed (message chunks included).
        var snapshotChunks = 0
        /// Messages this returns true for are dropped (a targeted filter, like TiKV's test transport filters).
        var dropIf: (@Sendable (RaftServerpb.RaftMessage) -> Bool)?
    }
    let state = Mutex(State())

    typealias SplitMix = SeededGenerator

    func transport() -> SimTransport { SimTransport(network: self) }

    func isolate(_ store: UInt64) {
        state.withLock { s in
            s.groups = [:]
            for id in s.nodes.keys { s.groups[id] = id == store ? 1 : 0 }
            s.groups[store] = 1
        }
    }

    func partition(_ groups: [[UInt64]]) {
        state.withLock { s in
            s.groups = [:]
            for (index, group) in groups.enumerated() { for id in group { s.groups[id] = index } }
        }
    }

    func heal() { state.withLock { $0.groups = [:] } }

    func route(_ message: RaftServerpb.RaftMessage) -> RaftStoreNode? {
        state.withLock { s in
            let from = message.fromPeer?.storeId ?? 0, to = message.toPeer?.storeId ?? 0
            if !s.groups.isEmpty, s.groups[from, default: -1] != s.groups[to, default: -2] { return nil }
            if s.dropRate > 0, Double.random(in: 0..<1, using: &s.random) < s.dropRate { return nil }
            if let dropIf = s.dropIf, dropIf(message) { return nil }
            s.delivered += 1
            if message.regionId != 0 { s.regionMessages += 1 }
            return s.nodes[to]
        }
    }
}

struct SimTransport: RaftTransport {
    let network: SimNetwork

    func send(_ messages: [RaftServerpb.RaftMessage], feedback: TransportFeedback) {
        for message in messages {
            if message.message?.msgType == .msgSnapshot {
                Task { await sendSnapshot(message, feedback: feedback) }
            } else if let node = network.route(message) {
                // Through the wire format, as the real transport does.
                node.deliver(try! RaftServerpb.RaftMessage(decoding: message.encode()))
            } else {
                feedback.unreachable(message)
            }
        }
    }

    /// Streams a snapshot the way `RaftClient` and the `Snapshot` handler do: the sender's
    /// files in chunks (through the wire format) into a receiver writing the target's files,
    /// which hands the message to the target only once every file checked out.
    private func sendSnapshot(_ message: RaftServerpb.RaftMessage, feedback: TransportFeedback) async {
        let from = message.fromPeer?.storeId ?? 0
        guard let sender = network.state.withLock({ $0.nodes[from] }) else {
            feedback.unreachable(message)
            feedback.snapshotFinished(message, false)
            return
        }
        guard let target = network.route(message) else {
            SnapshotSender.discard(message, manager: sender.snapshots)
            feedback.unreachable(message)
            feedback.snapshotFinished(message, false)
            return
        }
        do {
            let receiver = try target.snapshotReceiver()
            do {
                try await SnapshotSender.send(message, manager: sender.snapshots) { chunk in
                    network.state.withLock { $0.snapshotChunks += 1 }
                    try receiver.accept(RaftServerpb.SnapshotChunk(decoding: chunk.encode()))
                }
                target.deliver(try receiver.finish())
            } catch {
                receiver.abort()
                throw error
            }
            feedback.snapshotFinished(message, true)
        } catch {
            SnapshotSender.discard(message, manager: sender.snapshots)
            feedback.unreachable(message)
            feedback.snapshotFinished(message, false)
        }
    }
}

/// N stores in one process, each with its own engines in a temp directory, the real
/// scheduler in-process, and a simulated network.
final class TestCluster: @unchecked Sendable {
    let directory: String
    let scheduler: InProcessScheduler
    let network = SimNetwork()
    var config = RaftStoreConfig()
    /// The clock every store measures leader leases with (tests may move it).
    var leaseClock = LeaseClock.system
    /// Store id by index (1-based start order) and data path by store id.
    private(set) var paths: [UInt64: String] = [:]
    private(set) var addresses: [UInt64: String] = [:]
    private(set) var order: [UInt64] = []
    private var schedulerTask: Task<Void, Never>?
    /// Each store's own scheduler client (to make the scheduler unreachable for one store).
    private(set) var schedulerClients: [UInt64: InProcessScheduler] = [:]
    let logger: Logger

    init(name: String, replicaChecker: Bool = true, balance: Bool = false) throws {
        directory = NSTemporaryDirectory() + "raftstore-\(name)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var logger = Logger(label: "raftstore-test")
        logger.logLevel = ProcessInfo.processInfo.environment["RAFTSTORE_TEST_LOG"] == nil ? .critical : .info
        self.logger = logger
        var schedulerConfig = SchedulerConfig(dataDirectory: directory + "/scheduler")
        schedulerConfig.patrolIntervalMillis = 50
        schedulerConfig.enableBalanceLeader = balance
        schedulerConfig.enableBalanceRegion = balance
        schedulerConfig.enableReplicaChecker = replicaChecker
        schedulerConfig.maxStoreDownTimeMillis = 1_500
        let server = try SchedulerServer(config: schedulerConfig, logger: logger)
        scheduler = InProcessScheduler(server: server)
        schedulerTask = Task { await server.run() }
        config.baseTickInterval = .milliseconds(20)
        config.heartbeatTicks = 2
        config.electionTicks = 10
        config.schedulerHeartbeatTickInterval = .milliseconds(100)
        config.storeHeartbeatTickInterval = .milliseconds(100)
        config.logGCTickInterval = .milliseconds(100)
        config.logGCCountLimit = 1000
    }

    /// Starts a new store (the first one bootstraps the cluster).
    @discardableResult
    func addStore() async throws -> RaftStoreNode {
        let path = directory + "/store-\(order.count + 1)"
        let client = InProcessScheduler(server: scheduler.server)
        let node = try await RaftStoreNode.start(config: config, dataPath: path, storeAddress: "sim-\(order.count + 1)",
                                                 scheduler: client, transport: network.transport(), logger: logger,
                                                 leaseClock: leaseClock)
        schedulerClients[node.storeID] = client
        paths[node.storeID] = path
        addresses[node.storeID] = "sim-\(order.count + 1)"
        order.append(node.storeID)
        network.state.withLock { $0.nodes[node.storeID] = node }
        return node
    }

    /// Changes the replica count the scheduler maintains.
    func setMaxPeerCount(_ count: UInt32) async throws {
        let server = scheduler.server
        let response = await server.putClusterConfig(.init(header: .init(clusterId: server.clusterID),
                                                           cluster: Metapb.Cluster(id: server.clusterID, maxPeerCount: count)))
        XCTAssertNil(response.header?.error)
    }

    /// The first region as the scheduler knows it.
    func schedulerRegion() async throws -> Metapb.Region? {
        try await scheduler.getRegion(key: []).region
    }

    func node(_ storeID: UInt64) -> RaftStoreNode? { network.state.withLock { $0.nodes[storeID] } }
    var nodes: [RaftStoreNode] { network.state.withLock { Array($0.nodes.values) } }

    /// Stops a store (like a crash: nothing is flushed beyond what Raft already synced).
    func stop(_ storeID: UInt64) {
        let node = network.state.withLock { $0.nodes.removeValue(forKey: storeID) }
        node?.stop()
    }

    func restart(_ storeID: UInt64) async throws {
        let client = InProcessScheduler(server: scheduler.server)
        let node = try await RaftStoreNode.start(config: config, dataPath: paths[storeID]!, storeAddress: addresses[storeID]!,
                                                 scheduler: client, transport: network.transport(), logger: logger,
                                                 leaseClock: leaseClock)
        schedulerClients[storeID] = client
        XCTAssertEqual(node.storeID, storeID)
        network.state.withLock { $0.nodes[storeID] = node }
    }

    func shutdown() {
        for node in nodes { node.stop() }
        network.state.withLock { $0.nodes = [:] }
        schedulerTask?.cancel()
        scheduler.close()
        scheduler.server.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The leader of the region holding `key`, as the stores see it.
    func leader(forKey key: [UInt8]) async -> (RaftStoreNode, RaftStoreNode.RegionStatus)? {
        var best: (RaftStoreNode, RaftStoreNode.RegionStatus)?
        for node in nodes {
            for status in await node.regions() where status.isLeader && !status.region.peers.isEmpty {
                let region = status.region
                let inside = !key.lexicographicallyPrecedes(region.startKey) && (region.endKey.isEmpty || key.lexicographicallyPrecedes(region.endKey))
                // After a split a stale leader may still claim the old, wider range: prefer the newest epoch.
                if inside, (best?.1.region.regionEpoch?.version ?? 0) <= (region.regionEpoch?.version ?? 0) { best = (node, status) }
            }
        }
        return best
    }

    /// The scheduler's regions, in key order.
    func schedulerRegions() async -> [Metapb.Region] {
        let server = scheduler.server
        let response = await server.scanRegions(.init(header: .init(clusterId: server.clusterID), startKey: [], limit: 10_000, endKey: []))
        return response.regions
    }

    /// Splits the region holding `key` at `key` through its leader, retrying region errors.
    func split(at key: String, timeout: Duration = .seconds(10)) async throws {
        try await split(atBoundary: Array(key.utf8), timeout: timeout)
    }

    /// Splits the region holding the boundary `bytes` (a routing key) at it.
    func split(atBoundary bytes: [UInt8], timeout: Duration = .seconds(10)) async throws {
        let key = bytes
        let deadline = ContinuousClock.now + timeout
        var lastError: (any Error)?
        while ContinuousClock.now < deadline {
            if let (node, status) = await leader(forKey: bytes) {
                if status.region.startKey == bytes { return }  // already split there
                do {
                    try await node.splitRegion(status.region.id, at: bytes)
                    return
                } catch {
                    lastError = error
                }
            }
            try await Task.sleep(for: .milliseconds(30))
        }
        XCTFail("split at \(key) did not succeed in time; last error: \(String(describing: lastError))")
        throw CancellationError()
    }

    /// The current leader's store and region status (first region), if any.
    func leader(regionID: UInt64? = nil) async -> (RaftStoreNode, RaftStoreNode.RegionStatus)? {
        for node in nodes {
            for status in await node.regions() where status.isLeader && (regionID == nil || status.region.id == regionID) {
                return (node, status)
            }
        }
        return nil
    }

    /// Polls `condition` until true or `timeout`.
    func waitUntil(_ what: String, timeout: Duration = .seconds(10), _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTFail("timed out waiting for \(what)")
        throw CancellationError()
    }

    /// Adds three stores and waits until the first region's leader has three peers and every
    /// store holds an initialized peer of it (the replica checker's work is done).
    func startThreeReplicas(timeout: Duration = .seconds(20)) async throws {
        for _ in 0..<3 { try await addStore() }
        try await waitUntil("3 replicas", timeout: timeout) {
            guard let (_, status) = await leader(), status.region.peers.count == 3 else { return false }
            for node in nodes where await node.regions().first?.region.peers.isEmpty ?? true { return false }
            return true
        }
    }

    /// Puts through the current leader, retrying region errors like a client would.
    func put(_ key: String, _ value: String, timeout: Duration = .seconds(10)) async throws {
        var batch = WriteBatch()
        batch.put(.default, Array(key.utf8), Array(value.utf8))
        try await withLeader("put \(key)", key: Array(key.utf8), timeout: timeout) { node, context in try await node.storage.write(context, batch) }
    }

    func get(_ key: String, timeout: Duration = .seconds(10)) async throws -> String? {
        var result: String?
        try await withLeader("get \(key)", key: Array(key.utf8), timeout: timeout) { node, context in
            let reader = try await node.storage.reader(context)
            result = try reader.get(.default, Array(key.utf8)).map { String(decoding: $0, as: UTF8.self) }
        }
        return result
    }

    func withLeader(_ what: String, key: [UInt8], timeout: Duration, _ body: (RaftStoreNode, Kvrpcpb.Context) async throws -> Void) async throws {
        let deadline = ContinuousClock.now + timeout
        var lastError: (any Error)?
        while ContinuousClock.now < deadline {
            if let (node, status) = await leader(forKey: key) {
                let peer = status.region.peers.first { $0.id == status.peerID }
                let context = Kvrpcpb.Context(regionId: status.region.id, regionEpoch: status.region.regionEpoch, peer: peer)
                do {
                    try await body(node, context)
                    return
                } catch let error as RegionError {
                    lastError = error
                }
            }
            try await Task.sleep(for: .milliseconds(30))
        }
        XCTFail("\(what) did not succeed in time; last error: \(String(describing: lastError))")
        throw CancellationError()
    }
}

/// A lease clock the test controls: it follows real time until frozen, then moves only
/// when advanced.
final class TestLeaseClock: Sendable {
    private struct State {
        var frozenAt: Duration?
        var offset: Duration = .zero
    }
    private let state = Mutex(State())

    var clock: LeaseClock {
        LeaseClock { [self] in state.withLock { $0.frozenAt ?? LeaseClock.system.now() + $0.offset } }
    }

    func freeze() {
        state.withLock { $0.frozenAt = LeaseClock.system.now() + $0.offset }
    }

    func advance(by duration: Duration) {
        state.withLock { state in
            if let frozenAt = state.frozenAt { state.frozenAt = frozenAt + duration } else { state.offset += duration }
        }
    }
}
