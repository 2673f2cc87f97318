import TinyKVProto

/// What the scheduler knows about one region: its meta and what its leader last reported.
struct RegionInfo: Sendable, Hashable {
    var region: Metapb.Region
    var leader: Metapb.Peer?
    var pendingPeers: [Metapb.Peer] = []
    /// Bytes, as reported by the leader's heartbeat.
    var approximateSize: UInt64 = 0

    var id: UInt64 { region.id }
    var startKey: [UInt8] { region.startKey }
    var endKey: [UInt8] { region.endKey }
    var epoch: Metapb.RegionEpoch { region.regionEpoch ?? Metapb.RegionEpoch() }
    var peers: [Metapb.Peer] { region.peers }

    /// Size in MB for balancing; empty regions count as 1 so region count still matters (as PD does).
    var sizeMB: UInt64 { max(1, approximateSize >> 20) }

    func peer(onStore storeID: UInt64) -> Metapb.Peer? { region.peers.first { $0.storeId == storeID } }
    func hasPeer(onStore storeID: UInt64) -> Bool { peer(onStore: storeID) != nil }
    var leaderStoreID: UInt64? { leader.map(\.storeId) }
    var followers: [Metapb.Peer] { region.peers.filter { $0.id != leader?.id } }
    func isPending(_ peerID: UInt64) -> Bool { pendingPeers.contains { $0.id == peerID } }

    init(region: Metapb.Region, leader: Metapb.Peer?, pendingPeers: [Metapb.Peer] = [], approximateSize: UInt64 = 0) {
        self.region = region
        self.leader = leader
        self.pendingPeers = pendingPeers
        self.approximateSize = approximateSize
    }

    init?(heartbeat: Schedulerpb.RegionHeartbeatRequest) {
        guard let region = heartbeat.region else { return nil }
        self.init(region: region, leader: heartbeat.leader, pendingPeers: heartbeat.pendingPeers,
                  approximateSize: heartbeat.approximateSize)
    }

    /// Whether two ranges share a key (empty end key = +infinity).
    func overlaps(start: [UInt8], end: [UInt8]) -> Bool {
        isBelowEnd(start, endKey) && isBelowEnd(startKey, end)
    }
}

extension Metapb.RegionEpoch {
    /// TinyKV's `IsEpochStale`: either counter went backwards.
    func isStale(comparedTo current: Metapb.RegionEpoch) -> Bool {
        version < current.version || confVer < current.confVer
    }
}
