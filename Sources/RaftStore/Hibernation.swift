import TinyKVProto

/// Idle regions stop ticking (TiKV's hibernate regions), so a store with thousands of
/// mostly idle regions does not spend a core on ticks and heartbeats.
///
/// - A leader sleeps after `leaderIdleTicks` ticks with nothing in flight (everything
///   committed, applied and replicated to every voter; no proposal, read, transfer, conf
///   change or split under way): no more ticks, so no more heartbeats.
/// - A follower sleeps when its leader has been silent for `followerIdleTicks` ticks (more
///   than a heartbeat interval, less than the election timeout, so an active leader keeps
///   it awake and a sleeping leader puts it to sleep before it would campaign), as long as
///   the leader's store is alive.
/// - Anything wakes a peer: a raft message for it, a proposal, read, conf change, split or
///   transfer. A follower also wakes when the leader's *store* has been silent for
///   `storeDownTicks` (then its election timer runs again and it campaigns): every store
///   pings the stores it shares regions with once per tick, so silence means the store is
///   down or cut off, not that its regions sleep. This keeps failure detection working.
///
/// The poller thread owns this; no locking.
final class Hibernation {
    let enabled: Bool
    let leaderIdleTicks: Int
    let followerIdleTicks: Int
    let storeDownTicks: UInt64
    /// The tick at which anything was last heard from each store.
    private var lastHeard: [UInt64: UInt64] = [:]

    init(config: RaftStoreConfig) {
        enabled = config.hibernateRegions
        // A leader waits an election timeout: several heartbeats carry the final commit index out.
        leaderIdleTicks = config.electionTicks
        // Strictly between the heartbeat interval and the (minimum) election timeout.
        followerIdleTicks = min(config.heartbeatTicks * 2 + 1, max(config.heartbeatTicks + 1, config.electionTicks - 1))
        storeDownTicks = UInt64(config.electionTicks)
    }

    /// Something arrived from `store` at `tick` (a region message or a store ping).
    func heard(from store: UInt64, at tick: UInt64) {
        lastHeard[store] = tick
    }

    /// Whether `store` was heard from within `storeDownTicks` (stores never heard from count
    /// as alive from the tick they are first asked about, so a fresh start does not wake everyone).
    func isAlive(_ store: UInt64, at tick: UInt64) -> Bool {
        guard let last = lastHeard[store] else {
            lastHeard[store] = tick
            return true
        }
        return tick - min(last, tick) <= storeDownTicks
    }

    /// Wakes `peer` (it ticks again from the next tick).
    func wake(_ peer: Peer) {
        peer.hibernating = false
        peer.idleTicks = 0
    }

    /// Whether `message`, just stepped by the sleeping `peer`, must wake it. A follower wakes
    /// on anything. A leader stays asleep on acknowledgements that leave it with nothing in
    /// flight: the responses to the heartbeats it sent while deciding to sleep would otherwise
    /// wake it again and again.
    func mustWake(_ peer: Peer, after message: Eraftpb.Message) -> Bool {
        guard peer.isLeader else { return true }
        let acknowledgement = message.msgType == .msgHeartbeatResponse || (message.msgType == .msgAppendResponse && !message.reject)
        return !acknowledgement || !peer.raw.isQuiescentLeader
    }

    /// At a tick, for one peer: whether its Raft node should tick. Decides whether the peer
    /// falls asleep or wakes up; `leaderStore` is the store of the peer's leader, if known.
    func shouldTick(_ peer: Peer, leaderStore: UInt64?, tick: UInt64) -> Bool {
        guard enabled else { return true }
        if peer.isLeader {
            if peer.hibernating { return false }
            let idle = peer.raw.isQuiescentLeader && peer.appliedIndex == peer.raw.lastIndex && peer.proposals.isEmpty
                && peer.pendingReads.isEmpty && peer.readsToSend.isEmpty && !peer.splitInFlight
            peer.idleTicks = idle ? peer.idleTicks + 1 : 0
            if peer.idleTicks >= leaderIdleTicks { peer.hibernating = true }
            return true
        }
        peer.ticksSinceLeaderMessage += 1
        guard let leaderStore, peer.storage.isInitialized, peer.pendingReads.isEmpty, peer.readsToSend.isEmpty else {
            wake(peer)
            return true
        }
        if !isAlive(leaderStore, at: tick) {
            // The leader's store went silent: run the election timer again.
            wake(peer)
            return true
        }
        if peer.hibernating { return false }
        if peer.ticksSinceLeaderMessage >= followerIdleTicks { peer.hibernating = true }
        return true
    }

    /// The store-level ping to `store`: a raft message of region 0 that only says "this store is alive".
    static func ping(from storeID: UInt64, to store: UInt64) -> RaftServerpb.RaftMessage {
        RaftServerpb.RaftMessage(regionId: 0, fromPeer: Metapb.Peer(id: 0, storeId: storeID), toPeer: Metapb.Peer(id: 0, storeId: store),
                                 message: Eraftpb.Message(msgType: .msgHeartbeat))
    }
}
