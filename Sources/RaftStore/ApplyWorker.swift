import Foundation
import Logging
import Storage
import TinyKVProto

/// The apply thread: applies committed entries of every region to the kv engine.
///
/// Each round takes all queued tasks, applies them into ONE kv batch together with
/// each touched region's `RaftApplyState` (so data and applied index are atomic),
/// writes it without sync (the synced raft log is replayed from the applied index
/// after a crash), then answers the proposals and reports applied indexes, membership
/// changes and log truncations to the poller. Get and Snap commands in the log are
/// answered here too (the value as of their entry; the region). Received snapshots are
/// installed here from their files (``SnapshotApplier``).
///
/// The raft thread may run a round of committed entries itself (``applyInline(_:)``) when this
/// thread is idle and the raft thread has nothing else to do (its round wrote nothing and no
/// message waits): at low load, waking this thread for one entry took longer than applying it.
final class ApplyWorker: @unchecked Sendable {
    /// Apply-side state of one region.
    private struct Delegate {
        var region: Metapb.Region
        var applyState: RaftServerpb.RaftApplyState
        var pending: [Proposal] = []
    }

    private let kvEngine: any KVEngine
    private let storeID: UInt64
    private let logger: Logger
    let inbox = Inbox<ApplyTask>()
    private let report: @Sendable ([ApplyResult]) -> Void
    private var delegates: [UInt64: Delegate] = [:]
    private let thread = DedicatedThread()
    /// Held while tasks are applied: by the apply thread, or by the poller applying inline.
    private let applying = NSLock()
    /// Slow kv writes (guarded by `applying`).
    private var slowWrites: SlowEventLog

    init(kvEngine: any KVEngine, storeID: UInt64, logger: Logger, slowLogThreshold: Duration = .milliseconds(200),
         report: @escaping @Sendable ([ApplyResult]) -> Void) {
        self.kvEngine = kvEngine
        self.slowWrites = SlowEventLog(threshold: slowLogThreshold)
        self.storeID = storeID
        self.logger = logger
        self.report = report
    }

    func start() {
        thread.start(name: "raftstore-apply") { [self] in run() }
    }

    /// Finishes queued tasks, then stops the thread.
    func stop() {
        inbox.close()
        thread.join()
    }

    /// Applies `task` on the calling thread (the poller's) if the apply thread is idle with
    /// nothing queued, so that a round that writes nothing (a leader learning a commit at low
    /// load) answers it without waking the apply thread; false: the caller queues it. Tasks
    /// keep their order: the apply thread takes its queue and applies it under the same lock.
    func applyInline(_ task: ApplyTask) -> Bool {
        guard applying.try() else { return false }
        defer { applying.unlock() }
        guard inbox.isIdle else { return false }
        process([task])
        RaftStoreMetrics.inlineApplies.increment()
        return true
    }

    private func run() {
        while inbox.waitForItems() {
            applying.lock()
            process(inbox.takeAll())
            applying.unlock()
        }
    }

