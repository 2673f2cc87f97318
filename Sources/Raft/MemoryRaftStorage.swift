import TinyKVProto
/// An in-memory `RaftStorage`, for tests and examples.
///
/// `entries[0]` is a dummy whose index/term are those of the last compacted
/// entry (or snapshot), so `term(firstIndex() - 1)` is always answerable.
/// Not thread-safe: owned by the one caller driving the node.
public final class MemoryRaftStorage: RaftStorage {
  public private(set) var hardState = Eraftpb.HardState()
  private var storedSnapshot = Eraftpb.Snapshot(metadata: Eraftpb.SnapshotMetadata(confState: Eraftpb.ConfState()))
  private var entryLog: [Eraftpb.Entry] = [Eraftpb.Entry()]

  /// Creates an empty storage whose ConfState lists `peers` (empty = let `RaftConfig.peers` decide).
  public init(peers: [UInt64] = []) {
    storedSnapshot.metadata?.confState = Eraftpb.ConfState(nodes: peers)
  }

  public func initialState() throws -> (hardState: Eraftpb.HardState, confState: Eraftpb.ConfState) {
    (hardState, storedSnapshot.metadata?.confState ?? Eraftpb.ConfState())
  }

  private var offset: UInt64 { entryLog[0].index }

  public func entries(lo: UInt64, hi: UInt64, maxSize: UInt64) throws -> [Eraftpb.Entry] {
    if lo <= offset { throw RaftStorageError.compacted }
    if hi > offset + UInt64(entryLog.count) { throw RaftStorageError.unavailable }
    if lo >= hi { return [] }
    let slice = Array(entryLog[Int(lo - offset)..<Int(hi - offset)])
    return limitSize(slice, maxSize: maxSize)
  }

  public func term(_ index: UInt64) throws -> UInt64 {
    if index < offset { throw RaftStorageError.compacted }
    if index - offset >= UInt64(entryLog.count) { throw RaftStorageError.unavailable }
    return entryLog[Int(index - offset)].term
  }

  public func firstIndex() throws -> UInt64 { offset + 1 }

  public func lastIndex() throws -> UInt64 { offset + UInt64(entryLog.count) - 1 }

  public func snapshot() throws -> Eraftpb.Snapshot { storedSnapshot }

  /// Persists the hard state (part of handling a `Ready`).
  public func setHardState(_ state: Eraftpb.HardState) {
    hardState = state
  }

  /// Replaces the whole content with `snapshot` (part of handling a `Ready`).
  public func applySnapshot(_ snapshot: Eraftpb.Snapshot) throws {
    let index = snapshot.metadata?.index ?? 0
    if index <= storedSnapshot.metadata?.index ?? 0 { throw RaftStorageError.snapshotOutOfDate }
    storedSnapshot = snapshot
    entryLog = [Eraftpb.Entry(term: snapshot.metadata?.term ?? 0, index: index)]
  }

  /// Records a snapshot of the state machine at `index` (which must be ≤ last index);
  /// later `compact` may drop the entries it covers.
  @discardableResult
  public func createSnapshot(index: UInt64, confState: Eraftpb.ConfState?, data: [UInt8]) throws -> Eraftpb.Snapshot {
    if index <= storedSnapshot.metadata?.index ?? 0 { throw RaftStorageError.snapshotOutOfDate }
    guard index <= (try lastIndex()) else { preconditionFailure("snapshot \(index) is out of bound lastindex(\(try! lastIndex()))") }
    var metadata = Eraftpb.SnapshotMetadata(index: index, term: entryLog[Int(index - offset)].term)
    metadata.confState = confState ?? storedSnapshot.metadata?.confState
    storedSnapshot = Eraftpb.Snapshot(data: data, metadata: metadata)
    return storedSnapshot
  }

  /// Discards entries before `compactIndex` (keeping it as the new dummy).
  /// Callers must only compact applied entries.
  public func compact(compactIndex: UInt64) throws {
    if compactIndex <= offset { throw RaftStorageError.compacted }
    guard compactIndex <= (try lastIndex()) else { preconditionFailure("compact \(compactIndex) is out of bound lastindex(\(try! lastIndex()))") }
    let cut = Int(compactIndex - offset)
    var remaining = Array(entryLog[cut...])
    remaining[0].data = []
    remaining[0].entryType = .entryNormal
    entryLog = remaining
  }

  /// Appends entries, truncating any conflicting suffix (part of handling a `Ready`).
  /// Entries already compacted away are ignored.
  public func append(_ newEntries: [Eraftpb.Entry]) throws {
    guard var first = newEntries.first?.index else { return }
    var entries = newEntries
    let firstStored = try firstIndex()
    let lastNew = first + UInt64(entries.count) - 1
    if lastNew < firstStored { return }
    if first < firstStored {
      entries.removeFirst(Int(firstStored - first))
      first = firstStored
    }
    let position = first - offset
    if UInt64(entryLog.count) > position {
      entryLog.removeSubrange(Int(position)...)
      entryLog.append(contentsOf: entries)
    } else if UInt64(entryLog.count) == position {
      entryLog.append(contentsOf: entries)
    } else {
      preconditionFailure("missing log entry [last: \(offset + UInt64(entryLog.count) - 1), append at: \(first)]")
    }
  }
}
