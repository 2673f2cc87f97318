import Synchronization
import TinyKVProto

/// Stores and regions in memory, behind one small lock.
///
/// RPC handlers read single entries (GetRegion is a binary search under the lock);
/// the scheduling loop takes a copy with ``snapshot(now:maxPeerCount:)`` and works lock-free.
final class BasicCluster: Sendable {
    private struct State {
        var stores: [UInt64: StoreInfo] = [:]
        var regions = RegionCache()
        /// The last region table built (it knows the ``RegionCache/version`` it was built from).
        var table: RegionTable?
    }

    /// The result of a region heartbeat.
    enum HeartbeatOutcome: Equatable {
        /// The heartbeat's epoch is older than what is known; nothing changed.
        case stale(String)
        /// Accepted. `persist` says the meta or leader changed and should be saved;
        /// `removed` lists overlapped regions dropped from the cache.
        case accepted(persist: Bool, removed: [UInt64])
    }

    private let state = Mutex(State())

    // MARK: stores

    func store(id: UInt64) -> StoreInfo? { state.withLock { $0.stores[id] } }
    var stores: [StoreInfo] { state.withLock { Array($0.stores.values) }.sorted { $0.id < $1.id } }

    /// Inserts or replaces a store's meta, keeping its stats and heartbeat time.
    func putStore(_ meta: Metapb.Store, now: UInt64) {
        state.withLock { s in
            if var existing = s.stores[meta.id] {
                existing.meta = meta
                s.stores[meta.id] = existing
            } else {
                s.stores[meta.id] = StoreInfo(meta: meta, stats: nil, lastHeartbeat: now)
            }
        }
    }

    /// Records a store heartbeat; false when the store is unknown.
    func storeHeartbeat(_ stats: Schedulerpb.StoreStats, now: UInt64) -> Bool {
        state.withLock { s in
            guard var info = s.stores[stats.storeId] else { return false }
            info.stats = stats
            info.lastHeartbeat = now
            s.stores[stats.storeId] = info
            return true
        }
    }

    // MARK: regions

    var regionCount: Int { state.withLock { $0.regions.count } }
    func region(id: UInt64) -> RegionInfo? { state.withLock { $0.regions.region(id: id) } }
    func region(containing key: [UInt8]) -> RegionInfo? { state.withLock { $0.regions.region(containing: key) } }
    func region(before key: [UInt8]) -> RegionInfo? { state.withLock { $0.regions.region(before: key) } }
    func scanRegions(from start: [UInt8], to end: [UInt8], limit: Int) -> [RegionInfo] {
        state.withLock { $0.regions.scan(from: start, to: end, limit: limit) }
    }

    /// Loads a region at startup, without staleness checks.
    func loadRegion(_ info: RegionInfo) { state.withLock { _ = $0.regions.upsert(info) } }

    /// Applies a region heartbeat (TinyKV `processRegionHeartbeat`): reject it when its
    /// epoch is older than the cached copy of the same region, or its version is older
    /// than any region it overlaps; otherwise cache it, replacing the overlapped ones.
    func handleRegionHeartbeat(_ info: RegionInfo) -> HeartbeatOutcome {
        state.withLock { s in
            let epoch = info.epoch
            let origin = s.regions.region(id: info.id)
            if let origin, epoch.isStale(comparedTo: origin.epoch) {
                return .stale("region \(info.id) epoch \(epoch.version)/\(epoch.confVer) is older than known \(origin.epoch.version)/\(origin.epoch.confVer)")
            }
            for other in s.regions.overlapping(start: info.startKey, end: info.endKey, excluding: info.id)
            where epoch.version < other.epoch.version {
                return .stale("region \(info.id) version \(epoch.version) is older than overlapping region \(other.id) version \(other.epoch.version)")
            }
            let persist = origin == nil || origin!.region != info.region || origin!.leader != info.leader
            let removed = s.regions.upsert(info)
            return .accepted(persist: persist, removed: removed)
        }
    }

    /// A consistent copy of everything the schedulers look at.
    /// The region table is reused while no region changed (see ``RegionTable``).
    func snapshot(now: UInt64, maxPeerCount: Int, maxStoreDownTime: UInt64) -> ClusterSnapshot {
        let (stores, version, cached, regions) = state.withLock { s in
            let version = s.regions.version
            if let table = s.table, table.version == version { return (s.stores, version, Optional(table), [RegionInfo]()) }
            return (s.stores, version, nil, Array(s.regions.all))
        }
        let table: RegionTable
        if let cached {
            table = cached
        } else {
            // Built outside the lock: heartbeats and lookups go on meanwhile.
            table = RegionTable(regions, version: version)
            state.withLock { s in
                if s.regions.version == version { s.table = table }
            }
        }
        return ClusterSnapshot(stores: stores, table: table, maxPeerCount: maxPeerCount,
                               now: now, maxStoreDownTime: maxStoreDownTime)
    }
}