    /// Applies `tasks` in order: data and apply states in one kv write, then the answers.
    private func process(_ tasks: [ApplyTask]) {
        var batch = WriteBatch()
        var results: [UInt64: ApplyResult] = [:]
        var order: [UInt64] = []
        var answers: [(WriteCallback, Errorpb.Error?)] = []
        var answeredSince: [ContinuousClock.Instant] = []
        func flush() {
            do {
                if !batch.isEmpty {
                    let started = ContinuousClock.now
                    try kvEngine.write(batch, sync: false)
                    let took = started.duration(to: .now)
                    RaftStoreMetrics.applyLatency.record(took)
                    slowWrites.record(took) { suppressed in
                        logger.warning("slow kv write", metadata: [
                            "took_ms": "\(took.millisecondsText)", "write_ops": "\(batch.count)", "bytes": "\(batch.byteSize)",
                            "slow_writes_not_logged": "\(suppressed)",
                        ])
                    }
                }
            } catch {
                // A failed kv write cannot be retried safely out of order: stop serving.
                fatalError("raftstore: kv engine write failed: \(error)")
            }
            batch = WriteBatch()
            let reported = order.compactMap { results[$0] }
            results = [:]
            order = []
            if !reported.isEmpty { report(reported) }
            for (callback, error) in answers { callback(error) }
            answers = []
            for appended in answeredSince { RaftStoreMetrics.proposalLatency.record(since: appended) }
            answeredSince.removeAll(keepingCapacity: true)
        }
        for task in tasks {
            switch task {
            case .apply(let regionID, let peerID, let entries, let proposals):
                guard var delegate = loadDelegate(regionID) else {
                    for proposal in proposals { answers.append((proposal.callback, RegionErrors.regionNotFound(regionID))) }
                    continue
                }
                delegate.pending.append(contentsOf: proposals)
                for proposal in proposals {
                    RaftStoreMetrics.commitLogLatency.record(since: proposal.appendedAt)
                    answeredSince.append(proposal.appendedAt)
                }
                var result = results[regionID] ?? ApplyResult(regionID: regionID, appliedIndex: delegate.applyState.appliedIndex)
                if results[regionID] == nil { order.append(regionID) }
                var removed = false
                for entry in entries where entry.index > delegate.applyState.appliedIndex {
                    var responses: [RaftCmdpb.Response] = []
                    let error = apply(entry, peerID: peerID, delegate: &delegate, batch: &batch, result: &result, responses: &responses)
                    answer(entry, error: error, responses: responses, delegate: &delegate, answers: &answers)
                    delegate.applyState.appliedIndex = entry.index
                    RaftStoreMetrics.appliedEntries.increment()
                    if result.removedSelf { removed = true; break }
                }
                result.appliedIndex = delegate.applyState.appliedIndex
                results[regionID] = result
                if removed {
                    // The region state was written as a tombstone; the poller destroys the peer.
                    for proposal in delegate.pending { answers.append((proposal.callback, RegionErrors.regionNotFound(regionID))) }
                    delegates[regionID] = nil
                } else {
                    batch.put(.raft, Keys.applyStateKey(regionID), delegate.applyState.encode())
                    delegates[regionID] = delegate
                }
            case .installSnapshot(let data, let key, let oldRegion, let files, let done):
                flush()
                let regionID = data.region?.id ?? 0
                for proposal in delegates[regionID]?.pending ?? [] { answers.append((proposal.callback, RegionErrors.staleCommand())) }
                delegates[regionID] = nil
                do {
                    let started = ContinuousClock.now
                    try SnapshotApplier.apply(data, key: key, oldRegion: oldRegion, kvEngine: kvEngine, manager: files)
                    logger.info("snapshot data applied", metadata: ["region": "\(regionID)", "index": "\(key.index)",
                                                                    "bytes": "\(data.fileSize)", "took": "\(ContinuousClock.now - started)"])
                    delegates[regionID] = Delegate(
                        region: data.region ?? Metapb.Region(),
                        applyState: RaftServerpb.RaftApplyState(appliedIndex: key.index,
                                                                truncatedState: RaftServerpb.RaftTruncatedState(index: key.index, term: key.term)))
                    done.finish()
                } catch {
                    done.finish(error)
                }
                flush()
            case .destroy(let stated, let done):
                flush()
                // The region as applied here: the poller's copy lags behind a split this worker
                // applied but whose result the poller has not taken in yet, and clearing that
                // wider range would delete the new region's data under its feet.
                let region = delegates[stated.id]?.region ?? loadDelegate(stated.id)?.region ?? stated
                for proposal in delegates[region.id]?.pending ?? [] { answers.append((proposal.callback, RegionErrors.regionNotFound(region.id))) }
                delegates[region.id] = nil
                var destroy = WriteBatch()
                do {
                    // Tombstone first, then the data in bounded batches: after a crash in between,
                    // the leftover keys belong to no local region (unreachable) until a region
                    // covering them is created here, which clears its range first.
                    destroy.delete(.raft, Keys.applyStateKey(region.id))
                    destroy.put(.raft, Keys.regionStateKey(region.id), RaftServerpb.RegionLocalState(state: .tombstone, region: region).encode())
                    try kvEngine.write(destroy, sync: true)
                    if !region.peers.isEmpty { try SnapshotApplier.clear(region, kvEngine: kvEngine) }
                    done.finish()
                } catch {
                    done.finish(error)
                }
                flush()
            }
        }
        flush()
    }

