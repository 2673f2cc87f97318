import Foundation
import Logging
import SchedulerClient
import Storage
import TinyKVProto
import Transport

/// A running raft store: its two engines, the raft and apply threads, the transport
/// to other stores and the heartbeats to the scheduler.
///
/// ```swift
/// let node = try await RaftStoreNode.start(config: config, dataPath: dir, storeAddress: "127.0.0.1:20160",
///                                          schedulerAddress: "127.0.0.1:2379", logger: logger)
/// // serve node.storage with the raw and transaction services, add node.handlers to the server
/// node.stop()
/// ```
public final class RaftStoreNode: Sendable {
    /// This store's id (from the scheduler, persisted in `StoreIdent`).
    public let storeID: UInt64
    /// The storage for the KV services, routed through Raft.
    public let storage: RaftKVStorage
    /// `TinyKv/Raft` and `TinyKv/Snapshot` server handlers to add to the store's gRPC server.
    public let handlers: ServiceHandlers
    let poller: RaftPoller
    /// The snapshot files under `<dataPath>/snap` (generated ones to send, received ones to apply).
    let snapshots: SnapshotManager
    private let kvEngine: RocksEngine
    private let raftEngine: any RaftLogStore
    private let scheduler: any SchedulerAPI
    private let transport: any RaftTransport
    private let heartbeatTask: Task<Void, Never>

    /// Opens the raft engine (``RaftEngineDirectory``) and `<dataPath>/kv`, joins the cluster through the scheduler at
    /// `schedulerAddress` (bootstrapping it if this is the first store) and starts serving.
    public static func start(config: RaftStoreConfig, dataPath: String, storeAddress: String,
                             schedulerAddress: String, logger: Logger) async throws -> RaftStoreNode {
        let scheduler = SchedulerClient(address: schedulerAddress, logger: logger, tls: config.tls)
        let snapshots = try SnapshotManager(directory: dataPath + "/snap")
        return try await start(config: config, dataPath: dataPath, storeAddress: storeAddress, scheduler: scheduler,
                               transport: RaftClient(scheduler: scheduler, logger: logger, tls: config.tls, snapshots: snapshots),
                               snapshots: snapshots, logger: logger)
    }

    /// As above with an explicit scheduler and transport (in-process clusters in tests), and
    /// the clock leader leases are measured with.
    /// `snapshots` (default: a manager of `<dataPath>/snap`) must be the one `transport` sends from.
    public static func start(config: RaftStoreConfig, dataPath: String, storeAddress: String,
                             scheduler: any SchedulerAPI, transport: any RaftTransport, snapshots: SnapshotManager? = nil,
                             logger: Logger, leaseClock: LeaseClock = .system) async throws -> RaftStoreNode {
        let snapshots = try snapshots ?? SnapshotManager(directory: dataPath + "/snap")
        try FileManager.default.createDirectory(atPath: dataPath + "/kv", withIntermediateDirectories: true)
        let raftEngine = try RaftEngineDirectory.open(config.raftEngine, dataPath: dataPath, logger: logger)
        let kvEngine: RocksEngine
        do {
            kvEngine = try RocksEngine(path: dataPath + "/kv", columnFamilies: ColumnFamily.kvEngineFamilies)
        } catch {
            raftEngine.close()
            throw error
        }
        let storeID: UInt64
        do {
            storeID = try await StoreBootstrap.run(kvEngine: kvEngine, raftEngine: raftEngine, scheduler: scheduler,
                                                   address: storeAddress, logger: logger)
        } catch {
            raftEngine.close()
            kvEngine.close()
            throw error
        }
        do {
            return try RaftStoreNode(storeID: storeID, config: config, dataPath: dataPath, raftEngine: raftEngine, kvEngine: kvEngine,
                                     scheduler: scheduler, transport: transport, snapshots: snapshots, logger: logger,
                                     leaseClock: leaseClock)
        } catch {
            raftEngine.close()
            kvEngine.close()
            throw error
        }
    }

    private init(storeID: UInt64, config: RaftStoreConfig, dataPath: String, raftEngine: any RaftLogStore, kvEngine: RocksEngine,
                 scheduler: any SchedulerAPI, transport: any RaftTransport, snapshots: SnapshotManager, logger: Logger,
                 leaseClock: LeaseClock) throws {
        self.storeID = storeID
        self.snapshots = snapshots
        self.raftEngine = raftEngine
        self.kvEngine = kvEngine
        self.scheduler = scheduler
        self.transport = transport
        var logger = logger
        logger[metadataKey: "store"] = "\(storeID)"
        let poller = RaftPoller(
            storeID: storeID, config: config, raftEngine: raftEngine, kvEngine: kvEngine, transport: transport,
            snapshots: snapshots, logger: logger, clock: leaseClock,
            regionHeartbeat: { scheduler.regionHeartbeat($0) },
            regionSize: { region in RegionData.approximateSize(region, engine: kvEngine) },
            askSplit: { region in try await scheduler.askSplit(region) },
            lookupRegion: { id in try await scheduler.getRegion(id: id).region })
        self.poller = poller
        storage = RaftKVStorage(inbox: poller.inbox, localReader: poller.localReader)
        handlers = RaftHandlers.make(inbox: poller.inbox, snapshots: snapshots)
        let inbox = poller.inbox
        scheduler.onRegionHeartbeatResponse { response in inbox.push(.schedulerCommand(response)) }
        try poller.start()
        let stats = poller.stats
        heartbeatTask = Heartbeats.storeLoop(storeID: storeID, dataPath: dataPath, interval: config.storeHeartbeatTickInterval,
                                             scheduler: scheduler, regionCount: { stats.regionCount }, logger: logger)
    }

