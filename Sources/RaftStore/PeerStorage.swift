import Raft
import Storage
import TinyKVProto

/// One peer's Raft log and state on the two engines (see ``Keys``).
///
/// Implements the Raft module's read-only `RaftStorage`; the poller writes through
/// `append`/`setHardState`/`compact`, which put their writes into the round's shared
/// raft-engine batch and update the in-memory view at once (Raft reads stable
/// entries only after the batch is written, in `advance`).
///
/// Recent entries are cached in memory so followers' appends and the apply hand-off
/// rarely read the engine. Owned by the raft poller thread.
final class PeerStorage: RaftStorage {
    let regionID: UInt64
    private let raftEngine: any RaftLogStore
    private let kvEngine: any KVEngine
    /// The region as last applied (snapshot or conf change); an uninitialized peer has no peers.
    var region: Metapb.Region
    private(set) var raftState: RaftServerpb.RaftLocalState
    /// The last compacted entry (or the snapshot's index/term).
    private(set) var truncated: RaftServerpb.RaftTruncatedState
    /// The applied index read at startup (for `RaftConfig.applied`).
    let appliedIndexAtStart: UInt64
    /// Bytes of the entries in the log, approximately (for log GC by size): counted at append,
    /// scaled down in proportion to the entries a compaction removes. Starts at zero when the
    /// store starts (the entry count still bounds the log until new entries count again).
    private(set) var approximateLogBytes: UInt64 = 0
    /// Recent entries, contiguous, ending at the last index (may be empty).
    private var cache: [Eraftpb.Entry] = []
    private let maxCachedEntries: Int
    /// Generates snapshots in the background (nil: this storage never offers one).
    private let snapshotWorker: SnapshotWorker?
    /// Where the snapshot Raft asks for is: not started, being generated, or ready to hand out.
    private var snapshotState = SnapshotState.idle

    private enum SnapshotState {
        case idle
        case generating
        case ready(Eraftpb.Snapshot)
    }

    /// Loads the peer's state; missing states are those of a new, uninitialized peer.
    init(region: Metapb.Region, raftEngine: any RaftLogStore, kvEngine: any KVEngine, maxCachedEntries: Int = 4096,
         snapshotWorker: SnapshotWorker? = nil) throws {
        regionID = region.id
        self.snapshotWorker = snapshotWorker
        self.region = region
        self.raftEngine = raftEngine
        self.kvEngine = kvEngine
        self.maxCachedEntries = maxCachedEntries
        var raftState = try raftEngine.get(Keys.raftStateKey(region.id))
            .map { try RaftServerpb.RaftLocalState(decoding: $0) } ?? RaftServerpb.RaftLocalState()
        let applyState = try kvEngine.get(.raft, Keys.applyStateKey(region.id))
            .map { try RaftServerpb.RaftApplyState(decoding: $0) } ?? RaftServerpb.RaftApplyState()
        truncated = applyState.truncatedState ?? RaftServerpb.RaftTruncatedState()
        // A snapshot is applied to the kv engine (synced) before the raft engine learns of it;
        // a crash in between leaves the raft log behind the snapshot: restart from the snapshot.
        if raftState.lastIndex < truncated.index {
            raftState.lastIndex = truncated.index
            raftState.lastTerm = truncated.term
            var hard = raftState.hardState ?? Eraftpb.HardState()
            hard.commit = max(hard.commit, truncated.index)
            hard.term = max(hard.term, truncated.term)
            raftState.hardState = hard
        }
        // Entries already on disk may be applied before the round that learned of their commit
        // writes the new commit index, and a commit index alone waits for the next write (see
        // RaftPoller.handleReadies); a crash in between leaves the commit index behind the
        // applied one. They were committed, so the commit index catches up.
        if var hard = raftState.hardState, hard.commit < applyState.appliedIndex, applyState.appliedIndex <= raftState.lastIndex {
            hard.commit = applyState.appliedIndex
            raftState.hardState = hard
        }
        self.raftState = raftState
        appliedIndexAtStart = applyState.appliedIndex
    }

    var isInitialized: Bool { !region.peers.isEmpty }

    // MARK: - RaftStorage

    func initialState() throws -> (hardState: Eraftpb.HardState, confState: Eraftpb.ConfState) {
        (raftState.hardState ?? Eraftpb.HardState(), Eraftpb.ConfState(nodes: region.peers.map(\.id)))
    }

    func firstIndex() throws -> UInt64 { truncated.index + 1 }

