/// The regions in id order with the per-store counts the schedulers balance on.
///
/// Built from all regions (10,000 of them take milliseconds), so ``BasicCluster`` keeps the
/// last one and rebuilds it only when a region changed: an idle cluster's scheduling rounds
/// (every 100 ms) reuse it.
struct RegionTable: Sendable {
    /// The ``RegionCache/version`` the table was built from.
    let version: UInt64
    let regions: [RegionInfo]
    /// Leader, region count and region size (MB) per store.
    private(set) var leaderCount: [UInt64: Int] = [:]
    private(set) var regionCount: [UInt64: Int] = [:]
    private(set) var regionSize: [UInt64: UInt64] = [:]
    /// Indices into `regions` of the regions led by / with a peer on each store.
    private(set) var regionsLedBy: [UInt64: [Int]] = [:]
    private(set) var regionsOn: [UInt64: [Int]] = [:]

    init(_ regions: [RegionInfo], version: UInt64) {
        self.version = version
        self.regions = regions.sorted { $0.id < $1.id }
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
}

/// A point-in-time copy of the cluster for the checkers and schedulers, with the
/// per-store counts they balance on. Regions are kept in id order so scheduling is
/// deterministic for a given cluster state.
struct ClusterSnapshot: Sendable {
    let stores: [UInt64: StoreInfo]
    let table: RegionTable
    let maxPeerCount: Int
    let now: UInt64
    let maxStoreDownTime: UInt64

    var regions: [RegionInfo] { table.regions }
    var leaderCount: [UInt64: Int] { table.leaderCount }
    var regionCount: [UInt64: Int] { table.regionCount }
    var regionSize: [UInt64: UInt64] { table.regionSize }
    var regionsLedBy: [UInt64: [Int]] { table.regionsLedBy }
    var regionsOn: [UInt64: [Int]] { table.regionsOn }

    init(stores: [UInt64: StoreInfo], table: RegionTable, maxPeerCount: Int, now: UInt64, maxStoreDownTime: UInt64) {
        self.stores = stores
        self.table = table
        self.maxPeerCount = maxPeerCount
        self.now = now
        self.maxStoreDownTime = maxStoreDownTime
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