    private func loadDelegate(_ regionID: UInt64) -> Delegate? {
        if let delegate = delegates[regionID] { return delegate }
        do {
            guard let stateBytes = try kvEngine.get(.raft, Keys.regionStateKey(regionID)) else { return nil }
            let state = try RaftServerpb.RegionLocalState(decoding: stateBytes)
            guard state.state != .tombstone, let region = state.region else { return nil }
            let applyState = try kvEngine.get(.raft, Keys.applyStateKey(regionID))
                .map { try RaftServerpb.RaftApplyState(decoding: $0) } ?? RaftServerpb.RaftApplyState()
            return Delegate(region: region, applyState: applyState)
        } catch {
            logger.error("cannot load apply state", metadata: ["region": "\(regionID)", "error": "\(error)"])
            return nil
        }
    }

    /// Answers the proposals at or before `entry`: the one at its index with its term
    /// gets `error` (nil = success); any other one was superseded (stale command).
    private func answer(_ entry: Eraftpb.Entry, error: Errorpb.Error?, responses: [RaftCmdpb.Response], delegate: inout Delegate,
                        answers: inout [(WriteCallback, Errorpb.Error?)]) {
        while let first = delegate.pending.first, first.index <= entry.index {
            delegate.pending.removeFirst()
            if first.index == entry.index && first.term == entry.term {
                if error == nil, let respond = first.respond {
                    let callback = first.callback
                    answers.append(({ error in
                        if error == nil { respond(responses) }
                        callback(error)
                    }, nil))
                } else {
                    answers.append((first.callback, error))
                }
            } else {
                answers.append((first.callback, RegionErrors.staleCommand()))
            }
        }
    }

    /// Applies one entry into `batch`; returns the error for its proposer, if any.
    private func apply(_ entry: Eraftpb.Entry, peerID: UInt64, delegate: inout Delegate,
                       batch: inout WriteBatch, result: inout ApplyResult, responses: inout [RaftCmdpb.Response]) -> Errorpb.Error? {
        if entry.data.isEmpty { return nil }  // a new leader's empty entry
        do {
            switch entry.entryType {
            case .entryConfChange:
                let change = try Eraftpb.ConfChange(decoding: entry.data)
                let command = try RaftCmdpb.RaftCmdRequest(decoding: change.context)
                return applyConfChange(change, command: command, peerID: peerID, delegate: &delegate, batch: &batch, result: &result)
            default:
                let command = try RaftCmdpb.RaftCmdRequest(decoding: entry.data)
                if let admin = command.adminRequest {
                    return applyAdmin(admin, command: command, delegate: &delegate, batch: &batch, result: &result)
                }
                return applyData(command, delegate: delegate, batch: &batch, result: &result, responses: &responses)
            }
        } catch {
            logger.error("undecodable raft command skipped", metadata: ["region": "\(delegate.region.id)", "index": "\(entry.index)", "error": "\(error)"])
            return Errorpb.Error(message: "undecodable command: \(error)")
        }
    }

