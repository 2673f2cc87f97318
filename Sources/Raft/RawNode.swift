import TinyKVProto
/// The application-facing Raft node: feed it ticks, messages and proposals,
/// then drain its `Ready` and call `advance(_:)` (see `Ready` for the
/// persist-before-send contract).
///
/// ```swift
/// let node = try RawNode(config: RaftConfig(id: 1, peers: [1, 2, 3], confChangeCodec: codec),
///                        storage: storage)
/// node.tick()                      // on every timer tick
/// try node.step(received)          // for every message from the network
/// while node.hasReady() {
///   let ready = node.ready()
///   // persist snapshot/entries/hardState, send messages, apply, then:
///   node.advance(ready)
/// }
/// ```
///
/// A reference type because copying a node would fork its Raft state. Not
/// thread-safe: a single owner (actor, thread, or event loop) drives it.
public final class RawNode {
  let raft: RaftCore
  private var previousSoftState: SoftState
  private var previousHardState: Eraftpb.HardState
  private let confChangeCodec: (any ConfChangeCodec)?

  /// Builds a node from its stored state. A new group takes its members from
  /// `config.peers`; a restarted one from the storage's ConfState.
  /// Throws `RaftConfigError` for an invalid config, or the storage's error.
  public init(config: RaftConfig, storage: any RaftStorage) throws {
    raft = try RaftCore(config: config, storage: storage)
    previousSoftState = raft.softState
    previousHardState = raft.hardState
    confChangeCodec = config.confChangeCodec
  }

  /// This node's id.
  public var id: UInt64 { raft.id }

  /// Advances the logical clock by one tick (elections and heartbeats).
  public func tick() {
    raft.tick()
  }

  /// Starts an election now (PreVote first when enabled).
  public func campaign() {
    try? raft.step(Eraftpb.Message(msgType: .msgHup, from: raft.id))
  }

  /// Proposes `data` to be appended to the log. Throws `.proposalDropped`
  /// when there is no known leader or a leader transfer is in progress.
  /// Success only means "accepted for replication", not committed.
  public func propose(data: [UInt8]) throws(RaftError) {
    try raft.step(Eraftpb.Message(msgType: .msgPropose, from: raft.id, entries: [Eraftpb.Entry(data: data)]))
  }

  /// Proposes a membership change (encoded with the configured codec). Only
  /// one change may be pending: a second one before the first is applied
  /// is replaced by an empty entry.
  public func proposeConfChange(_ change: Eraftpb.ConfChange) throws(RaftError) {
    guard let codec = confChangeCodec else { throw .confChangeCodecMissing }
    let entry = Eraftpb.Entry(entryType: .entryConfChange, data: codec.encode(change))
    try raft.step(Eraftpb.Message(msgType: .msgPropose, from: raft.id, entries: [entry]))
  }

  /// With `RaftConfig.skipBroadcastCommit`: announce the commit of the entry at `index` to the
  /// followers as soon as it happens (e.g. a split, which creates peers on their stores), instead
  /// of with the next append or heartbeat.
  public func broadcastCommit(through index: UInt64) {
    raft.broadcastCommitIndex = max(raft.broadcastCommitIndex, index)
  }

  /// Decodes the ConfChange carried by a committed `EntryConfChange` entry.
  public func decodeConfChange(_ entry: Eraftpb.Entry) throws -> Eraftpb.ConfChange {
    guard let codec = confChangeCodec else { throw RaftError.confChangeCodecMissing }
    return try codec.decode(entry.data)
  }

  /// Applies a committed membership change; call it while applying the
  /// entry. Returns the new membership (to store with snapshots).
  /// A change with `nodeId == 0` only clears the pending-change flag.
  @discardableResult
  public func applyConfChange(_ change: Eraftpb.ConfChange) throws(RaftError) -> Eraftpb.ConfState {
    if change.nodeId == 0 {
      raft.pendingConfIndex = 0
    } else {
      switch change.changeType {
      case .addNode: raft.addNode(change.nodeId)
      case .removeNode: raft.removeNode(change.nodeId)
      case .unrecognized(let raw): throw .unknownConfChangeType(raw)
      }
    }
    return Eraftpb.ConfState(nodes: raft.progress.keys.sorted())
  }

  /// Feeds a message received from the network.
  /// Throws `.stepLocalMessage` for MsgHup/MsgBeat and `.stepPeerNotFound`
  /// for responses from non-members; proposals may throw `.proposalDropped`.
  public func step(_ message: Eraftpb.Message) throws(RaftError) {
    if message.msgType.isLocalOnly { throw .stepLocalMessage }
    if message.msgType.isResponse && raft.progress[message.from] == nil { throw .stepPeerNotFound }
    try raft.step(message)
  }

