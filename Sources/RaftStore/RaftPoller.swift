import Foundation
import Logging
import Raft
import Storage
import TinyKVProto

/// The raft thread: drives every peer of the store (no thread per region).
///
/// Each round: take everything queued in the inbox (messages from other stores,
/// proposals, reads, apply results, scheduler commands), tick all peers when the base
/// tick is due, then for every peer with a Ready collect its entries and hard state
/// into ONE raft-engine batch, write it with one fsync (group commit across regions),
/// then send all messages, hand committed entries to the apply worker, and advance.
final class RaftPoller: @unchecked Sendable {
    let storeID: UInt64
    let config: RaftStoreConfig
    private let raftEngine: any RaftLogStore
    private let kvEngine: any KVEngine
    private let applier: ApplyWorker
    private let transport: any RaftTransport
    private let logger: Logger
    let inbox = Inbox<PollerMessage>()
    /// Serves lease reads without coming to this thread.
    let localReader: LocalReader
    /// Receives region heartbeats of leaders (sent to the scheduler by the node).
    private let regionHeartbeat: @Sendable (Schedulerpb.RegionHeartbeatRequest) -> Void
    /// Approximate data size of a region, for heartbeats.
    private let regionSize: @Sendable (Metapb.Region) -> UInt64
    /// Asks the scheduler for a new region id and peer ids (a split).
    private let askSplit: @Sendable (Metapb.Region) async throws -> Schedulerpb.AskSplitResponse
    /// The scheduler's view of a region (nil: unknown), to find removed peers in the way.
    private let lookupRegion: @Sendable (UInt64) async throws -> Metapb.Region?
    /// Which overlapping peers were asked about lately.
    private var stalePeerCheck: StalePeerCheck
    /// Split checks scan regions off the raft thread, one at a time.
    private let splitCheckQueue = DispatchQueue(label: "raftstore-split-check")
    /// Measures leader leases.
    private let clock: LeaseClock
    /// Lease clock time at the start of the current round (before anything of it was sent).
    private var roundStart: Duration = .zero
    /// Peers that admitted lease reads this round (served together at the end of the round).
    private var localReadPeers = Set<UInt64>()
    /// Snapshot files and their background generation.
    let snapshots: SnapshotManager
    private let snapshotWorker: SnapshotWorker
    /// Regions whose snapshot apply failed: not served until the store restarts (and finishes the apply).
    private var failedRegions = Set<UInt64>()

    private(set) var peers: [UInt64: Peer] = [:]
    /// Peers to look at for a Ready this round.
    private var dirty = Set<UInt64>()
    /// Regions with writes batched this round (``ProposalBatch``).
    private var batchedRegions: [UInt64] = []
    /// Raft-engine writes left for the next round's write: log truncations, and hard states
    /// that changed only the commit index.
    private var pendingRaftBatch = WriteBatch()
    /// Slow rounds, warned about with what the round did (``SlowEventLog``).
    private var slowRounds: SlowEventLog
    /// The last round's raft-engine write: how long it took (zero: none), its operations and
    /// whether it was synced.
    private var roundWrite: (took: Duration, operations: Int, synced: Bool) = (.zero, 0, false)
    /// Regions with a Ready in the last round.
    private var roundReadies = 0
    /// `pendingRaftBatch` holds nothing but commit-index-only hard states.
    private var pendingHoldsOnlyCommitIndexes = false
    private(set) var tickCount: UInt64 = 0
    private var readSequence: UInt64 = 0
    private let thread = DedicatedThread()
    private var feedback: TransportFeedback!
    /// Which idle peers sleep, and the liveness of other stores that wakes them.
    private let hibernation: Hibernation
    /// Vote requests for regions a split here has not created yet (replayed when it has).
    private var pendingVotes = PendingVotes()
    /// Published for store heartbeats (read from other threads).
    let stats = Stats()

    final class Stats: @unchecked Sendable {
        private let lock = NSLock()
        private var _regionCount = 0
        private var _leaseReads = 0
        var regionCount: Int {
            get { lock.withLock { _regionCount } }
            set { lock.withLock { _regionCount = newValue } }
        }
        /// Reads served from a leader lease (no ReadIndex).
        var leaseReads: Int { lock.withLock { _leaseReads } }
        func addLeaseReads(_ count: Int) { lock.withLock { _leaseReads += count } }
    }

    init(storeID: UInt64, config: RaftStoreConfig, raftEngine: any RaftLogStore, kvEngine: any KVEngine,
         transport: any RaftTransport, snapshots: SnapshotManager, logger: Logger, clock: LeaseClock = .system,
         regionHeartbeat: @escaping @Sendable (Schedulerpb.RegionHeartbeatRequest) -> Void,
         regionSize: @escaping @Sendable (Metapb.Region) -> UInt64,
         askSplit: @escaping @Sendable (Metapb.Region) async throws -> Schedulerpb.AskSplitResponse,
         lookupRegion: @escaping @Sendable (UInt64) async throws -> Metapb.Region?) {
        self.storeID = storeID
        self.config = config
        slowRounds = SlowEventLog(threshold: config.slowLogThreshold)
        self.raftEngine = raftEngine
        self.kvEngine = kvEngine
        self.transport = transport
        self.logger = logger
        self.regionHeartbeat = regionHeartbeat
        self.regionSize = regionSize
        self.askSplit = askSplit
        self.lookupRegion = lookupRegion
        stalePeerCheck = StalePeerCheck(interval: UInt64(config.electionTicks * 2))
        hibernation = Hibernation(config: config)
        self.clock = clock
        let inbox = self.inbox
        localReader = LocalReader(storeID: storeID, kvEngine: kvEngine, clock: clock) { regionID in
            inbox.push(.inspect { poller in poller.peers[regionID]?.wantsLeaseRenewal = true })
        }
        self.snapshots = snapshots
        snapshotWorker = SnapshotWorker(manager: snapshots, logger: logger) { regionID, result in
            inbox.push(.snapshotGenerated(regionID: regionID, result))
        }
        applier = ApplyWorker(kvEngine: kvEngine, storeID: storeID, logger: logger, slowLogThreshold: config.slowLogThreshold) { results in
            inbox.push(.applied(results))
        }
        feedback = TransportFeedback(
            unreachable: { message in
                inbox.push(.unreachable(regionID: message.regionId, peerID: message.toPeer?.id ?? 0))
            },
            snapshotFinished: { message, success in
                inbox.push(.snapshotStatus(regionID: message.regionId, peerID: message.toPeer?.id ?? 0, success: success))
            })
    }

    // MARK: - Lifecycle

    /// Loads every live peer from its `RegionLocalState`, then starts the apply and raft threads.
    func start() throws {
        let iterator = try kvEngine.makeIterator(.raft, lowerBound: Keys.regionMetaRange.start, upperBound: Keys.regionMetaRange.end)
        iterator.seekToFirst()
        var states: [RaftServerpb.RegionLocalState] = []
        while iterator.isValid {
            if Keys.regionID(fromStateKey: iterator.key) != nil {
                states.append(try RaftServerpb.RegionLocalState(decoding: iterator.value))
            }
            iterator.next()
        }
        try iterator.checkError()
        try finishInterruptedSnapshots(&states)
        for state in states where state.state == .normal {
            guard let region = state.region, let meta = region.peers.first(where: { $0.storeId == storeID }) else { continue }
            let storage = try PeerStorage(region: region, raftEngine: raftEngine, kvEngine: kvEngine, snapshotWorker: snapshotWorker)
            let peer = try Peer(meta: meta, storage: storage, config: config, restarted: true)
            peers[region.id] = peer
            dirty.insert(region.id)
        }
        stats.regionCount = peers.count
        logger.info("raft store loaded peers", metadata: ["store": "\(storeID)", "peers": "\(peers.count)"])
        applier.start()
        thread.start(name: "raftstore-poller") { [self] in run() }
    }

