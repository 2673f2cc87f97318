import TinyKVProto
/// Errors a `RaftStorage` may report.
public enum RaftStorageError: Error, Equatable, Sendable {
  /// The requested index precedes the first available entry (log compacted).
  case compacted
  /// The requested entries are not available (beyond the last index).
  case unavailable
  /// The snapshot being applied is older than the one already stored.
  case snapshotOutOfDate
  /// A snapshot is being generated; ask again later.
  case snapshotTemporarilyUnavailable
}

/// Read access to the node's stable (persisted) Raft log and state.
///
/// Raft only reads through this protocol; the application writes to its own
/// storage while handling a `Ready` (see `RawNode`). Index conventions follow
/// etcd: entries live in `firstIndex()...lastIndex()`, and `term(firstIndex() - 1)`
/// must still be answerable (it is the term of the last compacted entry or of
/// the snapshot). `raftstore` implements this on top of its engine.
public protocol RaftStorage {
  /// The persisted hard state and the membership at startup.
  func initialState() throws -> (hardState: Eraftpb.HardState, confState: Eraftpb.ConfState)
  /// Entries in `lo..<hi`, truncated so their total size stays within `maxSize`
  /// (but always at least one entry when the range is non-empty).
  /// Throws `.compacted` if `lo < firstIndex()`, `.unavailable` if `hi > lastIndex() + 1`.
  func entries(lo: UInt64, hi: UInt64, maxSize: UInt64) throws -> [Eraftpb.Entry]
  /// The term of entry `index`, for `firstIndex() - 1 ... lastIndex()`.
  func term(_ index: UInt64) throws -> UInt64
  /// The index of the first entry still in the log (compacted index + 1).
  func firstIndex() throws -> UInt64
  /// The index of the last entry in the log.
  func lastIndex() throws -> UInt64
  /// The most recent snapshot, or `.snapshotTemporarilyUnavailable` while one is being built.
  func snapshot() throws -> Eraftpb.Snapshot
}

/// Approximate encoded size of an entry, used for `maxSizePerMsg` accounting.
func approximateSize(_ entry: Eraftpb.Entry) -> UInt64 {
  UInt64(entry.data.count) + 24
}

/// Keeps the longest prefix of `entries` whose size fits `maxSize` (at least one entry).
func limitSize(_ entries: [Eraftpb.Entry], maxSize: UInt64) -> [Eraftpb.Entry] {
  guard entries.count > 1, maxSize != .max else { return entries }
  var total: UInt64 = 0
  var count = 0
  for entry in entries {
    total += approximateSize(entry)
    if count > 0 && total > maxSize { break }
    count += 1
  }
  return count == entries.count ? entries : Array(entries[0..<count])
}
