import Storage
import TinyKVProto

/// The on-disk layout of the raft store, after TinyKV's `kv/raftstore/meta/keys.go`.
///
/// Two engines under the store's data path:
///
/// | Engine | Column family | Keys |
/// |---|---|---|
/// | `<path>/raftlog` (``RaftLogEngine``; or RocksDB in `<path>/raft`, see ``RaftEngineDirectory``) | (one key space) | `RaftLogKey(region, index)` → `eraftpb.Entry`; `RaftStateKey(region)` → `RaftLocalState` |
/// | `<path>/kv` | `default`, `lock`, `write` | user data, exactly as the services write it |
/// | `<path>/kv` | `raft` | `StoreIdentKey` → `StoreIdent`; `ApplyStateKey(region)` → `RaftApplyState`; `RegionStateKey(region)` → `RegionLocalState` |
///
/// Local keys start with `0x01`; region ids and indexes are big-endian `u64`, so
/// one region's log is a contiguous, index-ordered range:
///
/// ```text
/// StoreIdentKey        = 01 01
/// RaftLogKey(r, i)     = 01 02 <r:8> 01 <i:8>
/// RaftStateKey(r)      = 01 02 <r:8> 02
/// ApplyStateKey(r)     = 01 02 <r:8> 03
/// RegionStateKey(r)    = 01 03 <r:8> 01
/// ```
///
/// Why two engines: the raft log is appended and fsynced on every round while the
/// applied data is written without sync (the synced log is the source of truth and
/// is re-applied from `RaftApplyState.applied_index` after a crash), and deleting
/// truncated log entries must not churn the data engine's compactions. Meta keys
/// live in their own `raft` column family of the kv engine so they never collide
/// with user keys (which may be any bytes) and are written in the same atomic
/// batch as the data they describe.
public enum Keys {
    public static let localPrefix: UInt8 = 0x01
    public static let regionRaftPrefix: UInt8 = 0x02
    public static let regionMetaPrefix: UInt8 = 0x03
    public static let raftLogSuffix: UInt8 = 0x01
    public static let raftStateSuffix: UInt8 = 0x02
    public static let applyStateSuffix: UInt8 = 0x03
    public static let regionStateSuffix: UInt8 = 0x01

    /// The first index of a bootstrapped region's log (and its term), like TinyKV's
    /// `RaftInitLogIndex`: a peer created later (index 0) always needs a snapshot.
    public static let raftInitLogIndex: UInt64 = 5
    public static let raftInitLogTerm: UInt64 = 5

    public static let storeIdentKey: [UInt8] = [localPrefix, 0x01]

    static func appendBigEndian(_ value: UInt64, to bytes: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    static func readBigEndian(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    private static func regionKey(_ prefix: UInt8, _ regionID: UInt64, _ suffix: UInt8) -> [UInt8] {
        var key: [UInt8] = [localPrefix, prefix]
        key.reserveCapacity(19)
        appendBigEndian(regionID, to: &key)
        key.append(suffix)
        return key
    }

    /// The raft log prefix of a region: every entry key starts with it.
    public static func raftLogPrefix(_ regionID: UInt64) -> [UInt8] {
        regionKey(regionRaftPrefix, regionID, raftLogSuffix)
    }

    public static func raftLogKey(_ regionID: UInt64, _ index: UInt64) -> [UInt8] {
        var key = raftLogPrefix(regionID)
        appendBigEndian(index, to: &key)
        return key
    }

    /// The log index encoded in a `raftLogKey`, or nil for another key.
    public static func raftLogIndex(_ key: [UInt8]) -> UInt64? {
        guard key.count == 19, key[0] == localPrefix, key[1] == regionRaftPrefix, key[10] == raftLogSuffix else { return nil }
        return readBigEndian(key[11...])
    }

    public static func raftStateKey(_ regionID: UInt64) -> [UInt8] {
        regionKey(regionRaftPrefix, regionID, raftStateSuffix)
    }

    public static func applyStateKey(_ regionID: UInt64) -> [UInt8] {
        regionKey(regionRaftPrefix, regionID, applyStateSuffix)
    }

    public static func regionStateKey(_ regionID: UInt64) -> [UInt8] {
        regionKey(regionMetaPrefix, regionID, regionStateSuffix)
    }

    /// `[start, end)` covering every region's `RegionStateKey`.
    public static let regionMetaRange: (start: [UInt8], end: [UInt8]) = ([localPrefix, regionMetaPrefix], [localPrefix, regionMetaPrefix + 1])

    /// The region id of a `regionStateKey`, or nil for another key.
    public static func regionID(fromStateKey key: [UInt8]) -> UInt64? {
        guard key.count == 11, key[0] == localPrefix, key[1] == regionMetaPrefix, key[10] == regionStateSuffix else { return nil }
        return readBigEndian(key[2..<10])
    }
}

extension ColumnFamily {
    /// The kv engine's column family for raft metadata (apply state, region state, store ident).
    public static let raft = ColumnFamily("raft")
    /// The column families of the kv engine.
    public static let kvEngineFamilies: [ColumnFamily] = [.default, .lock, .write, .raft]
    /// The column families holding user data (snapshots carry exactly these).
    public static let dataFamilies: [ColumnFamily] = [.default, .lock, .write]
}

/// Region key-range helpers (raw keys; an empty end key means "to the end of the key space").
enum RegionRange {
    static func contains(_ region: Metapb.Region, _ key: [UInt8]) -> Bool {
        key.lexicographicallyPrecedes(region.startKey) == false
            && (region.endKey.isEmpty || key.lexicographicallyPrecedes(region.endKey))
    }

    static func keyNotInRegion(_ key: [UInt8], _ region: Metapb.Region) -> Errorpb.Error {
        Errorpb.Error(message: "key is not in region \(region.id)",
                      keyNotInRegion: Errorpb.KeyNotInRegion(key: key, regionId: region.id, startKey: region.startKey, endKey: region.endKey))
    }
}