    func lastIndex() throws -> UInt64 { raftState.lastIndex }

    func term(_ index: UInt64) throws -> UInt64 {
        if index == truncated.index { return truncated.term }
        if index < truncated.index { throw RaftStorageError.compacted }
        if index > raftState.lastIndex { throw RaftStorageError.unavailable }
        if index == raftState.lastIndex { return raftState.lastTerm }
        if let first = cache.first?.index, index >= first { return cache[Int(index - first)].term }
        guard let bytes = try raftEngine.get(Keys.raftLogKey(regionID, index)) else {
            throw RaftStorageError.unavailable
        }
        return try Eraftpb.Entry(decoding: bytes).term
    }

    func entries(lo: UInt64, hi: UInt64, maxSize: UInt64) throws -> [Eraftpb.Entry] {
        if lo <= truncated.index { throw RaftStorageError.compacted }
        if hi > raftState.lastIndex + 1 { throw RaftStorageError.unavailable }
        if lo >= hi { return [] }
        var result: [Eraftpb.Entry] = []
        var size: UInt64 = 0
        func add(_ entry: Eraftpb.Entry) -> Bool {
            size += UInt64(entry.data.count) + 24
            if !result.isEmpty && size > maxSize { return false }
            result.append(entry)
            return true
        }
        let cacheFirst = cache.first?.index ?? (raftState.lastIndex + 1)
        if lo < cacheFirst {
            let end = min(hi, cacheFirst)
            var expected = lo
            var full = false
            try raftEngine.scan(from: Keys.raftLogKey(regionID, lo), to: Keys.raftLogKey(regionID, end)) { _, value in
                let entry = try Eraftpb.Entry(decoding: value)
                // A hole means a concurrent compaction; Raft retries from the new first index.
                guard entry.index == expected else { throw RaftStorageError.compacted }
                if !add(entry) {
                    full = true
                    return false
                }
                expected += 1
                return true
            }
            if full { return result }
            guard expected == end else { throw RaftStorageError.unavailable }
        }
        var index = max(lo, cacheFirst)
        while index < hi {
            if !add(cache[Int(index - cacheFirst)]) { break }
            index += 1
        }
        return result
    }

    /// The snapshot to send to a follower that is too far behind, or
    /// `snapshotTemporarilyUnavailable` while it is generated in the background (Raft asks
    /// again on a later heartbeat response, as with etcd and TiKV).
    ///
    /// The consistent kv-engine view, the index and the term are taken here, on the raft
    /// thread (cheap); the data is written to files by the ``SnapshotWorker``. A generated
    /// snapshot is handed out once (its send deletes its files), as in TinyKV: the next
    /// request generates a new one, with the region as it is then.
    func snapshot() throws -> Eraftpb.Snapshot {
        if case .ready(let snapshot) = snapshotState {
            snapshotState = .idle
            // Useless once the log no longer continues from it: generate a newer one.
            if snapshot.metadata?.index ?? 0 >= truncated.index { return snapshot }
            deleteFiles(of: snapshot)
        }
        guard case .idle = snapshotState, let worker = snapshotWorker else { throw RaftStorageError.snapshotTemporarilyUnavailable }
        // Raft treats any other error as fatal: a failure here (the engine closing) is "not yet".
        guard let view = try? kvEngine.snapshot(),
              let stateBytes = try? view.get(.raft, Keys.regionStateKey(regionID)),
              let region = (try? RaftServerpb.RegionLocalState(decoding: stateBytes))?.region,
              let applyState = try? view.get(.raft, Keys.applyStateKey(regionID)).map({ try RaftServerpb.RaftApplyState(decoding: $0) }) else {
            throw RaftStorageError.snapshotTemporarilyUnavailable
        }
        let index = applyState.appliedIndex
        let term: UInt64
        if let truncatedState = applyState.truncatedState, truncatedState.index == index {
            term = truncatedState.term
        } else if let found = try? self.term(index) {
            term = found
        } else {
            throw RaftStorageError.snapshotTemporarilyUnavailable
        }
        snapshotState = .generating
        worker.generate(region: region, index: index, term: term, view: view)
        throw RaftStorageError.snapshotTemporarilyUnavailable
    }

    /// The background generation started by ``snapshot()`` finished.
    func snapshotGenerated(_ result: Result<Eraftpb.Snapshot, any Error>) {
        switch result {
        case .success(let snapshot): snapshotState = .ready(snapshot)
        case .failure: snapshotState = .idle
        }
    }