    /// Before any peer starts: deletes stale snapshot files and finishes the snapshot applies a
    /// crash interrupted (regions left `Applying`), so no peer serves half-applied data.
    private func finishInterruptedSnapshots(_ states: inout [RaftServerpb.RegionLocalState]) throws {
        var interrupted: [UInt64: SnapshotKey] = [:]
        for state in states where state.state == .applying {
            guard let id = state.region?.id else { continue }
            interrupted[id] = try SnapshotApplier.interruptedKey(regionID: id, kvEngine: kvEngine)
        }
        snapshots.cleanUp(keeping: Set(interrupted.values))
        for (position, state) in states.enumerated() where state.state == .applying {
            guard let region = state.region else { continue }
            logger.info("finishing an interrupted snapshot apply", metadata: ["region": "\(region.id)", "index": "\(interrupted[region.id]?.index ?? 0)"])
            do {
                try SnapshotApplier.recover(regionID: region.id, kvEngine: kvEngine, manager: snapshots)
            } catch {
                // The files were synced before Raft saw the snapshot and go only after the apply:
                // losing them means the disk lost synced data. Serving the region would be wrong.
                throw SnapshotFileError("region \(region.id): cannot finish applying its snapshot: \(error)")
            }
            states[position].state = .normal
        }
    }

    /// Stops the raft thread, then the apply thread (which finishes its queue).
    func stop() {
        inbox.close()
        thread.join()
        applier.stop()
    }

    private func run() {
        // Ticks follow the monotonic clock (a wall-clock jump must not fire a burst of ticks:
        // followers' election timeouts, counted in ticks, back the leaders' leases).
        let tickInterval = config.baseTickInterval
        var nextTick = ContinuousClock.now + tickInterval
        while let messages = inbox.drain(timeout: ContinuousClock.now.duration(to: nextTick)) {
            let began = ContinuousClock.now
            roundStart = clock.now()
            for message in messages { handle(message) }
            proposeBatches()
            if ContinuousClock.now >= nextTick {
                tick()
                nextTick = ContinuousClock.now + tickInterval
            }
            serveLocalReads()
            sendReadIndexes()
            handleReadies()
            let took = began.duration(to: .now)
            slowRounds.record(took) { suppressed in
                logger.warning("slow raft round", metadata: [
                    "took_ms": "\(took.millisecondsText)", "messages": "\(messages.count)", "regions_ready": "\(roundReadies)",
                    "write_ms": "\(roundWrite.took.millisecondsText)", "write_ops": "\(roundWrite.operations)",
                    "fsync": "\(roundWrite.synced)", "regions": "\(peers.count)", "slow_rounds_not_logged": "\(suppressed)",
                ])
            }
        }
        for peer in peers.values { peer.failPending(RegionErrors.regionNotFound(peer.regionID), includingProposals: true) }
    }

    // MARK: - Inbox

    private func handle(_ message: PollerMessage) {
        switch message {
        case .raftMessage(let message): onRaftMessage(message)
        case .propose(let command, let callback): propose(command, callback)
        case .command(let command, let respond):
            let header = RaftCmdpb.RaftResponseHeader(currentTerm: peers[command.header?.regionId ?? 0]?.raw.term ?? 0)
            propose(command, { error in
                if let error { respond(RaftCmdpb.RaftCmdResponse(header: RaftCmdpb.RaftResponseHeader(error: error))) }
            }, respond: { responses in respond(RaftCmdpb.RaftCmdResponse(header: header, responses: responses)) })
        case .snapshotGenerated(let regionID, let result):
            if let peer = peers[regionID] {
                peer.storage.snapshotGenerated(result)
                dirty.insert(regionID)
            } else if case .success(let snapshot) = result {
                let files = (try? RaftServerpb.RaftSnapshotData(decoding: snapshot.data))?.meta?.cfFiles ?? []
                snapshots.deleteGenerated(SnapshotKey(regionID: regionID, term: snapshot.metadata?.term ?? 0,
                                                      index: snapshot.metadata?.index ?? 0), files: files)
            }
        case .read(let context, let callback): read(context, callback)
        case .applied(let results): onApplied(results)
        case .snapshotStatus(let regionID, let peerID, let success):
            peers[regionID]?.raw.reportSnapshot(peerID, success: success)
            dirty.insert(regionID)
        case .unreachable(let regionID, let peerID):
            peers[regionID]?.raw.reportUnreachable(peerID)
        case .schedulerCommand(let command): onSchedulerCommand(command)
        case .inspect(let body): body(self)
        case .split(let regionID, let key, let callback): manualSplit(regionID: regionID, key: key, callback)
        case .splitChecked(let regionID, let version, let size, let splitKey):
            onSplitChecked(regionID: regionID, version: version, size: size, splitKey: splitKey)
        case .proposeSplit(let regionID, let epoch, let key, let ids, let callback):
            proposeSplit(regionID: regionID, epoch: epoch, key: key, ids: ids, callback)
        case .regionLookedUp(let peerID, let current): onRegionLookedUp(peerID: peerID, current)
        }
    }

    private func onRaftMessage(_ message: RaftServerpb.RaftMessage) {
        if let fromStore = message.fromPeer?.storeId, fromStore != 0 { hibernation.heard(from: fromStore, at: tickCount) }
        if message.regionId == 0 { return }  // a store ping: liveness only
        if message.isTombstone {
            onTombstone(message)
            return
        }
        guard let to = message.toPeer, to.storeId == storeID, let raftMessage = message.message else {
            logger.debug("dropping raft message for another store", metadata: ["region": "\(message.regionId)"])
            return
        }
        if failedRegions.contains(message.regionId) { return }
        if peers[message.regionId] == nil && !maybeCreatePeer(message) { return }
        guard let peer = peers[message.regionId] else { return }
        if to.id != peer.meta.id {
            // A newer peer id means this one was removed and the store re-added (ids are never
            // reused, and a region has one peer per store): the stale peer goes, data and all, and
            // the next message creates the new one, which catches up by snapshot. Kept, a stale
            // peer that sleeps would never hear of its removal, and a region counting the new
            // peer in its quorum could stay without a leader (TiKV destroys it likewise).
            logger.debug("raft message for another peer id", metadata: ["region": "\(peer.regionID)", "to": "\(to.id)", "have": "\(peer.meta.id)"])
            if to.id > peer.meta.id {
                logger.info("a newer peer of the region is addressed here; destroying the stale one",
                            metadata: ["region": "\(peer.regionID)", "peer": "\(peer.meta.id)", "new-peer": "\(to.id)"])
                destroy(peer)
            }
            return
        }
        if let from = message.fromPeer, isStale(from, epoch: message.regionEpoch, for: peer) {
            // A peer removed from the region (it missed its removal, e.g. while down):
            // tell it so it destroys itself instead of campaigning forever.
            let reply = RaftServerpb.RaftMessage(regionId: peer.regionID, fromPeer: peer.meta, toPeer: from,
                                                 regionEpoch: peer.region.regionEpoch, isTombstone: true)
            transport.send([reply], feedback: feedback)
            return
        }
        if raftMessage.msgType == .msgSnapshot, let data = raftMessage.snapshot?.data,
           let region = (try? RaftServerpb.RaftSnapshotData(decoding: data))?.region,
           let overlapped = overlapsLocalRegion(start: region.startKey, end: region.endKey, excluding: region.id) {
            // A snapshot must not cover another local region (e.g. the parent of a split not applied here yet).
            logger.info("snapshot overlaps a local region; dropped", metadata: ["region": "\(region.id)", "local": "\(overlapped.id)"])
            snapshots.deleteReceived(SnapshotKey(message))
            checkStale(overlapped.id)
            return
        }
        if let from = message.fromPeer { peer.peerCache[from.id] = from }
        // A transfer asked for by a follower: the lease can't be trusted until it is over.
        if raftMessage.msgType == .msgTransferLeader { dropLease(peer, at: clock.now()) }
        do {
            try peer.raw.step(raftMessage)
        } catch {
            logger.trace("step failed", metadata: ["region": "\(peer.regionID)", "error": "\(error)"])
        }
        // Only a sleeping peer is woken: an awake leader's idle count must survive the
        // heartbeat responses it gets while it decides to sleep.
        if peer.hibernating && hibernation.mustWake(peer, after: raftMessage) { hibernation.wake(peer) }
        if let from = message.fromPeer, from.id == peer.leaderID { peer.ticksSinceLeaderMessage = 0 }
        dirty.insert(peer.regionID)
    }

