import TinyKVProto
/// The node's view of the log: stable entries (in `RaftStorage`) followed by
/// unstable ones (not yet persisted), plus the commit and apply cursors.
///
/// Invariant: `applied <= committed <= lastIndex()`, and the first unstable
/// index is `stabled + 1`. Like etcd, a storage failure on the read path
/// (other than compaction) is treated as fatal: the node cannot continue safely.
struct RaftLog {
  let storage: any RaftStorage
  var unstable: UnstableLog
  /// Highest index known to be stored on a quorum.
  var committed: UInt64
  /// Highest index the application has applied.
  var applied: UInt64
  /// Byte budget for committed entries handed out per `Ready`.
  let maxNextEntriesSize: UInt64

  init(storage: any RaftStorage, maxNextEntriesSize: UInt64 = .max) throws {
    self.storage = storage
    let firstIndex = try storage.firstIndex()
    let lastIndex = try storage.lastIndex()
    unstable = UnstableLog(offset: lastIndex + 1)
    committed = firstIndex - 1
    applied = firstIndex - 1
    self.maxNextEntriesSize = maxNextEntriesSize
  }

  /// Last index persisted by the application.
  var stabled: UInt64 { unstable.offset - 1 }

  func firstIndex() -> UInt64 {
    unstable.maybeFirstIndex() ?? (try! storage.firstIndex())
  }

  func lastIndex() -> UInt64 {
    unstable.maybeLastIndex() ?? (try! storage.lastIndex())
  }

  func lastTerm() -> UInt64 {
    (try? term(lastIndex())) ?? 0
  }

  /// Term of entry `index`; 0 for indexes beyond the log, throws `.compacted` below the first index - 1.
  func term(_ index: UInt64) throws(RaftStorageError) -> UInt64 {
    let dummyIndex = firstIndex() - 1
    if index < dummyIndex { throw .compacted }
    if index > lastIndex() { return 0 }
    if let term = unstable.maybeTerm(index) { return term }
    do {
      return try storage.term(index)
    } catch let error as RaftStorageError {
      if error == .compacted || error == .unavailable { throw error }
      preconditionFailure("unexpected storage error \(error)")
    } catch {
      preconditionFailure("unexpected storage error \(error)")
    }
  }

  /// Term of `index`, with compacted entries reported as 0 (never matches a real term).
  func termOrZero(_ index: UInt64) -> UInt64 {
    (try? term(index)) ?? 0
  }

  func matchTerm(index: UInt64, term: UInt64) -> Bool {
    guard let actual = try? self.term(index) else { return false }
    return actual == term
  }

  /// Whether a log ending at (`lastIndex`, `lastTerm`) is at least as
  /// up-to-date as ours (Raft §5.4.1 voting restriction).
  func isUpToDate(lastIndex candidateIndex: UInt64, lastTerm candidateTerm: UInt64) -> Bool {
    candidateTerm > lastTerm() || (candidateTerm == lastTerm() && candidateIndex >= lastIndex())
  }

  /// Handles a leader's MsgAppend: if our entry at `index` has `logTerm`,
  /// appends `entries` (dropping conflicts) and returns the new last index
  /// of the matched range; nil if the consistency check failed.
  mutating func maybeAppend(index: UInt64, logTerm: UInt64, committed leaderCommit: UInt64,
                            entries: [Eraftpb.Entry]) -> UInt64? {
    guard matchTerm(index: index, term: logTerm) else { return nil }
    let lastNewIndex = index + UInt64(entries.count)
    let conflictIndex = findConflict(entries)
    if conflictIndex != 0 {
      precondition(conflictIndex > committed, "entry \(conflictIndex) conflicts with committed entry [committed(\(committed))]")
      _ = append(Array(entries[Int(conflictIndex - index - 1)...]))
    }
    // Only what the leader proved we share may be committed.
    commitTo(min(leaderCommit, lastNewIndex))
    return lastNewIndex
  }

  /// Appends entries, truncating any conflicting unstable suffix. Returns the last index.
  @discardableResult
  mutating func append(_ entries: [Eraftpb.Entry]) -> UInt64 {
    guard let first = entries.first else { return lastIndex() }
    precondition(first.index - 1 >= committed, "after(\(first.index - 1)) is out of range [committed(\(committed))]")
    unstable.truncateAndAppend(entries)
    return lastIndex()
  }

