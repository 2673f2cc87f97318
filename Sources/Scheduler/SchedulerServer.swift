import Logging
import Synchronization
import TinyKVProto

/// The scheduler (PD role) of a TinyKV cluster, independent of the transport.
///
/// One async method per RPC of `schedulerpb.Scheduler`, taking the request message
/// and returning the response message. Request-level failures (wrong cluster id,
/// not bootstrapped, unknown store, ...) are reported in the response header, as
/// TinyKV clients expect; only a broken stream makes a streaming method throw.
///
/// All state lives in small lock-protected components, so RPCs run concurrently on
/// the caller's task without actor hops; the hot paths (Tso, GetRegion) take one
/// short lock each and never fsync per request.
public final class SchedulerServer: Sendable {
    /// The id of the cluster this server manages; stable across restarts of the same data dir.
    public let clusterID: UInt64
    /// This member's id in GetMembers (derived from its name and URLs, so it is stable).
    public let memberID: UInt64

    let config: SchedulerConfig
    let logger: Logger
    let clock: MillisecondClock
    let storage: ClusterStore
    let tsoAllocator: TSOAllocator
    let idAllocator: IDAllocator
    let cluster: BasicCluster
    let operators: OperatorController
    let coordinator: Coordinator
    let streams = HeartbeatStreams()

    struct Meta {
        /// Set once bootstrapped; holds the cluster config (max peer count).
        var cluster: Metapb.Cluster?
        var gcSafePoint: UInt64
        var closed = false
    }

    /// A class around the lock so closures (the coordinator's max-peer-count source) can share it.
    final class MetaBox: Sendable {
        let state: Mutex<Meta>
        init(_ meta: Meta) { state = Mutex(meta) }
    }

    let meta: MetaBox

    /// Opens (or creates) the metadata database under `config.dataDirectory` and loads
    /// the cluster id, bootstrap state, stores, regions, GC safe point and the
    /// ID/TSO high-water marks.
    ///
    /// - Throws: when the database cannot be opened or holds corrupt data.
    public convenience init(config: SchedulerConfig, logger: Logger) throws {
        try self.init(config: config, logger: logger, clock: wallClockMillis)
    }

    /// As the public initializer, with an injectable clock (tests).
    init(config: SchedulerConfig, logger: Logger, clock: @escaping MillisecondClock) throws {
        self.config = config
        self.logger = logger
        self.clock = clock
        let storage = try ClusterStore(directory: config.dataDirectory)
        self.storage = storage
        let now = clock()

        if let id = try storage.loadClusterID() {
            clusterID = id
        } else {
            // PD's recipe: seconds in the high half, randomness in the low half.
            clusterID = (now / 1_000) << 32 | UInt64(UInt32.random(in: 1...UInt32.max))
            try storage.saveClusterID(clusterID)
        }
        memberID = Self.stableHash(config.name + "|" + config.clientURLs.joined(separator: ","))

        tsoAllocator = TSOAllocator(savedBound: try storage.loadTSO(), window: config.tsoSaveIntervalMillis,
                                    clock: clock, save: { try storage.saveTSO($0) })
        let idAllocator = IDAllocator(persistedEnd: try storage.loadAllocID(), batch: config.idBatch,
                                      save: { try storage.saveAllocID($0) })
        self.idAllocator = idAllocator

        let cluster = BasicCluster()
        for store in try storage.loadStores() { cluster.putStore(store, now: now) }
        for region in try storage.loadRegions() { cluster.loadRegion(region) }
        self.cluster = cluster

        let clusterMeta = try storage.loadClusterMeta()
        let meta = MetaBox(Meta(cluster: clusterMeta, gcSafePoint: try storage.loadGCSafePoint()))
        self.meta = meta
        let defaultPeers = Int(config.maxPeerCount)
        operators = OperatorController(historyLimit: config.operatorHistoryLimit,
                                       transferLeaderStepTimeout: config.leaderOperatorTimeoutMillis, logger: logger)
        coordinator = Coordinator(
            cluster: cluster, operators: operators, config: config,
            allocID: { try idAllocator.alloc() },
            maxPeerCount: { meta.state.withLock { $0.cluster.map { Int($0.maxPeerCount) } } ?? defaultPeers },
            logger: logger)

        logger.info("scheduler started", metadata: [
            "cluster-id": "\(clusterID)", "bootstrapped": "\(clusterMeta != nil)",
            "stores": "\(cluster.stores.count)", "regions": "\(cluster.regionCount)",
            "data-dir": "\(config.dataDirectory)",
        ])
    }

