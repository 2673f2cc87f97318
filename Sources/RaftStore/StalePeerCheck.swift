import TinyKVProto

/// Finds local peers that were removed from their region while they slept, were down or
/// were cut off, when such a peer stands in the way of a live one.
///
/// A removed peer learns of its removal only from a member that hears from it, and a
/// sleeping follower says nothing. Left alone it blocks this store: its old, wider range
/// overlaps the regions split from it since, so their new peers here can be neither created
/// nor sent a snapshot, and a region that counts such a peer in its quorum cannot elect a
/// leader. When a message is dropped for overlapping a local peer, the poller asks the
/// scheduler for that peer's region (at most once per `interval` ticks per region) and
/// destroys the peer if the region has moved on without it (TiKV validates such peers
/// with PD likewise).
struct StalePeerCheck {
    /// Ticks between two questions about the same region.
    let interval: UInt64
    /// The tick each region was last asked about.
    private var lastAsked: [UInt64: UInt64] = [:]

    init(interval: UInt64) { self.interval = interval }

    /// Whether to ask the scheduler about `regionID` now; records the question when so.
    mutating func shouldAsk(about regionID: UInt64, at tick: UInt64) -> Bool {
        if let last = lastAsked[regionID], tick - min(last, tick) < interval { return false }
        lastAsked[regionID] = tick
        return true
    }

    /// Forgets regions asked about long ago (called now and then, so the table stays small).
    mutating func prune(at tick: UInt64) {
        lastAsked = lastAsked.filter { tick - min($0.value, tick) < interval }
    }

    /// Whether peer `peerID`, whose region had epoch `local`, is no longer a member of
    /// `current` (a newer view of the same region: the scheduler's, or a live member's):
    /// a newer membership without it. Removed peer ids are never added again, so such a peer can go.
    static func isRemoved(peerID: UInt64, local: Metapb.RegionEpoch?, current: Metapb.Region) -> Bool {
        let theirs = current.regionEpoch?.confVer ?? 0, ours = local?.confVer ?? 0
        return theirs > ours && !current.peers.contains { $0.id == peerID }
    }
}