  /// Index of the first entry whose term differs from ours, or the first new
  /// entry past our last index; 0 if all entries already match.
  func findConflict(_ entries: [Eraftpb.Entry]) -> UInt64 {
    for entry in entries where !matchTerm(index: entry.index, term: entry.term) {
      return entry.index
    }
    return 0
  }

  /// Largest index ≤ `index` whose term is ≤ `term`: the fast-backtracking
  /// probe point (every entry above it is certain to conflict).
  func findConflictByTerm(index: UInt64, term: UInt64) -> UInt64 {
    if index > lastIndex() { return index }
    var candidate = index
    while candidate > 0 {
      guard let ourTerm = try? self.term(candidate) else { break }
      if ourTerm <= term { break }
      candidate -= 1
    }
    return candidate
  }

  var unstableEntries: [Eraftpb.Entry] { unstable.entries }

  /// Committed entries not yet applied (bounded by `maxNextEntriesSize`).
  func nextEntries() -> [Eraftpb.Entry] {
    let start = max(applied + 1, firstIndex())
    guard committed + 1 > start else { return [] }
    return (try? slice(lo: start, hi: committed + 1, maxSize: maxNextEntriesSize)) ?? []
  }

  func hasNextEntries() -> Bool {
    committed + 1 > max(applied + 1, firstIndex())
  }

  /// The snapshot to use for a follower: the pending unstable one, else storage's.
  func snapshot() throws -> Eraftpb.Snapshot {
    if let pending = unstable.snapshot { return pending }
    return try storage.snapshot()
  }

  mutating func commitTo(_ index: UInt64) {
    guard index > committed else { return }
    precondition(index <= lastIndex(), "tocommit(\(index)) is out of range [lastIndex(\(lastIndex()))]. Was the raft log corrupted, truncated, or lost?")
    committed = index
  }

  mutating func appliedTo(_ index: UInt64) {
    guard index != 0 else { return }
    precondition(committed >= index && index >= applied, "applied(\(index)) is out of range [prevApplied(\(applied)), committed(\(committed))]")
    applied = index
  }

  mutating func stableTo(index: UInt64, term: UInt64) { unstable.stableTo(index: index, term: term) }

  mutating func stableSnapTo(_ index: UInt64) { unstable.stableSnapTo(index) }

  /// Commits up to `maxIndex` if that entry is from `term` (Raft §5.4.2:
  /// a leader only counts replicas for entries of its own term).
  mutating func maybeCommit(maxIndex: UInt64, term: UInt64) -> Bool {
    guard maxIndex > committed, termOrZero(maxIndex) == term else { return false }
    commitTo(maxIndex)
    return true
  }

  mutating func restore(_ snapshot: Eraftpb.Snapshot) {
    committed = snapshot.metadata?.index ?? 0
    unstable.restore(snapshot)
  }

  /// Entries from `index` to the end, within `maxSize`.
  func entries(from index: UInt64, maxSize: UInt64) throws -> [Eraftpb.Entry] {
    if index > lastIndex() { return [] }
    return try slice(lo: index, hi: lastIndex() + 1, maxSize: maxSize)
  }

  /// Every entry still available (tests and debugging).
  func allEntries() -> [Eraftpb.Entry] {
    (try? entries(from: firstIndex(), maxSize: .max)) ?? []
  }

  /// Entries `lo..<hi` spanning storage and the unstable log.
  func slice(lo: UInt64, hi: UInt64, maxSize: UInt64) throws -> [Eraftpb.Entry] {
    precondition(lo <= hi, "invalid slice \(lo) > \(hi)")
    if lo < firstIndex() { throw RaftStorageError.compacted }
    precondition(hi <= lastIndex() + 1, "slice[\(lo),\(hi)) out of bound [\(firstIndex()),\(lastIndex())]")
    if lo == hi { return [] }
    var result: [Eraftpb.Entry] = []
    if lo < unstable.offset {
      do {
        result = try storage.entries(lo: lo, hi: min(hi, unstable.offset), maxSize: maxSize)
      } catch let error as RaftStorageError where error == .compacted {
        throw error
      } catch {
        preconditionFailure("entries[\(lo):\(min(hi, unstable.offset))) is unavailable from storage: \(error)")
      }
      // Storage stopped early because of the size limit.
      if UInt64(result.count) < min(hi, unstable.offset) - lo { return result }
    }
    if hi > unstable.offset {
      result.append(contentsOf: unstable.slice(lo: max(lo, unstable.offset), hi: hi))
    }
    return limitSize(result, maxSize: maxSize)
  }
}
