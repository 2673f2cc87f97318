/// Per-store leader count, region count and region size (MB) as schedulers see them:
/// the snapshot plus what running operators will still change, updated as a round
/// creates new operators. Counting in-flight work is what keeps rounds from piling
/// moves onto the same store and overshooting (hysteresis against flapping).
struct StoreLoads: Sendable {
    var leaders: [UInt64: Int] = [:]
    var regions: [UInt64: Int] = [:]
    var size: [UInt64: Int64] = [:]

    init(snapshot: ClusterSnapshot, influence: [UInt64: StoreInfluence]) {
        for id in snapshot.stores.keys {
            leaders[id] = snapshot.leaderCount[id, default: 0] + (influence[id]?.leaders ?? 0)
            regions[id] = snapshot.regionCount[id, default: 0] + (influence[id]?.regions ?? 0)
            size[id] = Int64(snapshot.regionSize[id, default: 0]) + (influence[id]?.size ?? 0)
        }
    }

    /// Counts a newly created operator in.
    mutating func apply(_ op: Operator, regionSize: UInt64) {
        var influence: [UInt64: StoreInfluence] = [:]
        op.addInfluence(to: &influence, regionSize: regionSize)
        for (id, delta) in influence {
            leaders[id, default: 0] += delta.leaders
            regions[id, default: 0] += delta.regions
            size[id, default: 0] += delta.size
        }
    }

    /// The store that should receive a new replica: least data, then fewest regions, then lowest id.
    func emptiest(among candidates: [StoreInfo]) -> StoreInfo? {
        candidates.min { a, b in
            (size[a.id, default: 0], regions[a.id, default: 0], a.id) < (size[b.id, default: 0], regions[b.id, default: 0], b.id)
        }
    }
}

/// Context every checker and scheduler needs to build operators.
struct ScheduleContext: Sendable {
    /// Allocates ids for new peers.
    var allocID: @Sendable () throws -> UInt64
    var leaderOperatorTimeout: UInt64
    var operatorTimeout: UInt64
    var leaderTolerance: Double
    var regionTolerance: Double

    /// Picks the store to take over leadership from `store` among the region's other peers:
    /// schedulable, fewest leaders. Nil when no follower qualifies.
    func leaderSuccessor(of region: RegionInfo, leaving store: UInt64, snapshot: ClusterSnapshot,
                         loads: StoreLoads, excluding excluded: Set<UInt64> = []) -> UInt64? {
        region.peers
            .map(\.storeId)
            .filter { $0 != store && !excluded.contains($0) && snapshot.isSchedulable($0) && !region.isPending(region.peer(onStore: $0)!.id) }
            .min { (loads.leaders[$0, default: 0], $0) < (loads.leaders[$1, default: 0], $1) }
    }
}
