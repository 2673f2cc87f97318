import TinyKVProto
/// Entries and snapshot not yet persisted by the application.
///
/// `entries[i]` has index `offset + i`. `offset` may be less than the highest
/// index the storage holds: a newly received conflicting suffix is appended
/// here first, and the storage truncates its own copy when it persists it.
struct UnstableLog {
  var snapshot: Eraftpb.Snapshot?
  var entries: [Eraftpb.Entry] = []
  var offset: UInt64

  init(offset: UInt64) { self.offset = offset }

  /// First index, known only while a snapshot is pending.
  func maybeFirstIndex() -> UInt64? {
    snapshot.map { ($0.metadata?.index ?? 0) + 1 }
  }

  /// Last index, if there are unstable entries or a pending snapshot.
  func maybeLastIndex() -> UInt64? {
    if !entries.isEmpty { return offset + UInt64(entries.count) - 1 }
    return snapshot.map { $0.metadata?.index ?? 0 }
  }

  func maybeTerm(_ index: UInt64) -> UInt64? {
    if index < offset {
      guard let metadata = snapshot?.metadata, metadata.index == index else { return nil }
      return metadata.term
    }
    guard let last = maybeLastIndex(), index <= last else { return nil }
    return entries[Int(index - offset)].term
  }

  /// The application persisted entries up to `index` (with `term`): drop them.
  /// A term mismatch means they were since replaced, so nothing is dropped.
  mutating func stableTo(index: UInt64, term: UInt64) {
    guard let currentTerm = maybeTerm(index), currentTerm == term, index >= offset else { return }
    entries.removeFirst(Int(index + 1 - offset))
    offset = index + 1
  }

  mutating func stableSnapTo(_ index: UInt64) {
    if let metadata = snapshot?.metadata, metadata.index == index {
      snapshot = nil
    }
  }

  mutating func restore(_ newSnapshot: Eraftpb.Snapshot) {
    offset = (newSnapshot.metadata?.index ?? 0) + 1
    entries = []
    snapshot = newSnapshot
  }

  mutating func truncateAndAppend(_ newEntries: [Eraftpb.Entry]) {
    guard let after = newEntries.first?.index else { return }
    if after == offset + UInt64(entries.count) {
      entries.append(contentsOf: newEntries)
    } else if after <= offset {
      // Replaces everything unstable; the storage truncates its copy on persist.
      offset = after
      entries = newEntries
    } else {
      entries.removeSubrange(Int(after - offset)...)
      entries.append(contentsOf: newEntries)
    }
  }

  func slice(lo: UInt64, hi: UInt64) -> [Eraftpb.Entry] {
    precondition(lo <= hi && offset <= lo && hi <= offset + UInt64(entries.count),
                 "invalid unstable slice \(lo)..<\(hi), offset \(offset), count \(entries.count)")
    return Array(entries[Int(lo - offset)..<Int(hi - offset)])
  }
}