    /// Whether `from` is no longer a member: absent from our region, whose membership is newer.
    private func isStale(_ from: Metapb.Peer, epoch: Metapb.RegionEpoch?, for peer: Peer) -> Bool {
        peer.storage.isInitialized && StalePeerCheck.isRemoved(peerID: from.id, local: epoch, current: peer.region)
    }

    /// A member told us our peer was removed from the region (with a newer membership).
    private func onTombstone(_ message: RaftServerpb.RaftMessage) {
        guard let to = message.toPeer, let peer = peers[message.regionId], peer.meta.id == to.id else { return }
        let theirs = message.regionEpoch?.confVer ?? 0, ours = peer.region.regionEpoch?.confVer ?? 0
        guard theirs > ours else { return }
        logger.info("peer is stale (removed from the region); destroying it", metadata: ["region": "\(peer.regionID)", "peer": "\(peer.meta.id)"])
        destroy(peer)
    }

    /// Creates an uninitialized peer for a region this store doesn't have yet, when a
    /// leader addresses it (it catches up by snapshot) or a candidate asks for its vote.
    /// Not for tombstoned peers.
    ///
    /// Votes matter: a peer added by a conf change the leader committed just before dying has
    /// never heard from any leader, yet it counts in the new quorum (4 voters need 3). Without
    /// its vote the survivors cannot elect anyone (TiKV creates peers on vote requests too).
    /// An empty peer may vote: any candidate's log is at least as up to date as its own.
    private func maybeCreatePeer(_ message: RaftServerpb.RaftMessage) -> Bool {
        guard let to = message.toPeer, let type = message.message?.msgType,
              type == .msgAppend || type == .msgHeartbeat || type == .msgSnapshot
                || type == .msgRequestVote || type == .msgRequestPreVote else { return false }
        do {
            if let bytes = try kvEngine.get(.raft, Keys.regionStateKey(message.regionId)) {
                let state = try RaftServerpb.RegionLocalState(decoding: bytes)
                let localEpoch = state.region?.regionEpoch ?? Metapb.RegionEpoch()
                let messageEpoch = message.regionEpoch ?? Metapb.RegionEpoch()
                let localPeerID = state.region?.peers.first { $0.storeId == storeID }?.id ?? 0
                if state.state == .tombstone && (messageEpoch.confVer <= localEpoch.confVer || to.id <= localPeerID) {
                    logger.debug("message for a tombstoned peer dropped", metadata: ["region": "\(message.regionId)"])
                    return false
                }
            }
            if let overlapped = overlapsLocalRegion(start: message.startKey, end: message.endKey, excluding: message.regionId) {
                // Typically the new region of a split this store has not applied yet: the
                // peer is created by the split itself (TinyKV/TiKV drop such messages too).
                // A vote request is kept for that peer, though: the split's leader campaigns
                // as soon as it applied the split, before the followers did, and without the
                // replay the new region would wait a whole election timeout for a leader.
                if type == .msgRequestVote || type == .msgRequestPreVote { pendingVotes.keep(message) }
                logger.debug("message overlaps a local region; dropped", metadata: ["region": "\(message.regionId)", "local": "\(overlapped.id)"])
                checkStale(overlapped.id)
                return false
            }
            let storage = try PeerStorage(region: Metapb.Region(id: message.regionId), raftEngine: raftEngine, kvEngine: kvEngine,
                                          snapshotWorker: snapshotWorker)
            let peer = try Peer(meta: to, storage: storage, config: config)
            if let from = message.fromPeer { peer.peerCache[from.id] = from }
            peers[message.regionId] = peer
            stats.regionCount = peers.count
            logger.info("created peer from raft message", metadata: ["region": "\(message.regionId)", "peer": "\(to.id)"])
            return true
        } catch {
            logger.error("cannot create peer", metadata: ["region": "\(message.regionId)", "error": "\(error)"])
            return false
        }
    }

    /// Asks the scheduler (off the raft thread, rate-limited) whether the local peer of
    /// `regionID` is still a member of its region; see ``StalePeerCheck``.
    private func checkStale(_ regionID: UInt64) {
        guard let peer = peers[regionID], stalePeerCheck.shouldAsk(about: regionID, at: tickCount) else { return }
        let peerID = peer.meta.id, lookup = lookupRegion, inbox = inbox, logger = logger
        Task {
            do {
                guard let current = try await lookup(regionID) else { return }
                inbox.push(.regionLookedUp(peerID: peerID, current))
            } catch {
                logger.debug("cannot ask the scheduler about a region", metadata: ["region": "\(regionID)", "error": "\(error)"])
            }
        }
    }

    /// The scheduler's answer to ``checkStale(_:)``: destroys the local peer if it was removed.
    private func onRegionLookedUp(peerID: UInt64, _ current: Metapb.Region) {
        guard let peer = peers[current.id], peer.meta.id == peerID,
              StalePeerCheck.isRemoved(peerID: peerID, local: peer.region.regionEpoch, current: current) else { return }
        logger.info("peer was removed from its region (the scheduler's view); destroying it",
                    metadata: ["region": "\(current.id)", "peer": "\(peerID)"])
        destroy(peer)
    }

    /// The peer serving `regionID` on this store, or the region error to return.
    private func route(regionID: UInt64, peer requested: Metapb.Peer?) -> Result<Peer, RegionError> {
        // Region id 0 (route by key) is resolved by RaftKVStorage.locate before it gets here.
        guard let peer = peers[regionID], peer.storage.isInitialized else { return .failure(RegionError(RegionErrors.regionNotFound(regionID))) }
        if let requested, requested.storeId != 0, requested.storeId != storeID {
            return .failure(RegionError(RegionErrors.storeNotMatch(requested: requested.storeId, actual: storeID)))
        }
        guard peer.isLeader else { return .failure(RegionError(RegionErrors.notLeader(peer.regionID, leader: peer.leaderPeer))) }
        return .success(peer)
    }