    private func applyData(_ command: RaftCmdpb.RaftCmdRequest, delegate: Delegate, batch: inout WriteBatch,
                           result: inout ApplyResult, responses: inout [RaftCmdpb.Response]) -> Errorpb.Error? {
        let region = delegate.region
        if let error = RegionErrors.checkEpoch(command.header?.regionEpoch, region: region, admin: false) { return error }
        // Check every key first: a command applies entirely or not at all.
        for request in command.requests {
            let (cf, key): (String, [UInt8]?) = switch request.cmdType {
            case .put: (request.put?.cf ?? "", request.put?.key)
            case .delete: (request.delete?.cf ?? "", request.delete?.key)
            case .get: (request.get?.cf ?? "", request.get?.key)
            default: ("", nil)
            }
            if let key, !RegionData.contains(region, ColumnFamily.named(cf) ?? .default, key) {
                return RegionData.keyNotInRegion(region, ColumnFamily.named(cf) ?? .default, key)
            }
        }
        var answered: [RaftCmdpb.Response] = []
        for request in command.requests {
            switch request.cmdType {
            case .put:
                guard let put = request.put else { continue }
                batch.put(ColumnFamily.named(put.cf) ?? .default, put.key, put.value)
                result.sizeDiff += UInt64(put.key.count + put.value.count)
                answered.append(RaftCmdpb.Response(cmdType: .put, put: RaftCmdpb.PutResponse()))
            case .delete:
                guard let delete = request.delete else { continue }
                batch.delete(ColumnFamily.named(delete.cf) ?? .default, delete.key)
                answered.append(RaftCmdpb.Response(cmdType: .delete, delete: RaftCmdpb.DeleteResponse()))
            case .get:
                // Reads through the log (the services' fast path is ReadIndex): the value as of
                // this entry, including the earlier writes of this round's batch.
                guard let get = request.get else { continue }
                do {
                    let value = try read(ColumnFamily.named(get.cf) ?? .default, get.key, through: batch)
                    answered.append(RaftCmdpb.Response(cmdType: .get, get: RaftCmdpb.GetResponse(value: value ?? [])))
                } catch {
                    return Errorpb.Error(message: "get failed: \(error)")
                }
            case .snap:
                answered.append(RaftCmdpb.Response(cmdType: .snap, snap: RaftCmdpb.SnapResponse(region: region)))
            default:
                continue
            }
        }
        responses = answered
        return nil
    }

    /// The value of `key` as the writes in `batch` (not yet written) leave it, else the engine's.
    private func read(_ cf: ColumnFamily, _ key: [UInt8], through batch: WriteBatch) throws -> [UInt8]? {
        for operation in batch.operations.reversed() {
            switch operation {
            case .put(let family, let stored, let value) where family == cf && stored == key: return value
            case .delete(let family, let stored) where family == cf && stored == key: return nil
            case .deleteRange(let family, let start, let end)
                where family == cf && !key.lexicographicallyPrecedes(start) && key.lexicographicallyPrecedes(end): return nil
            default: continue
            }
        }
        return try kvEngine.get(cf, key)
    }

    private func applyAdmin(_ admin: RaftCmdpb.AdminRequest, command: RaftCmdpb.RaftCmdRequest, delegate: inout Delegate,
                            batch: inout WriteBatch, result: inout ApplyResult) -> Errorpb.Error? {
        switch admin.cmdType {
        case .compactLog:
            guard let compact = admin.compactLog else { return nil }
            let current = delegate.applyState.truncatedState ?? RaftServerpb.RaftTruncatedState()
            // Stale or duplicate compactions are harmless: keep the newest truncation.
            guard compact.compactIndex > current.index else { return nil }
            let truncatedState = RaftServerpb.RaftTruncatedState(index: compact.compactIndex, term: compact.compactTerm)
            delegate.applyState.truncatedState = truncatedState
            result.truncatedState = truncatedState
            return nil
        case .split:
            return applySplit(admin.split ?? RaftCmdpb.SplitRequest(), command: command, delegate: &delegate, batch: &batch, result: &result)
        default:
            return Errorpb.Error(message: "unsupported admin command \(admin.cmdType)")
        }
    }

