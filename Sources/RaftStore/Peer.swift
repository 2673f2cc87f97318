import Raft
import Storage
import TinyKVProto

/// The protobuf encoding of `ConfChange` for `EntryConfChange` entries (what TinyKV writes).
struct ProtobufConfChangeCodec: ConfChangeCodec {
    func encode(_ change: Eraftpb.ConfChange) -> [UInt8] { change.encode() }
    func decode(_ data: [UInt8]) throws -> Eraftpb.ConfChange { try Eraftpb.ConfChange(decoding: data) }
}

/// A batch of reads waiting for one ReadIndex round trip.
struct PendingRead {
    var context: [UInt8]
    var callbacks: [ReadCallback]
    /// The read index once Raft confirmed leadership; serve when applied ≥ it.
    var index: UInt64?
    /// The tick the request was made at (to give up on reads Raft dropped).
    var tick: UInt64
    /// Lease clock time before the ReadIndex heartbeats were sent: their quorum renews the lease from here.
    var startedAt: Duration
}

/// A read served under the leader lease, once the applied index reaches `index`
/// (the commit index when the read arrived).
struct LocalRead {
    var index: UInt64
    var callback: ReadCallback
}

/// One region's replica on this store, as the poller thread sees it.
final class Peer {
    let regionID: UInt64
    let meta: Metapb.Peer
    let storage: PeerStorage
    let raw: RawNode
    /// The applied index the apply worker last reported.
    var appliedIndex: UInt64
    /// Proposals accepted by Raft and not yet handed to the apply worker.
    var proposals: [Proposal] = []
    /// Write commands received this round, proposed together as one entry at its end.
    var batch = ProposalBatch()
    /// Reads received this round (one ReadIndex for all of them).
    var readsToSend: [ReadCallback] = []
    var pendingReads: [PendingRead] = []
    /// Reads admitted under the lease, waiting for the applied index (served in arrival order).
    var localReads: [LocalRead] = []
    /// The leader lease (only meaningful while leader).
    var lease: LeaderLease
    /// The first index of this peer's current leadership (its empty entry): once applied,
    /// everything earlier leaders acknowledged is in the state machine.
    var termStartIndex: UInt64 = .max
    /// Lease reads are coming in and the lease runs out soon: start a ReadIndex round to renew it.
    var wantsLeaseRenewal = false
    /// Known peers of the region by id (the region's members plus message senders).
    var peerCache: [UInt64: Metapb.Peer] = [:]
    /// Ticks since the last log GC check / region heartbeat.
    var gcTicks = 0
    var heartbeatTicks = 0
    /// Followers the last region heartbeat named pending: the scheduler waits for them to catch
    /// up, so the leader tells it as soon as one has (not at the next periodic heartbeat).
    var reportedPendingPeers: Set<UInt64> = []
    var splitCheckTicks = 0
    /// Bytes put since the last split check started (starts at ``sizeUnknown``, so every region
    /// is checked once).
    var sizeDiffHint: UInt64 = Peer.sizeUnknown
    /// A ``sizeDiffHint`` that makes the next split-check tick scan the region.
    static let sizeUnknown: UInt64 = .max / 2
    /// A split check or split proposal of this peer is under way.
    var splitInFlight = false
    /// The region's size as last measured by the split checker.
    var approximateSize: UInt64 = 0
    /// Asleep: the Raft node is not ticked until something wakes it (see ``Hibernation``).
    var hibernating = false
    /// Consecutive ticks a leader had nothing in flight.
    var idleTicks = 0
    /// Ticks since a follower last heard from its leader.
    var ticksSinceLeaderMessage = 0

    /// `restarted`: loaded from disk at store start (it ignores votes for an election
    /// timeout, keeping the promise behind other leaders' leases across a crash).
    init(meta: Metapb.Peer, storage: PeerStorage, config: RaftStoreConfig, restarted: Bool = false) throws {
        regionID = storage.regionID
        lease = LeaderLease(duration: config.leaderLeaseDuration)
        self.meta = meta
        self.storage = storage
        appliedIndex = storage.appliedIndexAtStart
        let raftConfig = RaftConfig(
            id: meta.id, electionTick: config.electionTicks, heartbeatTick: config.heartbeatTicks,
            applied: storage.appliedIndexAtStart, maxSizePerMsg: 1 << 20, maxInflightMsgs: 256,
            preVote: true, checkQuorum: true, randomSeed: UInt64.random(in: 0...UInt64.max),
            leaseAfterStart: restarted, confChangeCodec: ProtobufConfChangeCodec(),
            skipBroadcastCommit: config.skipBroadcastCommit)
        raw = try RawNode(config: raftConfig, storage: storage)
        refreshPeerCache()
    }

    var region: Metapb.Region { storage.region }
    var isLeader: Bool { raw.softState.role == .leader }
    var leaderID: UInt64 { raw.softState.leaderId }
    var leaderPeer: Metapb.Peer? { leaderID == 0 ? nil : peerCache[leaderID] }

    func refreshPeerCache() {
        for peer in storage.region.peers { peerCache[peer.id] = peer }
    }

    /// The header of an admin command proposed by this peer.
    func commandHeader() -> RaftCmdpb.RaftRequestHeader {
        RaftCmdpb.RaftRequestHeader(regionId: regionID, peer: meta, regionEpoch: region.regionEpoch ?? Metapb.RegionEpoch())
    }

    /// Wraps a Raft message for the wire.
    func wrap(_ message: Eraftpb.Message) -> RaftServerpb.RaftMessage? {
        guard let to = peerCache[message.to] else { return nil }
        return RaftServerpb.RaftMessage(regionId: regionID, fromPeer: meta, toPeer: to, message: message,
                                        regionEpoch: region.regionEpoch ?? Metapb.RegionEpoch(),
                                        startKey: region.startKey, endKey: region.endKey)
    }

    /// Answers every waiting request with `error` (the peer lost leadership or is gone).
    func failPending(_ error: Errorpb.Error, includingProposals: Bool) {
        for read in pendingReads { for callback in read.callbacks { callback(.failure(RegionError(error))) } }
        for callback in readsToSend { callback(.failure(RegionError(error))) }
        for read in localReads { read.callback(.failure(RegionError(error))) }
        pendingReads = []
        readsToSend = []
        localReads = []
        if includingProposals {
            for proposal in proposals { proposal.callback(error) }
            proposals = []
            if let (_, callback) = batch.take() { callback(error) }
        }
    }
}