    /// Reads this store served from a leader lease so far (no ReadIndex round trip).
    public var leaseReadCount: Int { poller.stats.leaseReads + poller.localReader.served.load(ordering: .relaxed) }

    /// Delivers a message received from another store (what the `Raft` handler does).
    public func deliver(_ message: RaftServerpb.RaftMessage) {
        poller.inbox.push(.raftMessage(message))
    }

    /// Proposes `request` through the region's log and answers once it is applied: Put and
    /// Delete write, Get reads the value as of its entry, Snap returns the region (the same
    /// routing, epoch and key checks as writes; errors in `header.error`). The services read
    /// through ReadIndex instead, which needs no log entry.
    public func execute(_ request: RaftCmdpb.RaftCmdRequest) async -> RaftCmdpb.RaftCmdResponse {
        await withCheckedContinuation { continuation in
            let accepted = poller.inbox.push(.command(request) { continuation.resume(returning: $0) })
            if !accepted {
                let error = RegionErrors.regionNotFound(request.header?.regionId ?? 0)
                continuation.resume(returning: RaftCmdpb.RaftCmdResponse(header: RaftCmdpb.RaftResponseHeader(error: error)))
            }
        }
    }

    /// Starts receiving a snapshot stream (what the `Snapshot` handler does with each stream);
    /// throws when too many are being received.
    func snapshotReceiver() throws -> SnapshotReceiver {
        try SnapshotReceiver(manager: snapshots)
    }

    /// Splits region `regionID` (led by this store) at the boundary `key`, a routing key (see
    /// ``RegionData``: `EncodeBytes(user key)` between transactional data, a raw key between raw data):
    /// asks the scheduler for
    /// ids and proposes `Split`. Returns once the leader applied it; the new region `[key, end)`
    /// then starts on every store of the region. Throws ``RegionError`` (`not_leader`,
    /// `key_not_in_region`, `epoch_not_match`, ...).
    public func splitRegion(_ regionID: UInt64, at key: [UInt8]) async throws {
        let error = await withCheckedContinuation { (continuation: CheckedContinuation<Errorpb.Error?, Never>) in
            let accepted = poller.inbox.push(.split(regionID: regionID, key: key) { continuation.resume(returning: $0) })
            if !accepted { continuation.resume(returning: RegionErrors.regionNotFound(regionID)) }
        }
        if let error { throw RegionError(error) }
    }

    /// A summary of one region on this store, for tests and status pages.
    public struct RegionStatus: Sendable {
        public var region: Metapb.Region
        public var peerID: UInt64
        public var leaderID: UInt64
        public var isLeader: Bool
        public var term: UInt64
        public var appliedIndex: UInt64
        public var firstIndex: UInt64
        public var lastIndex: UInt64
        /// Asleep: idle, not ticking (see hibernate-regions).
        public var hibernating: Bool
    }

    /// The regions of this store as the raft thread sees them now.
    public func regions() async -> [RegionStatus] {
        await withCheckedContinuation { continuation in
            let accepted = poller.inbox.push(.inspect { poller in
                let statuses = poller.peers.values.map { peer in
                    RegionStatus(region: peer.region, peerID: peer.meta.id, leaderID: peer.leaderID, isLeader: peer.isLeader,
                                 term: peer.raw.term, appliedIndex: peer.appliedIndex,
                                 firstIndex: (try? peer.storage.firstIndex()) ?? 0, lastIndex: (try? peer.storage.lastIndex()) ?? 0,
                                 hibernating: peer.hibernating)
                }
                continuation.resume(returning: statuses.sorted { $0.region.id < $1.region.id })
            })
            if !accepted { continuation.resume(returning: []) }
        }
    }

    /// This store's copy of region `regionID` (leader or not), as of now: for tests comparing
    /// replicas. Nil when the store has no initialized peer of the region.
    func localReader(_ regionID: UInt64) async -> (any KVReader)? {
        let region: Metapb.Region? = await withCheckedContinuation { continuation in
            let accepted = poller.inbox.push(.inspect { poller in
                let peer = poller.peers[regionID]
                continuation.resume(returning: peer?.storage.isInitialized == true ? peer?.region : nil)
            })
            if !accepted { continuation.resume(returning: nil) }
        }
        guard let region, let snapshot = try? kvEngine.snapshot() else { return nil }
        return RegionReader(inner: snapshot, region: region)
    }

    /// The routing key (see ``RegionData``) of every key stored in the data families of this
    /// store's engine, whatever region it belongs to.
    func storedRoutingKeys() throws -> [[UInt8]] {
        var keys: [[UInt8]] = []
        for cf in ColumnFamily.dataFamilies {
            let iterator = try kvEngine.makeIterator(cf, lowerBound: nil, upperBound: nil)
            iterator.seekToFirst()
            while iterator.isValid {
                keys.append(RegionData.routingKey(cf, iterator.key))
                iterator.next()
            }
            try iterator.checkError()
        }
        return keys
    }

    /// Stops heartbeats and threads, then closes the engines. Waiting requests fail with `region_not_found`.
    public func stop() {
        heartbeatTask.cancel()
        poller.stop()
        (transport as? RaftClient)?.close()
        scheduler.close()
        raftEngine.close()
        kvEngine.close()
    }
}