  /// Asks the leader to hand leadership to `transferee` (forwarded when this
  /// node is a follower). Proposals are refused while the transfer runs;
  /// it is abandoned after an election timeout.
  public func transferLeader(to transferee: UInt64) {
    try? raft.step(Eraftpb.Message(msgType: .msgTransferLeader, from: transferee))
  }

  /// Requests a linearizable read. When the leader has confirmed its
  /// leadership, a `ReadState` with this context appears in `Ready.readStates`;
  /// the read may be served once the applied index reaches its `index`.
  /// Silently dropped when no leader is known (retry after a timeout).
  public func readIndex(context: [UInt8]) {
    var request = Eraftpb.Message(msgType: .msgReadIndex)
    request.context = context
    try? raft.step(request)
  }

  /// The transport failed to deliver to `peer`.
  public func reportUnreachable(_ peer: UInt64) {
    raft.reportUnreachable(peer)
  }

  /// The transport finished sending a snapshot to `peer` (or failed to).
  public func reportSnapshot(_ peer: UInt64, success: Bool) {
    raft.reportSnapshot(peer, success: success)
  }

  /// Whether `ready()` has anything to do.
  public func hasReady() -> Bool {
    if raft.softState != previousSoftState { return true }
    if raft.hardState != Eraftpb.HardState() && raft.hardState != previousHardState { return true }
    if raft.raftLog.unstable.snapshot != nil { return true }
    if !raft.messages.isEmpty || !raft.readStates.isEmpty { return true }
    if !raft.raftLog.unstableEntries.isEmpty || raft.raftLog.hasNextEntries() { return true }
    return false
  }

  /// Collects the pending work. Handle it as `Ready` documents, then pass it
  /// to `advance(_:)` before calling `ready()` again.
  public func ready() -> Ready {
    var ready = Ready()
    let softState = raft.softState
    if softState != previousSoftState {
      ready.softState = softState
      previousSoftState = softState
    }
    let hardState = raft.hardState
    if hardState != Eraftpb.HardState() && hardState != previousHardState {
      ready.hardState = hardState
    }
    ready.entries = raft.raftLog.unstableEntries
    ready.snapshot = raft.raftLog.unstable.snapshot
    ready.committedEntries = raft.raftLog.nextEntries()
    ready.messages = raft.messages
    ready.readStates = raft.readStates
    raft.messages = []
    raft.readStates = []
    ready.mustSync = !ready.entries.isEmpty
      || hardState.term != previousHardState.term || hardState.vote != previousHardState.vote
    return ready
  }

  /// Tells the node the `ready` was handled: entries persisted, committed
  /// entries applied.
  public func advance(_ ready: Ready) {
    if let hardState = ready.hardState { previousHardState = hardState }
    if let last = ready.committedEntries.last {
      raft.raftLog.appliedTo(last.index)
    } else if let snapshotIndex = ready.snapshot?.metadata?.index, snapshotIndex > raft.raftLog.applied {
      raft.raftLog.appliedTo(snapshotIndex)
    }
    if let last = ready.entries.last {
      raft.raftLog.stableTo(index: last.index, term: last.term)
    }
    if let snapshotIndex = ready.snapshot?.metadata?.index {
      raft.raftLog.stableSnapTo(snapshotIndex)
    }
  }

  /// Index of the last entry in the log (stable or not): a proposal accepted by
  /// `propose` sits at this index, which lets the caller match it when applied.
  public var lastIndex: UInt64 { raft.raftLog.lastIndex() }

  /// The current term.
  public var term: UInt64 { raft.term }

  /// A leader with nothing in flight (see `RaftCore.isQuiescentLeader`): everything
  /// committed, handed out and replicated to every voter; no transfer, conf change or read.
  public var isQuiescentLeader: Bool { raft.isQuiescentLeader }

  /// The highest log index known to be committed.
  public var commitIndex: UInt64 { raft.raftLog.committed }

  /// Whether an entry of the current term is committed (before that, a new leader's commit
  /// index may lag what earlier leaders committed, so it must not serve reads).
  public var hasCommittedEntryInCurrentTerm: Bool { raft.committedEntryInCurrentTerm() }

  /// The peer a leadership transfer is under way to (0: none).
  public var leadTransferee: UInt64 { raft.leadTransferee }

  /// The known leader (0 if none) and this node's role, without copying progress.
  public var softState: SoftState { raft.softState }

  /// Current state, for monitoring and tests.
  public func status() -> RaftStatus {
    RaftStatus(id: raft.id, hardState: raft.hardState, softState: raft.softState,
               applied: raft.raftLog.applied,
               progress: raft.role == .leader ? raft.progress : [:],
               leadTransferee: raft.leadTransferee)
  }
}