    private func propose(_ command: RaftCmdpb.RaftCmdRequest, _ callback: @escaping WriteCallback,
                         respond: (@Sendable ([RaftCmdpb.Response]) -> Void)? = nil) {
        let header = command.header ?? RaftCmdpb.RaftRequestHeader()
        let peer: Peer
        switch route(regionID: header.regionId, peer: header.peer) {
        case .failure(let error): return callback(error.error)
        case .success(let found): peer = found
        }
        hibernation.wake(peer)
        let admin = command.adminRequest != nil
        if let error = RegionErrors.checkEpoch(header.regionEpoch, region: peer.region, admin: admin) {
            return callback(epochNotMatch(error, peer))
        }
        for request in command.requests {
            let (cfName, key) = switch request.cmdType {
            case .put: (request.put?.cf, request.put?.key)
            case .get: (request.get?.cf, request.get?.key)
            default: (request.delete?.cf, request.delete?.key)
            }
            let cf = ColumnFamily.named(cfName ?? "") ?? .default
            if let key, !RegionData.contains(peer.region, cf, key) {
                return callback(RegionData.keyNotInRegion(peer.region, cf, key))
            }
        }
        if respond == nil, ProposalBatch.canBatch(command) {
            var batchHeader = header
            batchHeader.regionId = peer.regionID
            batchHeader.regionEpoch = peer.region.regionEpoch
            if peer.batch.isEmpty { batchedRegions.append(peer.regionID) }
            peer.batch.add(command, header: batchHeader, callback: callback)
            if peer.batch.isFull { proposeBatch(peer) }
            return
        }
        // Anything else goes after the writes that arrived before it.
        proposeBatch(peer)
        var command = command
        command.header?.regionId = peer.regionID
        append(command, to: peer, callback: callback, respond: respond)
    }

    /// Proposes the region's batched writes as one entry.
    private func proposeBatch(_ peer: Peer) {
        let joined = peer.batch.count - 1
        guard let (command, callback) = peer.batch.take() else { return }
        if joined > 0 { RaftStoreMetrics.batchedCommands.increment(by: joined) }
        append(command, to: peer, callback: callback, respond: nil)
    }

    /// Proposes every batch of the round (before its Readies are handled).
    private func proposeBatches() {
        for regionID in batchedRegions {
            if let peer = peers[regionID] { proposeBatch(peer) }
        }
        batchedRegions.removeAll(keepingCapacity: true)
    }

    private func append(_ command: RaftCmdpb.RaftCmdRequest, to peer: Peer, callback: @escaping WriteCallback,
                        respond: (@Sendable ([RaftCmdpb.Response]) -> Void)?) {
        // Only an entry this leader appends can answer the proposal. A batch is proposed at the
        // end of the round, after the round's raft messages: the peer may have stepped down
        // since it accepted the writes. Raft then forwards the proposal to the new leader
        // without appending it (or drops it), and a proposal recorded at our last index would be
        // answered by whichever entry the new leader put there: acknowledged, never written.
        // So, as TiKV does, check that the log grew by exactly this entry.
        let index = peer.raw.lastIndex + 1
        let appended = peer.isLeader && (try? peer.raw.propose(data: command.encode())) != nil && peer.raw.lastIndex == index
        guard appended else { return callback(RegionErrors.notLeader(peer.regionID, leader: peer.leaderPeer)) }
        // Followers create the split's new peers when they apply it: let them know it committed at once.
        if command.adminRequest?.cmdType == .split { peer.raw.broadcastCommit(through: peer.raw.lastIndex) }
        peer.proposals.append(Proposal(index: peer.raw.lastIndex, term: peer.raw.term, respond: respond, callback: callback,
                                       proposedAt: roundStart))
        RaftStoreMetrics.proposals.increment()
        dirty.insert(peer.regionID)
    }

    private func read(_ context: Kvrpcpb.Context, _ callback: @escaping ReadCallback) {
        let peer: Peer
        switch route(regionID: context.regionId, peer: context.peer) {
        case .failure(let error): return callback(.failure(error))
        case .success(let found): peer = found
        }
        if let error = RegionErrors.checkEpoch(context.regionEpoch, region: peer.region, admin: false) {
            return callback(.failure(RegionError(epochNotMatch(error, peer))))
        }
        if let index = leaseReadIndex(peer, at: clock.now()) {
            peer.localReads.append(LocalRead(index: index, callback: callback))
            localReadPeers.insert(peer.regionID)
        } else {
            // A ReadIndex round needs a leader that heartbeats: wake it if it sleeps.
            hibernation.wake(peer)
            peer.readsToSend.append(callback)
        }
    }

    /// The applied index a read must wait for to be served from `peer`'s lease now, or nil
    /// when it must confirm leadership with ReadIndex: no valid lease, a leadership transfer
    /// under way (the transferee may campaign at once, ignoring the followers' promise), or
    /// no entry of this term committed yet. The index is the leader's first entry of its
    /// term: once it is applied, every write an earlier leader acknowledged is applied here,
    /// and this leader acknowledges writes only after applying them (TiKV's LocalReader
    /// asks the same: an applied entry of the current term).
    private func leaseReadIndex(_ peer: Peer, at now: Duration) -> UInt64? {
        guard peer.lease.isEnabled, peer.isLeader else { return nil }
        if peer.raw.leadTransferee != 0 {
            dropLease(peer, at: now)
            return nil
        }
        guard peer.lease.isValid(at: now), peer.raw.hasCommittedEntryInCurrentTerm else { return nil }
        return peer.termStartIndex
    }

    /// Drops `peer`'s lease here and in the local reader; rounds started before `now` can't renew it.
    private func dropLease(_ peer: Peer, at now: Duration) {
        peer.lease.expire(at: now)
        localReader.revoke(peer.regionID)
    }

    /// Lets the local reader serve `peer`'s reads while its lease holds (or stops it).
    private func publishLease(_ peer: Peer) {
        guard peer.isLeader, let expiry = peer.lease.expiry, peer.appliedIndex >= peer.termStartIndex,
              peer.raw.leadTransferee == 0, peer.raw.hasCommittedEntryInCurrentTerm else {
            return localReader.revoke(peer.regionID)
        }
        localReader.publish(peer.region, leaseExpiry: expiry, renewAfter: expiry - peer.lease.duration / 2)
    }

    /// Serves the lease reads admitted this round (one snapshot per region).
    private func serveLocalReads() {
        guard !localReadPeers.isEmpty else { return }
        for regionID in localReadPeers {
            guard let peer = peers[regionID] else { continue }
            serveReads(peer)
        }
        localReadPeers.removeAll(keepingCapacity: true)
    }

    /// One ReadIndex request per peer per round, for all the reads it received; also renews
    /// a leader lease that is about to run out while lease reads are coming in.
    private func sendReadIndexes() {
        for peer in peers.values where !peer.readsToSend.isEmpty || (peer.wantsLeaseRenewal && peer.pendingReads.isEmpty) {
            peer.wantsLeaseRenewal = false
            readSequence += 1
            var context: [UInt8] = []
            Keys.appendBigEndian(readSequence, to: &context)
            let startedAt = clock.now()
            peer.raw.readIndex(context: context)
            RaftStoreMetrics.readIndexRequests.increment()
            peer.pendingReads.append(PendingRead(context: context, callbacks: peer.readsToSend, index: nil, tick: tickCount, startedAt: startedAt))
            peer.readsToSend = []
            dirty.insert(peer.regionID)
        }
    }

