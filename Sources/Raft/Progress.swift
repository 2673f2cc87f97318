import TinyKVProto
/// How the leader currently replicates to a follower.
public enum ProgressState: Sendable, Hashable {
  /// One MsgAppend at a time until the follower's match index is found.
  case probe
  /// Optimistic pipelining of MsgAppends, bounded by `Inflights`.
  case replicate
  /// A snapshot is on its way; no MsgAppend until it is acknowledged.
  case snapshot
}

/// The leader's view of one follower's log.
public struct Progress: Sendable, Hashable {
  /// Highest index known to match the leader's log.
  public internal(set) var match: UInt64
  /// Next index to send.
  public internal(set) var next: UInt64
  public internal(set) var state: ProgressState = .probe
  /// Index of the snapshot being sent while in `.snapshot` state.
  public internal(set) var pendingSnapshot: UInt64 = 0
  /// Heard from within the current election timeout (CheckQuorum).
  public internal(set) var recentActive = false
  /// In probe state: a MsgAppend is outstanding, wait before sending another.
  public internal(set) var probeSent = false
  public internal(set) var inflights: Inflights

  init(match: UInt64 = 0, next: UInt64, maxInflight: Int) {
    self.match = match
    self.next = next
    inflights = Inflights(capacity: maxInflight)
  }

  private mutating func reset(to newState: ProgressState) {
    probeSent = false
    pendingSnapshot = 0
    state = newState
    inflights.reset()
  }

  mutating func becomeProbe() {
    // After a snapshot the follower has at least the snapshot index.
    if state == .snapshot {
      let snapshotIndex = pendingSnapshot
      reset(to: .probe)
      next = max(match + 1, snapshotIndex + 1)
    } else {
      reset(to: .probe)
      next = match + 1
    }
  }

  mutating func becomeReplicate() {
    reset(to: .replicate)
    next = match + 1
  }

  mutating func becomeSnapshot(_ snapshotIndex: UInt64) {
    reset(to: .snapshot)
    pendingSnapshot = snapshotIndex
  }

  /// The follower acknowledged `index`. Returns false for stale acks.
  mutating func maybeUpdate(_ index: UInt64) -> Bool {
    var updated = false
    if match < index {
      match = index
      updated = true
      probeSent = false
    }
    next = max(next, index + 1)
    return updated
  }

  /// Pipelining: assume the MsgAppend ending at `lastSent` will succeed.
  mutating func optimisticUpdate(_ lastSent: UInt64) {
    next = lastSent + 1
  }

  /// The follower rejected MsgAppend at `rejected`; `matchHint` is the highest
  /// index that may still match. Returns false if the rejection is stale.
  mutating func maybeDecrementTo(rejected: UInt64, matchHint: UInt64) -> Bool {
    if state == .replicate {
      if rejected <= match { return false }
      next = match + 1
      return true
    }
    // Probe: only the rejection of the last probe counts.
    if next == 0 || next - 1 != rejected { return false }
    next = max(min(rejected, matchHint + 1), 1)
    probeSent = false
    return true
  }

  mutating func markRecentActive(_ active: Bool) { recentActive = active }
  mutating func pauseProbe() { probeSent = true }
  mutating func resumeProbe() { probeSent = false }

  mutating func snapshotFailed() { pendingSnapshot = 0 }

  /// Whether sending MsgAppend is currently throttled.
  public var isPaused: Bool {
    switch state {
    case .probe: return probeSent
    case .replicate: return inflights.isFull
    case .snapshot: return true
    }
  }
}