    /// True once the state is loaded and until ``shutdown()``.
    public var isReady: Bool { meta.state.withLock { !$0.closed } }

    /// Whether Bootstrap has succeeded (now or in an earlier run).
    public var isBootstrappedNow: Bool { meta.state.withLock { $0.cluster != nil } }

    /// Runs the replica checker and the balance schedulers on their intervals until
    /// the task is cancelled or the server shuts down. Operators go out on the region
    /// leaders' heartbeat streams as soon as they are created.
    public func run() async {
        let intervals = [config.patrolIntervalMillis, config.balanceLeaderIntervalMillis, config.balanceRegionIntervalMillis]
        let tick = max(10, intervals.min() ?? 100)
        var last: (replica: UInt64, leader: UInt64, region: UInt64) = (0, 0, 0)
        while !Task.isCancelled, isReady {
            try? await Task.sleep(for: .milliseconds(tick))
            guard isReady else { break }
            // Keep the TSO window ahead of the clock even when idle, so the first
            // timestamp after a quiet period does not pay for an fsync.
            tsoAllocator.extendIfNeeded()
            guard isBootstrappedNow else { continue }
            let now = clock()
            // A clock that stepped backwards makes a job due at once rather than never.
            func due(_ last: UInt64, _ interval: UInt64) -> Bool { now < last || now - last >= interval }
            var round: Coordinator.Round = []
            if config.enableReplicaChecker, due(last.replica, config.patrolIntervalMillis) { round.insert(.replica); last.replica = now }
            if config.enableBalanceLeader, due(last.leader, config.balanceLeaderIntervalMillis) { round.insert(.leader); last.leader = now }
            if config.enableBalanceRegion, due(last.region, config.balanceRegionIntervalMillis) { round.insert(.region); last.region = now }
            if !round.isEmpty { schedule(round, now: now) }
        }
    }

    /// One scheduling round; pushes the new operators' first commands. Returns them (tests).
    @discardableResult
    func schedule(_ round: Coordinator.Round, now: UInt64) -> [Operator] {
        let ops = coordinator.runRound(round, now: now)
        if !ops.isEmpty { SchedulerMetrics.operatorsCreated.increment(by: ops.count) }
        for op in ops {
            guard let region = cluster.region(id: op.regionID), let leaderStore = region.leaderStoreID,
                  var command = operators.dispatch(region, now: now) else { continue }
            command.header = okHeader
            streams.send(command, toStore: leaderStore)
        }
        return ops
    }

    /// Stops serving: ends heartbeat streams, closes the database. Later calls answer with an error header.
    public func shutdown() {
        let wasClosed = meta.state.withLock { m in
            defer { m.closed = true }
            return m.closed
        }
        guard !wasClosed else { return }
        streams.closeAll()
        storage.close()
        logger.info("scheduler stopped")
    }

    // MARK: headers

    var okHeader: Schedulerpb.ResponseHeader { Schedulerpb.ResponseHeader(clusterId: clusterID) }

    func errorHeader(_ type: Schedulerpb.ErrorType, _ message: String) -> Schedulerpb.ResponseHeader {
        Schedulerpb.ResponseHeader(clusterId: clusterID, error: Schedulerpb.Error(type: type, message: message))
    }

    /// The error header for a request that must not be served, or nil.
    ///
    /// TinyKV clients learn the cluster id from GetMembers before anything else, and
    /// TinyKV rejects a mismatch with a FailedPrecondition status. Here a mismatch is
    /// an UNKNOWN error in the header (no error type fits better), and cluster id 0 is
    /// accepted: it means "not known yet" (hand-written clients, grpcurl), never a real id.
    func rejection(_ header: Schedulerpb.RequestHeader?, needsBootstrap: Bool = true) -> Schedulerpb.ResponseHeader? {
        let (closed, bootstrapped) = meta.state.withLock { ($0.closed, $0.cluster != nil) }
        if closed { return errorHeader(.unknown, "server is shutting down") }
        let requested = header?.clusterId ?? 0
        if requested != 0, requested != clusterID {
            return errorHeader(.unknown, "mismatch cluster id, need \(clusterID) but got \(requested)")
        }
        if needsBootstrap, !bootstrapped { return errorHeader(.notBootstrapped, "cluster is not bootstrapped") }
        return nil
    }

    /// FNV-1a, for ids that must not change between runs (Swift's Hasher is seeded per process).
    static func stableHash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}