    /// Answers the reads whose index is applied: ReadIndex reads, and lease reads while the
    /// lease still holds at the moment of the snapshot (otherwise they fall back to ReadIndex).
    private func serveReads(_ peer: Peer) {
        let readIndexReady = peer.pendingReads.first.flatMap(\.index).map { $0 <= peer.appliedIndex } ?? false
        let localReady = peer.localReads.first.map { $0.index <= peer.appliedIndex } ?? false
        guard readIndexReady || localReady else { return }
        let snapshot: any KVReader
        do {
            snapshot = try kvEngine.snapshot()
        } catch {
            return peer.failPending(Errorpb.Error(message: "snapshot failed: \(error)"), includingProposals: false)
        }
        let reader = RegionReader(inner: snapshot, region: peer.region)
        while let read = peer.pendingReads.first, let index = read.index, index <= peer.appliedIndex {
            peer.pendingReads.removeFirst()
            for callback in read.callbacks { callback(.success(reader)) }
        }
        guard localReady else { return }
        let now = clock.now()
        if leaseReadIndex(peer, at: now) == nil {
            // The lease ran out (or leadership is moving) before the data was applied.
            peer.readsToSend.append(contentsOf: peer.localReads.map(\.callback))
            peer.localReads = []
            return
        }
        if peer.lease.needsRenewal(at: now) { peer.wantsLeaseRenewal = true }
        var served = 0
        while let read = peer.localReads.first, read.index <= peer.appliedIndex {
            peer.localReads.removeFirst()
            read.callback(.success(reader))
            served += 1
        }
        RaftStoreMetrics.leaseReads.increment(by: served)
        stats.addLeaseReads(served)
        if served > 0 { publishLease(peer) }
    }

    private func onApplied(_ results: [ApplyResult]) {
        for result in results {
            guard let peer = peers[result.regionID] else {
                // Destroyed meanwhile: the regions its splits created still exist (their state
                // and data are written); start their peers, or they would be orphans until restart.
                for split in result.splits { onSplit(parent: nil, split) }
                continue
            }
            peer.appliedIndex = max(peer.appliedIndex, result.appliedIndex)
            if let region = result.region {
                if peer.isLeader { sendTombstones(from: peer, removedBy: region) }
                peer.storage.region = region
                peer.refreshPeerCache()
            }
            for change in result.confChanges {
                do { try peer.raw.applyConfChange(change) } catch {
                    logger.error("applyConfChange failed", metadata: ["region": "\(peer.regionID)", "error": "\(error)"])
                }
            }
            if let truncated = result.truncatedState {
                peer.storage.compact(to: truncated, into: &pendingRaftBatch)
                pendingHoldsOnlyCommitIndexes = false
            }
            peer.sizeDiffHint = peer.sizeDiffHint &+ result.sizeDiff
            for split in result.splits { onSplit(parent: peer, split) }
            if result.removedSelf {
                destroy(peer)
                continue
            }
            if result.region != nil && peer.isLeader { sendRegionHeartbeat(peer) }
            if peer.isLeader { publishLease(peer) }
            serveReads(peer)
            dirty.insert(peer.regionID)
        }
    }

    /// A leader that applied the removal of peers tells each of them (with the new membership),
    /// so a removed peer that missed the entry, e.g. while cut off, destroys itself instead of
    /// lingering: asleep, it would hear from no one, and its range would keep blocking the
    /// regions split from it on its store. A lost tombstone is covered by the other paths
    /// (a stale peer's own messages, a newer peer id, ``StalePeerCheck``).
    private func sendTombstones(from peer: Peer, removedBy region: Metapb.Region) {
        let removed = peer.region.peers.filter { old in !region.peers.contains { $0.id == old.id } }
        guard !removed.isEmpty else { return }
        let tombstones = removed.map {
            RaftServerpb.RaftMessage(regionId: region.id, fromPeer: peer.meta, toPeer: $0, regionEpoch: region.regionEpoch, isTombstone: true)
        }
        transport.send(tombstones, feedback: feedback)
    }

    /// Removes a peer from this store: its log goes now, its data through the apply worker,
    /// and a tombstone `RegionLocalState` stays so late messages don't resurrect it.
    ///
    /// Both writes finish before this returns: a message for a new peer of the region (the
    /// store re-added) may arrive in the very next round, and the new peer must start from
    /// empty storage, not from the old log cleared later or the old apply state the apply
    /// worker has not deleted yet (it would start with applied > committed).
    private func destroy(_ peer: Peer) {
        logger.info("destroying peer", metadata: ["region": "\(peer.regionID)", "peer": "\(peer.meta.id)"])
        peer.failPending(RegionErrors.regionNotFound(peer.regionID), includingProposals: true)
        var batch = pendingRaftBatch
        pendingRaftBatch = WriteBatch()
        pendingHoldsOnlyCommitIndexes = false
        peer.storage.clear(into: &batch)
        localReader.revoke(peer.regionID)
        peer.storage.dropGeneratedSnapshot()
        peers[peer.regionID] = nil
        dirty.remove(peer.regionID)
        stats.regionCount = peers.count
        do {
            try raftEngine.write(batch, sync: true)
            if peer.storage.isInitialized {
                let done = Completion()
                applier.inbox.push(.destroy(region: peer.region, done: done))
                try done.wait()
            }
        } catch {
            // Half-destroyed state must not be served or recreated from: stop, as for other engine failures.
            fatalError("raftstore: cannot destroy the peer of region \(peer.regionID): \(error)")
        }
    }

    private func onSchedulerCommand(_ command: Schedulerpb.RegionHeartbeatResponse) {
        guard let peer = peers[command.regionId], peer.isLeader else { return }
        if command.changePeer != nil || command.transferLeader != nil { hibernation.wake(peer) }
        if let change = command.changePeer, let target = change.peer {
            let exists = peer.region.peers.contains { $0.id == target.id }
            if (change.changeType == .addNode && exists) || (change.changeType == .removeNode && !exists) { return }
            if change.changeType == .removeNode && target.id == peer.meta.id {
                // Never remove the leader itself: hand leadership over; the scheduler retries.
                if let successor = leadershipSuccessor(peer) {
                    dropLease(peer, at: clock.now())
                    peer.raw.transferLeader(to: successor)
                    dirty.insert(peer.regionID)
                }
                return
            }
            peer.peerCache[target.id] = target
            var admin = RaftCmdpb.AdminRequest(cmdType: .changePeer)
            admin.changePeer = RaftCmdpb.ChangePeerRequest(changeType: change.changeType, peer: target)
            var request = RaftCmdpb.RaftCmdRequest(header: peer.commandHeader())
            request.adminRequest = admin
            let confChange = Eraftpb.ConfChange(changeType: change.changeType, nodeId: target.id, context: request.encode())
            do {
                try peer.raw.proposeConfChange(confChange)
                logger.info("proposed conf change", metadata: ["region": "\(peer.regionID)", "change": "\(change.changeType)", "peer": "\(target.id)@\(target.storeId)"])
            } catch {
                logger.debug("conf change not proposed", metadata: ["region": "\(peer.regionID)", "error": "\(error)"])
            }
            dirty.insert(peer.regionID)
        } else if let transfer = command.transferLeader, let target = transfer.peer, target.id != peer.meta.id {
            peer.peerCache[target.id] = target
            dropLease(peer, at: clock.now())
            peer.raw.transferLeader(to: target.id)
            dirty.insert(peer.regionID)
        }
    }

    /// The follower best placed to take the leadership over: one heard from recently, then the
    /// most caught up. A peer whose store died has not answered this leader, so its match stays
    /// where this term began (a fixed pick, such as the first peer, could keep choosing it).
    private func leadershipSuccessor(_ peer: Peer) -> UInt64? {
        peer.raw.status().progress
            .filter { id, _ in id != peer.meta.id }
            .max { a, b in (a.value.recentActive ? 1 : 0, a.value.match, a.key) < (b.value.recentActive ? 1 : 0, b.value.match, b.key) }?
            .key
    }

    // MARK: - Ticks

