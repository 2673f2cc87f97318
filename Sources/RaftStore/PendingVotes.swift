import TinyKVProto

/// Vote requests addressed to peers that a split on this store has not created yet (TiKV's
/// `pending_votes`). The new region's leader-to-be campaigns the moment it applies the split;
/// followers apply it a little later and would drop the request, leaving the region without
/// a leader for an election timeout (10-20 s with 1 s ticks). Replaying the request once the
/// split created the peer lets the region elect at once. Bounded: old requests are dropped.
struct PendingVotes {
    private var messages: [RaftServerpb.RaftMessage] = []
    private let limit: Int

    init(limit: Int = 256) { self.limit = limit }

    /// Keeps `message` (a vote or pre-vote request); the oldest goes when full.
    mutating func keep(_ message: RaftServerpb.RaftMessage) {
        if messages.count >= limit { messages.removeFirst() }
        messages.append(message)
    }

    /// The kept requests for `regionID`, in arrival order, removed from the buffer.
    mutating func take(_ regionID: UInt64) -> [RaftServerpb.RaftMessage] {
        guard messages.contains(where: { $0.regionId == regionID }) else { return [] }
        let taken = messages.filter { $0.regionId == regionID }
        messages.removeAll { $0.regionId == regionID }
        return taken
    }
}