    /// Splits the region at `split.splitKey`: this region keeps `[start, splitKey)`, a new
    /// region `[splitKey, end)` gets the requested id and one peer on each store of this
    /// one; both get `version + 1`. Region states and the new region's initial apply state
    /// go into the same batch as the data (the data itself stays where it is). If this
    /// store already knows the new region (initialized from a snapshot, or tombstoned),
    /// its state is left alone.
    private func applySplit(_ split: RaftCmdpb.SplitRequest, command: RaftCmdpb.RaftCmdRequest, delegate: inout Delegate,
                            batch: inout WriteBatch, result: inout ApplyResult) -> Errorpb.Error? {
        var region = delegate.region
        if let error = RegionErrors.checkEpoch(command.header?.regionEpoch, region: region, admin: true) { return error }
        let key = split.splitKey
        guard !key.isEmpty, key != region.startKey, RegionRange.contains(region, key) else {
            return RegionRange.keyNotInRegion(key, region)
        }
        guard split.newPeerIds.count == region.peers.count, split.newRegionId != 0 else {
            return Errorpb.Error(message: "split: \(split.newPeerIds.count) new peer ids for \(region.peers.count) peers")
        }
        var epoch = region.regionEpoch ?? Metapb.RegionEpoch()
        epoch.version += 1
        var newRegion = Metapb.Region(id: split.newRegionId, startKey: key, endKey: region.endKey, regionEpoch: epoch)
        newRegion.peers = zip(region.peers, split.newPeerIds).map { Metapb.Peer(id: $1, storeId: $0.storeId) }
        region.endKey = key
        region.regionEpoch = epoch
        delegate.region = region
        result.region = region
        batch.put(.raft, Keys.regionStateKey(region.id), RaftServerpb.RegionLocalState(state: .normal, region: region).encode())
        var created = false
        let existing = try? kvEngine.get(.raft, Keys.regionStateKey(newRegion.id)).map { try RaftServerpb.RegionLocalState(decoding: $0) }
        if existing == nil || (existing?.state == .normal && (existing?.region?.peers.isEmpty ?? true)) {
            batch.put(.raft, Keys.regionStateKey(newRegion.id), RaftServerpb.RegionLocalState(state: .normal, region: newRegion).encode())
            let initial = RaftServerpb.RaftTruncatedState(index: Keys.raftInitLogIndex, term: Keys.raftInitLogTerm)
            batch.put(.raft, Keys.applyStateKey(newRegion.id),
                      RaftServerpb.RaftApplyState(appliedIndex: Keys.raftInitLogIndex, truncatedState: initial).encode())
            created = true
        }
        result.splits.append(SplitResult(derived: region, new: newRegion, created: created))
        logger.info("applied split", metadata: ["region": "\(region.id)", "new-region": "\(newRegion.id)",
                                                "split-key": "\(key.map { String(format: "%02x", $0) }.joined())", "version": "\(epoch.version)", "created": "\(created)"])
        return nil
    }

    private func applyConfChange(_ change: Eraftpb.ConfChange, command: RaftCmdpb.RaftCmdRequest, peerID: UInt64,
                                 delegate: inout Delegate, batch: inout WriteBatch, result: inout ApplyResult) -> Errorpb.Error? {
        var region = delegate.region
        if let error = RegionErrors.checkEpoch(command.header?.regionEpoch, region: region, admin: true) {
            result.confChanges.append(Eraftpb.ConfChange())  // tell Raft the change is over
            return error
        }
        let peer = command.adminRequest?.changePeer?.peer ?? Metapb.Peer(id: change.nodeId)
        let exists = region.peers.contains { $0.id == peer.id }
        switch change.changeType {
        case .addNode where !exists:
            region.peers.append(peer)
        case .removeNode where exists:
            region.peers.removeAll { $0.id == peer.id }
        default:
            // Already applied (duplicate operator): nothing changes, but Raft still needs to hear of it.
            result.confChanges.append(change)
            return nil
        }
        var epoch = region.regionEpoch ?? Metapb.RegionEpoch()
        epoch.confVer += 1
        region.regionEpoch = epoch
        delegate.region = region
        result.region = region
        result.confChanges.append(change)
        if change.changeType == .removeNode && peer.id == peerID {
            result.removedSelf = true
            batch.put(.raft, Keys.regionStateKey(region.id), RaftServerpb.RegionLocalState(state: .tombstone, region: region).encode())
        } else {
            batch.put(.raft, Keys.regionStateKey(region.id), RaftServerpb.RegionLocalState(state: .normal, region: region).encode())
        }
        logger.info("applied conf change", metadata: ["region": "\(region.id)", "change": "\(change.changeType)", "peer": "\(peer.id)@\(peer.storeId)", "conf-ver": "\(epoch.confVer)"])
        return nil
    }
}