    private func tick() {
        tickCount += 1
        let gcTicks = config.ticks(config.logGCTickInterval)
        let heartbeatTicks = config.ticks(config.schedulerHeartbeatTickInterval)
        let splitCheckTicks = config.ticks(config.splitCheckTickInterval)
        // Reads that Raft dropped (no leader, leadership lost) are failed so clients retry.
        let readTimeout = UInt64(config.electionTicks * 2)
        // Snapshot files nobody uses any more (sends that never started, refused snapshots).
        if tickCount % UInt64(config.ticks(.seconds(60))) == 0 {
            snapshotWorker.sweep()
            stalePeerCheck.prune(at: tickCount)
        }
        for peer in peers.values {
            if hibernation.shouldTick(peer, leaderStore: peer.leaderPeer?.storeId, tick: tickCount) {
                peer.raw.tick()
                dirty.insert(peer.regionID)
            }
            if let first = peer.pendingReads.first, first.index == nil, tickCount - first.tick > readTimeout {
                peer.failPending(RegionErrors.notLeader(peer.regionID, leader: peer.leaderPeer), includingProposals: false)
            }
            guard peer.isLeader else { continue }
            peer.gcTicks += 1
            if peer.gcTicks >= gcTicks {
                peer.gcTicks = 0
                maybeCompactLog(peer)
            }
            peer.splitCheckTicks += 1
            if peer.splitCheckTicks >= splitCheckTicks {
                peer.splitCheckTicks = 0
                maybeCheckSplit(peer)
            }
            peer.heartbeatTicks += 1
            if peer.heartbeatTicks >= heartbeatTicks
                || (!peer.reportedPendingPeers.isEmpty && !peer.reportedPendingPeers.isSubset(of: pendingPeerIDs(peer))) {
                peer.heartbeatTicks = 0
                sendRegionHeartbeat(peer)
            }
        }
        sendStorePings()
        if hibernation.enabled { RaftStoreMetrics.hibernatedPeers.record(peers.values.reduce(0) { $0 + ($1.hibernating ? 1 : 0) }) }
    }

    /// One ping per tick to every store this one shares a region with, so followers of sleeping
    /// regions there can tell "leader asleep" from "leader's store down" (see ``Hibernation``).
    private func sendStorePings() {
        guard hibernation.enabled else { return }
        var stores = Set<UInt64>()
        for peer in peers.values {
            for member in peer.region.peers where member.storeId != storeID { stores.insert(member.storeId) }
        }
        guard !stores.isEmpty else { return }
        transport.send(stores.sorted().map { Hibernation.ping(from: storeID, to: $0) }, feedback: feedback)
    }

    /// Proposes `CompactLog` up to the applied index once enough applied entries, or bytes of
    /// entries, piled up (like TinyKV and TiKV: followers further behind catch up by snapshot).
    /// The size limit also bounds the raft engine's memory: ``RaftLogEngine`` holds logs in memory.
    private func maybeCompactLog(_ peer: Peer) {
        let first = (try? peer.storage.firstIndex()) ?? 0
        let applied = peer.appliedIndex
        guard applied > first,
              applied - first >= config.logGCCountLimit || peer.storage.approximateLogBytes >= config.logGCSizeLimit,
              let term = try? peer.storage.term(applied) else { return }
        var admin = RaftCmdpb.AdminRequest(cmdType: .compactLog)
        admin.compactLog = RaftCmdpb.CompactLogRequest(compactIndex: applied, compactTerm: term)
        var request = RaftCmdpb.RaftCmdRequest(header: peer.commandHeader())
        request.adminRequest = admin
        try? peer.raw.propose(data: request.encode())
        dirty.insert(peer.regionID)
    }

    private func sendRegionHeartbeat(_ peer: Peer) {
        var request = Schedulerpb.RegionHeartbeatRequest(region: peer.region, leader: peer.meta)
        let pending = pendingPeerIDs(peer)
        request.pendingPeers = pending.compactMap { peer.peerCache[$0] }
        peer.reportedPendingPeers = pending
        request.approximateSize = max(regionSize(peer.region), peer.approximateSize)
        regionHeartbeat(request)
    }

    /// The leader's followers that are pending, as in TiKV: they lack entries this leader no
    /// longer has (they need a snapshot).
    private func pendingPeerIDs(_ peer: Peer) -> Set<UInt64> {
        let truncatedIndex = max((try? peer.storage.firstIndex()) ?? 1, 1) - 1
        var pending = Set<UInt64>()
        for (id, progress) in peer.raw.status().progress where id != peer.meta.id && progress.match < truncatedIndex {
            pending.insert(id)
        }
        return pending
    }

    // MARK: - Split

    /// `error` (an epoch mismatch) with the regions a client needs to re-route: this one and
    /// the local regions split off it with the same version (TiKV adds the new regions too).
    private func epochNotMatch(_ error: Errorpb.Error, _ peer: Peer) -> Errorpb.Error {
        guard var epochError = error.epochNotMatch else { return error }
        let version = peer.region.regionEpoch?.version ?? 0
        for other in peers.values where other.regionID != peer.regionID && other.storage.isInitialized
            && other.region.regionEpoch?.version == version && other.region.startKey == peer.region.endKey && !peer.region.endKey.isEmpty {
            epochError.currentRegions.append(other.region)
        }
        var error = error
        error.epochNotMatch = epochError
        return error
    }

    /// Whether `[start, end)` overlaps an initialized region of this store other than `regionID`.
    private func overlapsLocalRegion(start: [UInt8], end: [UInt8], excluding regionID: UInt64) -> Metapb.Region? {
        for other in peers.values where other.regionID != regionID && other.storage.isInitialized {
            let region = other.region
            let beforeTheirEnd = region.endKey.isEmpty || start.lexicographicallyPrecedes(region.endKey)
            let afterTheirStart = end.isEmpty || region.startKey.lexicographicallyPrecedes(end)
            if beforeTheirEnd && afterTheirStart { return region }
        }
        return nil
    }

    /// After a split was applied: the parent keeps its new range; the new region's peer on
    /// this store starts (replacing an uninitialized one created by an early message) and,
    /// if the parent leads, campaigns at once so the new region has a leader immediately.
    /// `parent` is nil when it was destroyed before the split's result arrived.
    private func onSplit(parent: Peer?, _ split: SplitResult) {
        parent?.sizeDiffHint = Peer.sizeUnknown  // check both halves again
        guard split.created, let meta = split.new.peers.first(where: { $0.storeId == storeID }) else {
            logger.info("split: new region already known on this store", metadata: ["region": "\(split.new.id)"])
            return
        }
        if let existing = peers[split.new.id] {
            if existing.storage.isInitialized { return }
            existing.failPending(RegionErrors.regionNotFound(split.new.id), includingProposals: true)
            peers[split.new.id] = nil
        }
        do {
            let storage = try PeerStorage(region: split.new, raftEngine: raftEngine, kvEngine: kvEngine, snapshotWorker: snapshotWorker)
            let peer = try Peer(meta: meta, storage: storage, config: config)
            if let parent {
                peer.approximateSize = parent.approximateSize / 2
                parent.approximateSize /= 2
            }
            peers[split.new.id] = peer
            stats.regionCount = peers.count
            if parent?.isLeader == true { peer.raw.campaign() }
            dirty.insert(split.new.id)
            for vote in pendingVotes.take(split.new.id) { onRaftMessage(vote) }
        } catch {
            logger.error("cannot create the peer of a split region", metadata: ["region": "\(split.new.id)", "error": "\(error)"])
        }
    }

    /// The size hint that makes the next split-check tick look at a region again.
    private var splitRetryHint: UInt64 { max(1, config.regionSplitSize / 16) }

