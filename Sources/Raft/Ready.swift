import TinyKVProto
/// The role a node currently plays.
public enum StateRole: Sendable, Hashable {
  case follower
  /// Running a PreVote round; term not yet increased.
  case preCandidate
  case candidate
  case leader
}

/// Volatile state worth reporting when it changes (not persisted).
public struct SoftState: Sendable, Hashable {
  /// Known leader id, 0 if none.
  public var leaderId: UInt64
  public var role: StateRole

  public init(leaderId: UInt64, role: StateRole) {
    self.leaderId = leaderId
    self.role = role
  }
}

/// Everything a node needs its caller to do, in this order:
///
/// 1. Persist `snapshot` (if any), append `entries` and save `hardState`
///    (if any) to stable storage — synchronously when `mustSync`.
/// 2. Only then send `messages` (a follower's vote or append ack must never
///    precede the durable write it promises).
/// 3. Apply `snapshot` and then `committedEntries` to the state machine,
///    calling `RawNode.applyConfChange` for `EntryConfChange` entries;
///    serve `readStates` once applied index ≥ `ReadState.index`.
/// 4. Call `RawNode.advance(_:)` with this same value before the next `ready()`.
public struct Ready: Sendable {
  /// Leader/role, present only when changed since the previous Ready.
  public var softState: SoftState?
  /// Term/vote/commit to persist, present only when changed.
  public var hardState: Eraftpb.HardState?
  /// Completed ReadIndex requests.
  public var readStates: [ReadState] = []
  /// Entries to append to stable storage (may overwrite a conflicting suffix).
  public var entries: [Eraftpb.Entry] = []
  /// Snapshot to persist and apply.
  public var snapshot: Eraftpb.Snapshot?
  /// Committed entries to apply to the state machine.
  public var committedEntries: [Eraftpb.Entry] = []
  /// Messages to send after persisting.
  public var messages: [Eraftpb.Message] = []
  /// Whether the writes must be fsynced (term/vote or entries changed).
  public var mustSync: Bool = false

  public init() {}
}

/// A snapshot of a node's state for monitoring and tests.
public struct RaftStatus: Sendable, Hashable {
  public var id: UInt64
  public var hardState: Eraftpb.HardState
  public var softState: SoftState
  public var applied: UInt64
  /// Followers' progress; only filled on the leader.
  public var progress: [UInt64: Progress]
  /// Target of an ongoing leader transfer, 0 if none.
  public var leadTransferee: UInt64

  public var term: UInt64 { hardState.term }
  public var commit: UInt64 { hardState.commit }
  public var role: StateRole { softState.role }
  public var leaderId: UInt64 { softState.leaderId }
}
