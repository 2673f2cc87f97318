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
    private let raftEngine: any KVEngine
    private let kvEngine: any KVEngine
    /// The region as last applied (snapshot or conf change); an uninitialized peer has no peers.
    var region: Metapb.Region
    private(set) var raftState: RaftServerpb.RaftLocalState
    /// The last compacted entry (or the snapshot's index/term).
    private(set) var truncated: RaftServerpb.RaftTruncatedState
    /// The applied index read at startup (for `RaftConfig.applied`).
    let appliedIndexAtStart: UInt64
    /// Recent entries, contiguous, ending at the last index (may be empty).
    private var cache: [Eraftpb.Entry] = []
    private let maxCachedEntries: Int

    /// Loads the peer's state; missing states are those of a new, uninitialized peer.
    init(region: Metapb.Region, raftEngine: any KVEngine, kvEngine: any KVEngine, maxCachedEntries: Int = 4096) throws {
        regionID = region.id
        self.region = region
        self.raftEngine = raftEngine
        self.kvEngine = kvEngine
        self.maxCachedEntries = maxCachedEntries
        var raftState = try raftEngine.get(.default, Keys.raftStateKey(region.id))
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
        guard let bytes = try raftEngine.get(.default, Keys.raftLogKey(regionID, index)) else {
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
            let iterator = try raftEngine.makeIterator(.default, lowerBound: Keys.raftLogKey(regionID, lo),
                                                       upperBound: Keys.raftLogKey(regionID, end))
            iterator.seek(Keys.raftLogKey(regionID, lo))
            var expected = lo
            while iterator.isValid {
                let entry = try Eraftpb.Entry(decoding: iterator.value)
                // A hole means a concurrent compaction; Raft retries from the new first index.
                guard entry.index == expected else { throw RaftStorageError.compacted }
                if !add(entry) { return result }
                expected += 1
                iterator.next()
            }
            try iterator.checkError()
            guard expected == end else { throw RaftStorageError.unavailable }
        }
        var index = max(lo, cacheFirst)
        while index < hi {
            if !add(cache[Int(index - cacheFirst)]) { break }
            index += 1
        }
        return result
    }

    func snapshot() throws -> Eraftpb.Snapshot {
        try SnapshotBuilder.build(regionID: regionID, kvEngine: kvEngine) { try self.term($0) }
    }

    // MARK: - Writes (into the round's raft-engine batch)

    /// Appends `entries` (replacing any conflicting suffix) into `batch`.
    func append(_ entries: [Eraftpb.Entry], into batch: inout WriteBatch) {
        guard let first = entries.first, let last = entries.last else { return }
        for entry in entries {
            batch.put(.default, Keys.raftLogKey(regionID, entry.index), entry.encode())
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
        self.region = region
        batch.put(.default, Keys.raftStateKey(regionID), raftState.encode())
    }

    /// Removes the peer's raft state and log (the peer is destroyed).
    func clear(into batch: inout WriteBatch) {
        batch.deleteRange(.default, from: Keys.raftLogKey(regionID, 0), to: Keys.raftLogKey(regionID, .max))
        batch.delete(.default, Keys.raftStateKey(regionID))
        cache = []
    }

    /// Number of entries in the log (for log GC decisions).
    var entryCount: UInt64 { raftState.lastIndex - truncated.index }
}

/// Builds and installs snapshots: the region's data of every data column family
/// from one consistent kv-engine snapshot, plus the region and apply state.
///
/// `RaftSnapshotData.data` holds the pairs column family after column family, and
/// `meta.cf_files` lists each family with its pair count in `size`, in the same order.
/// The whole snapshot is built in memory: fine for the default region size (96 MiB
/// split size), documented as a limit.
enum SnapshotBuilder {
    static func build(regionID: UInt64, kvEngine: any KVEngine, term: (UInt64) throws -> UInt64) throws -> Eraftpb.Snapshot {
        let view = try kvEngine.snapshot()
        guard let stateBytes = try view.get(.raft, Keys.regionStateKey(regionID)),
              let region = try RaftServerpb.RegionLocalState(decoding: stateBytes).region else {
            throw RaftStorageError.snapshotTemporarilyUnavailable
        }
        let applyState = try view.get(.raft, Keys.applyStateKey(regionID))
            .map { try RaftServerpb.RaftApplyState(decoding: $0) } ?? RaftServerpb.RaftApplyState()
        let index = applyState.appliedIndex
        let snapshotTerm: UInt64
        if let truncatedState = applyState.truncatedState, truncatedState.index == index {
            snapshotTerm = truncatedState.term
        } else {
            snapshotTerm = try term(index)
        }
        var data = RaftServerpb.RaftSnapshotData(region: region)
        var files: [RaftServerpb.SnapshotCFFile] = []
        var counts: [ColumnFamily: UInt64] = [:]
        try RegionData.forEach(region, in: view) { cf, key, value in
            data.data.append(RaftServerpb.KeyValue(key: key, value: value))
            counts[cf, default: 0] += 1
        }
        for cf in ColumnFamily.dataFamilies { files.append(RaftServerpb.SnapshotCFFile(cf: cf.name, size: counts[cf] ?? 0)) }
        data.meta = RaftServerpb.SnapshotMeta(cfFiles: files)
        let metadata = Eraftpb.SnapshotMetadata(confState: Eraftpb.ConfState(nodes: region.peers.map(\.id)),
                                                index: index, term: snapshotTerm)
        return Eraftpb.Snapshot(data: data.encode(), metadata: metadata)
    }

    /// The kv-engine writes that install `data` at `index`/`term`: clear the old and new
    /// ranges of every data family, write the pairs, the apply state and the region state.
    static func installBatch(_ data: RaftServerpb.RaftSnapshotData, index: UInt64, term: UInt64,
                             oldRegion: Metapb.Region?, reader: any KVReader) throws -> WriteBatch {
        var batch = WriteBatch()
        let region = data.region ?? Metapb.Region()
        try RegionData.deleteAll(region, in: reader, into: &batch)
        if let old = oldRegion, !old.peers.isEmpty, (old.startKey, old.endKey) != (region.startKey, region.endKey) {
            try RegionData.deleteAll(old, in: reader, into: &batch)
        }
        var offset = 0
        for file in data.meta?.cfFiles ?? [] {
            let cf = ColumnFamily(file.cf)
            let end = min(data.data.count, offset + Int(file.size))
            for pair in data.data[offset..<end] { batch.put(cf, pair.key, pair.value) }
            offset = end
        }
        let truncatedState = RaftServerpb.RaftTruncatedState(index: index, term: term)
        batch.put(.raft, Keys.applyStateKey(region.id),
                  RaftServerpb.RaftApplyState(appliedIndex: index, truncatedState: truncatedState).encode())
        batch.put(.raft, Keys.regionStateKey(region.id), RaftServerpb.RegionLocalState(state: .normal, region: region).encode())
        return batch
    }
}
