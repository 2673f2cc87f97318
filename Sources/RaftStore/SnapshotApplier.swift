import Foundation
import Storage
import TinyKVProto

/// Applies a received snapshot to the kv engine with bounded memory, crash-safely.
///
/// 1. One synced write marks the region `Applying` (its `RegionLocalState` holds the
///    snapshot's region) and sets the apply state to the snapshot's index and term.
/// 2. The region's old data is deleted: range deletes where the stored keys of a region form
///    a range, key by key (in batches of ``clearBatchBytes``) in `default`, where
///    ``RegionData`` decides membership; the old range too when the snapshot changes it.
/// 3. Each column family's SST file is ingested (RocksDB copies it; the keys replace
///    what is there).
/// 4. One synced write marks the region `Normal`; then the files are deleted.
///
/// A crash anywhere in between leaves the region `Applying` with its files on disk
/// (they go only after step 4): ``recover(regionID:kvEngine:manager:)`` redoes steps 2–4
/// at startup before the peer serves. Redoing is safe: clearing and ingesting the same
/// files again gives the same data. (The old range, when it differed, is not known after
/// a crash: its keys then stay unreachable until a region owning that range is created here,
/// which clears its range first.)
enum SnapshotApplier {
    /// Largest batch of deletes written at once while clearing the `default` family.
    static let clearBatchBytes = 4 << 20

    /// Applies the received snapshot `key` (files in `manager`) for `data.region`, replacing
    /// `oldRegion`'s data (nil for an uninitialized peer).
    static func apply(_ data: RaftServerpb.RaftSnapshotData, key: SnapshotKey, oldRegion: Metapb.Region?,
                      kvEngine: any KVEngine, manager: SnapshotManager) throws {
        guard let region = data.region else { throw SnapshotFileError("snapshot \(key) without region") }
        // Nothing is touched unless every file is there: a redo after a crash needs them.
        try manager.checkReceived(key, files: data.meta?.cfFiles ?? [])
        var begin = WriteBatch()
        begin.put(.raft, Keys.regionStateKey(region.id), RaftServerpb.RegionLocalState(state: .applying, region: region).encode())
        let truncated = RaftServerpb.RaftTruncatedState(index: key.index, term: key.term)
        begin.put(.raft, Keys.applyStateKey(region.id), RaftServerpb.RaftApplyState(appliedIndex: key.index, truncatedState: truncated).encode())
        try kvEngine.write(begin, sync: true)
        if let old = oldRegion, !old.peers.isEmpty, (old.startKey, old.endKey) != (region.startKey, region.endKey) {
            try clear(old, kvEngine: kvEngine)
        }
        try finish(data, key: key, kvEngine: kvEngine, manager: manager)
    }

    /// Steps 2–4 for a region already marked `Applying`.
    static func finish(_ data: RaftServerpb.RaftSnapshotData, key: SnapshotKey, kvEngine: any KVEngine,
                       manager: SnapshotManager) throws {
        guard let region = data.region else { throw SnapshotFileError("snapshot \(key) without region") }
        try clear(region, kvEngine: kvEngine)
        // A crash in the middle of an apply, for tests: the region stays Applying.
        if let injected = FailPoints.evaluate("snapshot.apply") { throw injected }
        for file in data.meta?.cfFiles ?? [] {
            try kvEngine.ingest(ColumnFamily(file.cf), files: [manager.receivedPath(key, file: file)])
        }
        var end = WriteBatch()
        end.put(.raft, Keys.regionStateKey(region.id), RaftServerpb.RegionLocalState(state: .normal, region: region).encode())
        try kvEngine.write(end, sync: true)
        manager.deleteReceived(key)
    }

    /// The snapshot an `Applying` region was interrupted in (from its apply state), for startup.
    static func interruptedKey(regionID: UInt64, kvEngine: any KVEngine) throws -> SnapshotKey {
        let applyState = try kvEngine.get(.raft, Keys.applyStateKey(regionID)).map { try RaftServerpb.RaftApplyState(decoding: $0) }
        guard let truncated = applyState?.truncatedState else { throw SnapshotFileError("region \(regionID) is Applying without an apply state") }
        return SnapshotKey(regionID: regionID, term: truncated.term, index: truncated.index)
    }

    /// Finishes the interrupted apply of region `regionID` (marked `Applying`) from its files.
    static func recover(regionID: UInt64, kvEngine: any KVEngine, manager: SnapshotManager) throws {
        let key = try interruptedKey(regionID: regionID, kvEngine: kvEngine)
        let data = try manager.loadReceived(key, verifyChecksums: true)
        try finish(data, key: key, kvEngine: kvEngine, manager: manager)
    }

    /// Deletes every key of `region` in bounded batches (written unsynced: a crash redoes it).
    /// Like ``RegionData/deleteAll(_:in:into:)``: range deletes where the region's stored range
    /// is exact, key by key where RegionData has to filter; but never one batch for the region.
    static func clear(_ region: Metapb.Region, kvEngine: any KVEngine) throws {
        var batch = WriteBatch()
        var bytes = 0
        func delete(_ cf: ColumnFamily, _ iterator: EngineIterator) throws {
            iterator.seekToFirst()
            while iterator.isValid {
                let key = iterator.key
                batch.delete(cf, key)
                bytes += key.count
                if bytes >= clearBatchBytes {
                    try kvEngine.write(batch, sync: false)
                    batch = WriteBatch()
                    bytes = 0
                }
                iterator.next()
            }
            try iterator.checkError()
        }
        for cf in ColumnFamily.dataFamilies {
            let range = RegionData.storedRange(cf, region)
            if range.exact {
                batch.deleteRange(cf, from: range.lower ?? [], to: range.upper ?? RegionData.maxStoredKey)
                // The range delete's upper bound is exclusive: keys at or above it (unbounded region) one by one.
                if range.upper == nil {
                    try delete(cf, try kvEngine.makeIterator(cf, lowerBound: RegionData.maxStoredKey, upperBound: nil))
                }
            } else {
                try delete(cf, try RegionData.makeIterator(region, cf, in: kvEngine))
            }
        }
        try kvEngine.write(batch, sync: false)
    }
}

extension RaftServerpb.PeerState {
    /// TiKV's `Applying` (1): a snapshot's apply started and has not finished. TinyKV's
    /// schema lists only Normal and Tombstone; the enum keeps unlisted values, so this
    /// one round-trips and older readers see a state they don't serve.
    static var applying: Self { .unrecognized(1) }
}
