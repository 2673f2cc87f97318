/// A point-in-time copy of the cluster for the checkers and schedulers, with the
/// per-store counts they balance on. Regions are kept in id order so scheduling is
/// deterministic for a given cluster state.
struct ClusterSnapshot: Sendable {
    let stores: [UInt64: StoreInfo]
    let regions: [RegionInfo]
    let maxPeerCount: Int
    let now: UInt64
    let maxStoreDownTime: UInt64

    /// Leader, region count and region size (MB) per store.
    private(set) var leaderCount: [UInt64: Int] = [:]
    private(set) var regionCount: [UInt64: Int] = [:]
    private(set) var regionSize: [UInt64: UInt64] = [:]
    /// Indices into `regions` of the regions led by / with a peer on each store.
    private(set) var regionsLedBy: [UInt64: [Int]] = [:]
    private(set) var regionsOn: [UInt64: [Int]] = [:]

    init(stores: [UInt64: StoreInfo], regions: [RegionInfo], maxPeerCount: Int, now: UInt64, maxStoreDownTime: UInt64) {
        self.stores = stores
        self.regions = regions.sorted { $0.id < $1.id }
        self.maxPeerCount = maxPeerCount
        self.now = now
        self.maxStoreDownTime = maxStoreDownTime
        for (index, info) in self.regions.enumerated() {
            if let leader = info.leaderStoreID {
                leaderCount[leader, default: 0] += 1
                regionsLedBy[leader, default: []].append(index)
            }
            for peer in info.peers {
                regionCount[peer.storeId, default: 0] += 1
                regionSize[peer.storeId, default: 0] += info.sizeMB
                regionsOn[peer.storeId, default: []].append(index)
            }
        }
    }

    /// Stores that may receive replicas and leaders, in id order.
    var schedulableStores: [StoreInfo] {
        stores.values.filter { $0.isSchedulable(now: now, maxDownTime: maxStoreDownTime) }.sorted { $0.id < $1.id }
    }

    func isSchedulable(_ storeID: UInt64) -> Bool {
        stores[storeID]?.isSchedulable(now: now, maxDownTime: maxStoreDownTime) ?? false
    }

    /// A peer on this store should be moved away: the store is unknown, down, offline or tombstone.
    func needsEvacuation(_ storeID: UInt64) -> Bool {
        guard let store = stores[storeID] else { return true }
        return store.meta.state != .up || store.isDown(now: now, maxDownTime: maxStoreDownTime)
    }

    /// Whether a region is steady enough to be moved for balance (PD's healthy-region filter).
    func isBalanceable(_ info: RegionInfo) -> Bool {
        info.leader != nil && info.pendingPeers.isEmpty && info.peers.count == maxPeerCount
            && !info.peers.contains { needsEvacuation($0.storeId) }
    }
}
