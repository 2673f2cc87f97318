import Logging
import SchedulerClient
import Storage
import TinyKVProto

/// Joining the cluster: the store ident, the first region, and registration with the scheduler.
///
/// First start: get a store id (AllocID) and persist `StoreIdent`; if the cluster is not
/// bootstrapped, write the first region locally (whole key space, one peer on this store,
/// log starting at `Keys.raftInitLogIndex`) with a "prepare bootstrap" marker, then call
/// `Bootstrap`. If another store won the race, the local region is cleared. The marker
/// makes a crash between the local write and `Bootstrap` recoverable: on restart the
/// attempt is finished (we won if the scheduler knows our store, as only our Bootstrap
/// could have registered it). Finally `PutStore` with the address.
enum StoreBootstrap {
    /// `01 02`: present while a first region is written locally but not yet confirmed.
    static let prepareBootstrapKey: [UInt8] = [Keys.localPrefix, 0x02]

    static func run(kvEngine: any KVEngine, raftEngine: any RaftLogStore, scheduler: any SchedulerAPI,
                    address: String, logger: Logger) async throws -> UInt64 {
        let clusterID = try await retrying(logger, "GetMembers") { try await scheduler.clusterID() }
        let storeID: UInt64
        if let bytes = try kvEngine.get(.raft, Keys.storeIdentKey) {
            let ident = try RaftServerpb.StoreIdent(decoding: bytes)
            guard ident.clusterId == clusterID else {
                throw RegionError(Errorpb.Error(message: "store belongs to cluster \(ident.clusterId), scheduler runs cluster \(clusterID)"))
            }
            storeID = ident.storeId
        } else {
            storeID = try await retrying(logger, "AllocID") { try await scheduler.allocID() }
            var batch = WriteBatch()
            batch.put(.raft, Keys.storeIdentKey, RaftServerpb.StoreIdent(clusterId: clusterID, storeId: storeID).encode())
            try kvEngine.write(batch, sync: true)
            logger.info("store ident created", metadata: ["store": "\(storeID)", "cluster": "\(clusterID)"])
        }
        let store = Metapb.Store(id: storeID, address: address, state: .up)

        let prepared = try kvEngine.get(.raft, prepareBootstrapKey).map { try Metapb.Region(decoding: $0) }
        if let region = prepared {
            try await finishBootstrap(region, store: store, kvEngine: kvEngine, raftEngine: raftEngine, scheduler: scheduler, logger: logger)
        } else if try !hasRegions(kvEngine), !(try await retrying(logger, "IsBootstrapped") { try await scheduler.isBootstrapped() }) {
            let regionID = try await retrying(logger, "AllocID") { try await scheduler.allocID() }
            let peerID = try await retrying(logger, "AllocID") { try await scheduler.allocID() }
            let region = Metapb.Region(id: regionID, regionEpoch: Metapb.RegionEpoch(confVer: 1, version: 1),
                                       peers: [Metapb.Peer(id: peerID, storeId: storeID)])
            try writeFirstRegion(region, kvEngine: kvEngine, raftEngine: raftEngine)
            try await finishBootstrap(region, store: store, kvEngine: kvEngine, raftEngine: raftEngine, scheduler: scheduler, logger: logger)
        }
        try await retrying(logger, "PutStore") { try await scheduler.putStore(store) }
        return storeID
    }

    private static func finishBootstrap(_ region: Metapb.Region, store: Metapb.Store, kvEngine: any KVEngine, raftEngine: any RaftLogStore,
                                        scheduler: any SchedulerAPI, logger: Logger) async throws {
        var won = try await retrying(logger, "Bootstrap") { try await scheduler.bootstrap(store: store) }
        if !won {
            // Bootstrapped by our own earlier attempt (crash before the marker was removed)?
            won = (try? await scheduler.getStore(store.id)) != nil
        }
        if won {
            logger.info("cluster bootstrapped with the first region", metadata: ["region": "\(region.id)", "store": "\(store.id)"])
        } else {
            logger.info("cluster already bootstrapped by another store; clearing the local first region", metadata: ["region": "\(region.id)"])
            var raftBatch = WriteBatch()
            raftBatch.delete(.default, Keys.raftStateKey(region.id))
            try raftEngine.write(raftBatch, sync: true)
            var kvBatch = WriteBatch()
            kvBatch.delete(.raft, Keys.regionStateKey(region.id))
            kvBatch.delete(.raft, Keys.applyStateKey(region.id))
            try kvEngine.write(kvBatch, sync: true)
        }
        var batch = WriteBatch()
        batch.delete(.raft, prepareBootstrapKey)
        try kvEngine.write(batch, sync: true)
    }

    /// The first region's states: applied and committed at `raftInitLogIndex`, no log entries.
    static func writeFirstRegion(_ region: Metapb.Region, kvEngine: any KVEngine, raftEngine: any RaftLogStore) throws {
        let index = Keys.raftInitLogIndex, term = Keys.raftInitLogTerm
        var raftBatch = WriteBatch()
        raftBatch.put(.default, Keys.raftStateKey(region.id), RaftServerpb.RaftLocalState(
            hardState: Eraftpb.HardState(term: term, vote: 0, commit: index), lastIndex: index, lastTerm: term).encode())
        try raftEngine.write(raftBatch, sync: true)
        var kvBatch = WriteBatch()
        kvBatch.put(.raft, prepareBootstrapKey, region.encode())
        kvBatch.put(.raft, Keys.regionStateKey(region.id), RaftServerpb.RegionLocalState(state: .normal, region: region).encode())
        kvBatch.put(.raft, Keys.applyStateKey(region.id), RaftServerpb.RaftApplyState(
            appliedIndex: index, truncatedState: RaftServerpb.RaftTruncatedState(index: index, term: term)).encode())
        try kvEngine.write(kvBatch, sync: true)
    }

    static func hasRegions(_ kvEngine: any KVEngine) throws -> Bool {
        let iterator = try kvEngine.makeIterator(.raft, lowerBound: Keys.regionMetaRange.start, upperBound: Keys.regionMetaRange.end)
        iterator.seekToFirst()
        return iterator.isValid
    }

    /// Retries a scheduler call until it succeeds (the scheduler may start after the store),
    /// for up to about a minute.
    static func retrying<T: Sendable>(_ logger: Logger, _ what: String, _ body: () async throws -> T) async throws -> T {
        var delay: Duration = .milliseconds(100)
        for attempt in 1... {
            do {
                return try await body()
            } catch {
                if attempt >= 60 { throw error }
                logger.warning("scheduler call failed; retrying", metadata: ["call": "\(what)", "error": "\(error)"])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(1))
            }
        }
        fatalError("unreachable")
    }
}