    /// Starts a background size check of a leader's region if enough was written since the last one.
    private func maybeCheckSplit(_ peer: Peer) {
        guard !peer.splitInFlight, peer.storage.isInitialized,
              SplitChecker.needsScan(lastMeasured: peer.approximateSize, writtenSince: peer.sizeDiffHint,
                                     maxSize: config.regionMaxSize, minWritten: splitRetryHint) else { return }
        peer.splitInFlight = true
        peer.sizeDiffHint = 0
        let region = peer.region, engine = kvEngine, inbox = inbox
        let maxSize = config.regionMaxSize, splitSize = config.regionSplitSize
        splitCheckQueue.async { [logger] in
            var size: UInt64?
            var splitKey: [UInt8]?
            do {
                (size, splitKey) = try RegionData.splitCheck(region, in: try engine.snapshot(), maxSize: maxSize, splitSize: splitSize)
            } catch {
                logger.warning("split check failed", metadata: ["region": "\(region.id)", "error": "\(error)"])
            }
            inbox.push(.splitChecked(regionID: region.id, version: region.regionEpoch?.version ?? 0, size: size, splitKey: splitKey))
        }
    }

    private func onSplitChecked(regionID: UInt64, version: UInt64, size: UInt64?, splitKey: [UInt8]?) {
        guard let peer = peers[regionID] else { return }
        guard let size else {
            // Nothing was measured: the size bound is lost, so check again at the next tick.
            peer.splitInFlight = false
            peer.sizeDiffHint = Peer.sizeUnknown
            return
        }
        peer.approximateSize = size
        guard let splitKey, peer.isLeader, peer.region.regionEpoch?.version == version else {
            peer.splitInFlight = false
            // The region changed while it was scanned: look again at the next split-check tick.
            if splitKey != nil { peer.sizeDiffHint = max(peer.sizeDiffHint, splitRetryHint) }
            return
        }
        logger.info("region too large; splitting", metadata: ["region": "\(regionID)", "size": "\(size)"])
        let inbox = inbox, retryHint = splitRetryHint
        startSplit(peer, key: splitKey) { error in
            if let error { Self.logSplitFailure(regionID, error) }
            inbox.push(.inspect { poller in
                guard let peer = poller.peers[regionID] else { return }
                peer.splitInFlight = false
                // A failed split (AskSplit before the scheduler knew the region, an epoch race,
                // leadership lost) is retried at the next split-check tick: without new writes
                // nothing else would check the region again and it would stay too large.
                if error != nil { peer.sizeDiffHint = max(peer.sizeDiffHint, retryHint) }
            })
        }
    }

    private static func logSplitFailure(_ regionID: UInt64, _ error: Errorpb.Error) {
        Logger(label: "raftstore").debug("split not done", metadata: ["region": "\(regionID)", "error": "\(error.message)"])
    }

    /// A split asked for by a client or test: the leader splits at `key`.
    private func manualSplit(regionID: UInt64, key: [UInt8], _ callback: @escaping WriteCallback) {
        switch route(regionID: regionID, peer: nil) {
        case .failure(let error): callback(error.error)
        case .success(let peer):
            guard key != peer.region.startKey, RegionRange.contains(peer.region, key) else {
                return callback(RegionRange.keyNotInRegion(key, peer.region))
            }
            startSplit(peer, key: key, callback)
        }
    }

    /// Asks the scheduler for ids (off the raft thread), then proposes the split.
    private func startSplit(_ peer: Peer, key: [UInt8], _ callback: @escaping WriteCallback) {
        let region = peer.region, ask = askSplit, inbox = inbox
        Task {
            do {
                let ids = try await ask(region)
                let accepted = inbox.push(.proposeSplit(regionID: region.id, epoch: region.regionEpoch ?? Metapb.RegionEpoch(),
                                                        key: key, ids: ids, callback))
                if !accepted { callback(RegionErrors.regionNotFound(region.id)) }
            } catch {
                callback(Errorpb.Error(message: "ask split failed: \(error)"))
            }
        }
    }

    private func proposeSplit(regionID: UInt64, epoch: Metapb.RegionEpoch, key: [UInt8], ids: Schedulerpb.AskSplitResponse,
                              _ callback: @escaping WriteCallback) {
        guard let peer = peers[regionID] else { return callback(RegionErrors.regionNotFound(regionID)) }
        var admin = RaftCmdpb.AdminRequest(cmdType: .split)
        admin.split = RaftCmdpb.SplitRequest(splitKey: key, newRegionId: ids.newRegionId, newPeerIds: ids.newPeerIds)
        var request = RaftCmdpb.RaftCmdRequest(header: RaftCmdpb.RaftRequestHeader(regionId: regionID, peer: peer.meta, regionEpoch: epoch))
        request.adminRequest = admin
        logger.info("proposing split", metadata: ["region": "\(regionID)", "new-region": "\(ids.newRegionId)"])
        propose(request, callback)
    }

    // MARK: - Ready

    private func handleReadies() {
        var batch = pendingRaftBatch
        pendingRaftBatch = WriteBatch()
        var sync = false
        // Whether the batch holds only hard states that moved nothing but the commit index.
        var onlyCommitIndexes = batch.isEmpty || pendingHoldsOnlyCommitIndexes
        pendingHoldsOnlyCommitIndexes = false
        var readies: [(peer: Peer, ready: Ready, appliesEarly: Bool)] = []
        for regionID in dirty {
            guard let peer = peers[regionID], peer.raw.hasReady() else { continue }
            let ready = peer.raw.ready()
            if let snapshot = ready.snapshot, let metadata = snapshot.metadata, metadata.index > 0 {
                guard installSnapshot(snapshot, on: peer, into: &batch) else { continue }
                sync = true
            }
            let persistedLast = (try? peer.storage.lastIndex()) ?? 0
            peer.storage.append(ready.entries, into: &batch)
            if !ready.entries.isEmpty { RaftStoreMetrics.appendedEntries.increment(by: ready.entries.count) }
            if let hardState = ready.hardState { peer.storage.setHardState(hardState, into: &batch) }
            sync = sync || ready.mustSync
            if !ready.entries.isEmpty || ready.snapshot != nil { onlyCommitIndexes = false }
            readies.append((peer, ready, Self.committedAreOnDisk(ready, persistedLast: persistedLast)))
        }
        dirty.removeAll(keepingCapacity: true)
        roundReadies = readies.count
        roundWrite = (.zero, 0, false)
        // A leader's messages (appends, heartbeats) do not depend on its own log being on
        // disk (Raft thesis §10.2.1): send them before the fsync so followers write in
        // parallel with the leader. Everyone else must persist before speaking (votes and
        // append responses acknowledge what is on disk).
        var outgoing: [RaftServerpb.RaftMessage] = []
        for (peer, ready, _) in readies where peer.isLeader && ready.snapshot == nil {
            collectMessages(peer, ready, into: &outgoing)
        }
        if !outgoing.isEmpty {
            transport.send(outgoing, feedback: feedback)
            outgoing.removeAll()
        }
        // Entries this round only commits (they reached the disk in an earlier round) need not
        // wait for its fsync: hand them to the apply thread first. When this thread has nothing
        // else to do (the round writes nothing and no message waits), apply them here if the
        // apply thread is idle: waking it would take longer. Under load, applying here would
        // hold up the next round instead.
        let defersCommitIndexes = !sync && onlyCommitIndexes
        let inline = (batch.isEmpty || defersCommitIndexes) && inbox.isIdle
        for (peer, ready, appliesEarly) in readies where appliesEarly { dispatchCommitted(peer, ready, inline: inline) }
        if defersCommitIndexes {
            // A commit index need not be on disk (Raft recovers it from a quorum, and a restart
            // raises it to the applied index, see PeerStorage): ride on the next write instead
            // of a write of its own, which a leader would otherwise make for every commit.
            pendingRaftBatch = batch
            pendingHoldsOnlyCommitIndexes = true
        } else if !batch.isEmpty {
            do {
                let started = ContinuousClock.now
                try raftEngine.write(batch, sync: sync)
                let took = started.duration(to: .now)
                RaftStoreMetrics.appendLatency.record(took)
                roundWrite = (took, batch.count, sync)
            } catch {
                // Nothing sent or acknowledged depends on this write yet, but Raft's state
                // now runs ahead of the disk: the only safe reaction is to stop.
                fatalError("raftstore: raft engine write failed: \(error)")
            }
        }
        for (peer, ready, appliesEarly) in readies {
            if let soft = ready.softState { onSoftStateChange(peer, soft) }
            if !(peer.isLeader && ready.snapshot == nil) { collectMessages(peer, ready, into: &outgoing) }
            for state in ready.readStates {
                if let position = peer.pendingReads.firstIndex(where: { $0.context == state.requestContext }) {
                    peer.pendingReads[position].index = state.index
                    // A quorum acknowledged heartbeats sent after the round started.
                    if peer.isLeader {
                        peer.lease.renew(startedAt: peer.pendingReads[position].startedAt)
                        publishLease(peer)
                    }
                }
            }
            if !appliesEarly { dispatchCommitted(peer, ready) }
            peer.raw.advance(ready)
            answerDroppedProposals(peer)
            serveReads(peer)
            if peer.raw.hasReady() { dirty.insert(peer.regionID) }
        }
        if !outgoing.isEmpty { transport.send(outgoing, feedback: feedback) }
    }

