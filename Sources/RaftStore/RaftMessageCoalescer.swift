import Raft
import TinyKVProto

/// Merges raft messages queued for one store that say the same thing with fewer messages.
///
/// - Consecutive appends of one region to one peer in one term, where the second continues the
///   first's entries, become one append carrying both runs (and the later commit index).
/// - Successive accepting append responses of one region from one peer in one term keep only the
///   newest: acknowledging index n acknowledges everything before it.
/// Everything else (heartbeats with their read contexts, votes, rejections, snapshots) is kept as is,
/// and the relative order of what remains is unchanged.
enum RaftMessageCoalescer {
    static func coalesce<Extra>(_ items: [(RaftServerpb.RaftMessage, Extra)]) -> [(RaftServerpb.RaftMessage, Extra)] {
        guard items.count > 1 else { return items }
        var out: [(RaftServerpb.RaftMessage, Extra)] = []
        out.reserveCapacity(items.count)
        for item in items {
            if let last = out.last, let merged = merge(last.0, item.0) {
                out[out.count - 1] = (merged, item.1)
            } else {
                out.append(item)
            }
        }
        return out
    }

    /// `first` and `second` as one message, or nil when they must both go.
    static func merge(_ first: RaftServerpb.RaftMessage, _ second: RaftServerpb.RaftMessage) -> RaftServerpb.RaftMessage? {
        guard first.regionId == second.regionId, first.toPeer == second.toPeer, first.fromPeer == second.fromPeer,
              first.regionEpoch == second.regionEpoch, !first.isTombstone, !second.isTombstone,
              let a = first.message, let b = second.message, a.term == b.term, a.msgType == b.msgType,
              a.snapshot == nil, b.snapshot == nil, !a.reject, !b.reject else { return nil }
        switch a.msgType {
        case .msgAppend:
            guard let lastA = a.entries.last, !b.entries.isEmpty,
                  b.index == lastA.index, b.logTerm == lastA.term else { return nil }
            var merged = first
            merged.message?.entries.append(contentsOf: b.entries)
            merged.message?.commit = max(a.commit, b.commit)
            return merged
        case .msgAppendResponse:
            guard b.index >= a.index else { return nil }
            var merged = second
            merged.message?.commit = max(a.commit, b.commit)
            return merged
        default:
            return nil
        }
    }
}