    /// Drops the generated snapshot nobody sends (the peer is destroyed).
    func dropGeneratedSnapshot() {
        guard case .ready(let snapshot) = snapshotState else { return }
        deleteFiles(of: snapshot)
        snapshotState = .idle
    }

    private func deleteFiles(of snapshot: Eraftpb.Snapshot) {
        let files = (try? RaftServerpb.RaftSnapshotData(decoding: snapshot.data))?.meta?.cfFiles ?? []
        snapshotWorker?.manager.deleteGenerated(SnapshotKey(regionID: regionID, term: snapshot.metadata?.term ?? 0,
                                                            index: snapshot.metadata?.index ?? 0), files: files)
    }

    // MARK: - Writes (into the round's raft-engine batch)

    /// Appends `entries` (replacing any conflicting suffix) into `batch`.
    func append(_ entries: [Eraftpb.Entry], into batch: inout WriteBatch) {
        guard let first = entries.first, let last = entries.last else { return }
        for entry in entries {
            let encoded = entry.encode()
            approximateLogBytes += UInt64(encoded.count)
            batch.put(.default, Keys.raftLogKey(regionID, entry.index), encoded)
        }
        // Entries past the new last index belong to a discarded leader's log.
        if raftState.lastIndex > last.index {
            batch.deleteRange(.default, from: Keys.raftLogKey(regionID, last.index + 1),
                              to: Keys.raftLogKey(regionID, raftState.lastIndex + 1))
        }
        raftState.lastIndex = last.index
        raftState.lastTerm = last.term
        if let cacheFirst = cache.first?.index, first.index >= cacheFirst, first.index <= cacheFirst + UInt64(cache.count) {
            cache.removeSubrange(Int(first.index - cacheFirst)...)
            cache.append(contentsOf: entries)
        } else {
            cache = entries
        }
        if cache.count > maxCachedEntries { cache.removeFirst(cache.count - maxCachedEntries) }
        batch.put(.default, Keys.raftStateKey(regionID), raftState.encode())
    }

    /// Records a new hard state into `batch`.
    func setHardState(_ hardState: Eraftpb.HardState, into batch: inout WriteBatch) {
        raftState.hardState = hardState
        batch.put(.default, Keys.raftStateKey(regionID), raftState.encode())
    }

    /// Deletes entries up to `truncatedState.index` (already recorded in the apply state by the
    /// apply worker) from the raft engine.
    func compact(to truncatedState: RaftServerpb.RaftTruncatedState, into batch: inout WriteBatch) {
        guard truncatedState.index > truncated.index else { return }
        let before = entryCount
        let removed = min(before, truncatedState.index - truncated.index)
        approximateLogBytes = before == 0 ? 0 : UInt64(Double(approximateLogBytes) * Double(before - removed) / Double(before))
        batch.deleteRange(.default, from: Keys.raftLogKey(regionID, 0), to: Keys.raftLogKey(regionID, truncatedState.index + 1))
        truncated = truncatedState
        if let cacheFirst = cache.first?.index, cacheFirst <= truncatedState.index {
            cache.removeFirst(min(cache.count, Int(truncatedState.index - cacheFirst + 1)))
        }
    }

    /// After the apply worker installed a snapshot's data and apply state: drop the whole log
    /// and restart it at the snapshot.
    func installSnapshot(index: UInt64, term: UInt64, region: Metapb.Region, into batch: inout WriteBatch) {
        batch.deleteRange(.default, from: Keys.raftLogKey(regionID, 0), to: Keys.raftLogKey(regionID, .max))
        truncated = RaftServerpb.RaftTruncatedState(index: index, term: term)
        raftState.lastIndex = index
        raftState.lastTerm = term
        var hard = raftState.hardState ?? Eraftpb.HardState()
        hard.commit = max(hard.commit, index)
        hard.term = max(hard.term, term)
        raftState.hardState = hard
        cache = []
        approximateLogBytes = 0
        self.region = region
        batch.put(.default, Keys.raftStateKey(regionID), raftState.encode())
    }

    /// Removes the peer's raft state and log (the peer is destroyed).
    func clear(into batch: inout WriteBatch) {
        batch.deleteRange(.default, from: Keys.raftLogKey(regionID, 0), to: Keys.raftLogKey(regionID, .max))
        batch.delete(.default, Keys.raftStateKey(regionID))
        cache = []
        approximateLogBytes = 0
    }

    /// Number of entries in the log (for log GC decisions).
    var entryCount: UInt64 { raftState.lastIndex - truncated.index }
}