    /// True when every entry a Ready commits was already on this store's disk before the round:
    /// none is new in this Ready, none was written by it, and no snapshot replaces the log. Such
    /// entries may be applied before the round's own write is synced. (A leader of several voters
    /// learns of a commit only from an acknowledgement, which arrives after the round that appended
    /// the entry synced it; a single-voter leader commits as it appends, and waits.)
    static func committedAreOnDisk(_ ready: Ready, persistedLast: UInt64) -> Bool {
        guard ready.snapshot == nil, let last = ready.committedEntries.last?.index else { return false }
        return last <= persistedLast && (ready.entries.first.map { $0.index > last } ?? true)
    }

    /// Hands a Ready's committed entries, with the proposals they answer, to the apply thread,
    /// or applies them on this thread when `inline` and the apply thread is idle.
    private func dispatchCommitted(_ peer: Peer, _ ready: Ready, inline: Bool = false) {
        guard let last = ready.committedEntries.last else { return }
        var covered: [Proposal] = []
        while let proposal = peer.proposals.first, proposal.index <= last.index {
            covered.append(peer.proposals.removeFirst())
        }
        // A quorum stored an entry of this term sent after it was proposed.
        if peer.isLeader, let newest = covered.last, newest.term == peer.raw.term {
            peer.lease.renew(startedAt: newest.proposedAt)
            publishLease(peer)
        }
        let task = ApplyTask.apply(regionID: peer.regionID, peerID: peer.meta.id,
                                   entries: ready.committedEntries, proposals: covered)
        if inline && applier.applyInline(task) { return }
        applier.inbox.push(task)
    }

    /// Wraps a Ready's messages for the transport; unroutable ones are reported unreachable.
    private func collectMessages(_ peer: Peer, _ ready: Ready, into outgoing: inout [RaftServerpb.RaftMessage]) {
        for message in ready.messages {
            if let wrapped = peer.wrap(message) {
                outgoing.append(wrapped)
            } else {
                peer.raw.reportUnreachable(message.to)
                if message.msgType == .msgSnapshot {
                    peer.raw.reportSnapshot(message.to, success: false)
                    SnapshotSender.discard(RaftServerpb.RaftMessage(regionId: peer.regionID, message: message), manager: snapshots)
                }
            }
        }
    }

    /// A former leader's proposals whose entries left its log (overwritten by a newer leader's
    /// entries or replaced by a snapshot) would be answered only once the region's log reaches
    /// their indexes again, which may never happen on an idle region: answer them now, as
    /// stale (the client retries; like the snapshot case, the outcome is not certain).
    private func answerDroppedProposals(_ peer: Peer) {
        guard !peer.isLeader, !peer.proposals.isEmpty else { return }
        let first = (try? peer.storage.firstIndex()) ?? 0
        peer.proposals.removeAll { proposal in
            if proposal.index >= first, let term = try? peer.storage.term(proposal.index), term == proposal.term { return false }
            proposal.callback(RegionErrors.staleCommand())
            return true
        }
    }

    private func onSoftStateChange(_ peer: Peer, _ soft: SoftState) {
        dropLease(peer, at: clock.now())
        if soft.role == .leader {
            // The new term's empty entry was appended when this peer became leader.
            peer.termStartIndex = peer.raw.lastIndex
            RaftStoreMetrics.becameLeader.increment()
            logger.info("became leader", metadata: ["region": "\(peer.regionID)", "peer": "\(peer.meta.id)", "term": "\(peer.raw.term)"])
            peer.heartbeatTicks = 0
            sendRegionHeartbeat(peer)
        } else {
            // Reads wait for a confirmation this peer can no longer give. Proposals stay:
            // the apply worker answers them (applied or stale) when their index commits.
            peer.failPending(RegionErrors.notLeader(peer.regionID, leader: peer.leaderPeer), includingProposals: false)
        }
    }

    /// Installs a received snapshot: the data from its files (through the apply worker, so it
    /// is ordered after the entries already handed over; see ``SnapshotApplier``), then the
    /// log restarts at the snapshot. If the apply fails (a disk error, a damaged file) the
    /// region stays `Applying` on disk and stops here until the store restarts and finishes it.
    private func installSnapshot(_ snapshot: Eraftpb.Snapshot, on peer: Peer, into batch: inout WriteBatch) -> Bool {
        guard let metadata = snapshot.metadata else { return false }
        let key = SnapshotKey(regionID: peer.regionID, term: metadata.term, index: metadata.index)
        do {
            let data = try RaftServerpb.RaftSnapshotData(decoding: snapshot.data)
            guard let region = data.region else { throw SnapshotFileError("snapshot without region") }
            let done = Completion()
            applier.inbox.push(.installSnapshot(data, key: key, oldRegion: peer.storage.isInitialized ? peer.region : nil,
                                                files: snapshots, done: done))
            try done.wait()
            peer.storage.installSnapshot(index: metadata.index, term: metadata.term, region: region, into: &batch)
            peer.appliedIndex = metadata.index
            peer.refreshPeerCache()
            // The region's data was replaced, not written through this peer's applies, so the
            // split checker's size bound no longer holds: measure again.
            peer.sizeDiffHint = Peer.sizeUnknown
            RaftStoreMetrics.snapshotsApplied.increment()
            logger.info("applied snapshot", metadata: ["region": "\(peer.regionID)", "index": "\(metadata.index)", "bytes": "\(data.fileSize)"])
            return true
        } catch {
            logger.error("cannot apply snapshot; the region is not served until the store restarts",
                         metadata: ["region": "\(peer.regionID)", "index": "\(metadata.index)", "error": "\(error)"])
            peer.failPending(RegionErrors.regionNotFound(peer.regionID), includingProposals: true)
            localReader.revoke(peer.regionID)
            peers[peer.regionID] = nil
            failedRegions.insert(peer.regionID)
            stats.regionCount = peers.count
            return false
        }
    }
}
