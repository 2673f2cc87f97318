import TinyKVProto
/// # Raft
///
/// A deterministic, I/O-free implementation of the Raft consensus algorithm in
/// the style of etcd's raft and raft-rs. The caller owns time and the network:
/// it calls `RawNode.tick()`, feeds received messages to `RawNode.step(_:)`,
/// and repeatedly drains `RawNode.ready()` / `RawNode.advance(_:)` (see `Ready`
/// for the persist-before-send contract).
///
/// Features: leader election with randomized timeouts in `[et, 2et)`, log
/// replication with fast backtracking, probe/replicate/snapshot flow control,
/// snapshots, leader transfer, single-step membership changes, PreVote,
/// CheckQuorum (with voter lease) and ReadIndex.
///
/// ## Wire encoding of features missing from TinyKV's `eraftpb`
///
/// The schema must stay exactly TinyKV's, so extensions use unknown enum
/// numbers (which proto3 decoders preserve) and otherwise-unused fields:
///
/// | Purpose | Encoding |
/// |---|---|
/// | PreVote request / response | `MessageType.unrecognized(101)` / `(102)` (`.msgRequestPreVote`, `.msgRequestPreVoteResponse`). Request `term` = candidate's term + 1, `index`/`logTerm` = its last entry. A granted response echoes the request term. |
/// | ReadIndex request / response | `.unrecognized(103)` / `(104)` (`.msgReadIndex`, `.msgReadIndexResponse`); the request context is `entries == [Entry(data: context)]`; the response's `index` is the read index. |
/// | Read confirmation heartbeats | MsgHeartbeat / MsgHeartbeatResponse carry the newest pending read context as `entries == [Entry(data: context)]`; plain heartbeats have empty `entries`. |
/// | Leader-transfer elections | MsgRequestVote sent after MsgTimeoutNow carries `entries == [Entry(data: "CampaignTransfer")]` so voters skip their CheckQuorum lease. |
/// | Append rejection hint | MsgAppendResponse with `reject == true`: `index` = the rejected probe index, `commit` = hint index (the follower's last index or the last entry whose term ≤ the probe term), `logTerm` = the follower's term at the hint. |
/// | Transfer target | MsgTransferLeader's `from` is the transferee (as in etcd and TinyKV). |
///
/// Contexts should be unique per read (e.g. a request id): reads with equal
/// contexts pending at the same time are merged.
///
/// Membership changes: `EntryConfChange` entry data is `ConfChangeCodec.encode(ConfChange)`,
/// the codec being injected in `RaftConfig`. One change at a time: a leader
/// neutralizes a second conf change proposed before the first is applied.
/// The application calls `RawNode.applyConfChange` when it applies the entry.
/// A leader that applies its own removal keeps leading (refusing proposals)
/// only until it has handed leadership to the most up-to-date member via
/// MsgTimeoutNow, then becomes a follower. Caveat shared with etcd/TiKV:
/// removing the leader of a *two*-member group can leave the survivor unable
/// to win an election if the removed node disappears before the survivor
/// learned the removal was committed — transfer leadership away first.
///
/// Snapshots: the application must call `RawNode.reportSnapshot` once the
/// transport delivered (or failed to deliver) a MsgSnapshot; the leader
/// sends nothing else to that follower until then.
///
/// `RaftCore` below is the protocol state machine; `RawNode` wraps it with the
/// Ready/advance bookkeeping. Neither is thread-safe: one owner drives them.
final class RaftCore {
  enum CampaignKind {
    case preElection
    case election
    /// Forced by MsgTimeoutNow: skips PreVote and voters' leases.
    case transfer
  }

  enum VoteResult {
    case won, lost, pending
  }

  let id: UInt64
  var term: UInt64 = 0
  var vote: UInt64 = 0
  var raftLog: RaftLog
  var progress: [UInt64: Progress] = [:]
  var role: StateRole = .follower
  var leaderId: UInt64 = 0
  /// Votes received in the current (pre-)election: peer → granted.
  var votes: [UInt64: Bool] = [:]
  /// Outgoing messages, drained by `RawNode.ready()`.
  var messages: [Eraftpb.Message] = []
  var readStates: [ReadState] = []
  var readOnly = ReadOnly()
  /// ReadIndex requests received before this leader committed an entry of its term.
  var pendingReadIndexMessages: [Eraftpb.Message] = []
  var leadTransferee: UInt64 = 0
  /// Index of the latest conf change proposed; a new one is refused until it is applied.
  var pendingConfIndex: UInt64 = 0

  let maxMessageSize: UInt64
  let maxInflight: Int
  let checkQuorum: Bool
  let preVote: Bool
  let heartbeatTimeout: Int
  let electionTimeout: Int
  /// `RaftConfig.skipBroadcastCommit`.
  let skipBroadcastCommit: Bool
  /// With `skipBroadcastCommit`: the commit of this index is still announced at once. Set for
  /// membership changes (a removed follower only learns of its removal from that commit: the
  /// leader stops talking to it once the change is applied) and by the application for
  /// entries followers should apply promptly (`RawNode.broadcastCommit(through:)`, splits).
  var broadcastCommitIndex: UInt64 = 0
  /// Ticks since the last election timeout reset (leader: since last quorum check).
  var electionElapsed = 0
  var heartbeatElapsed = 0
  var randomizedElectionTimeout = 0
  /// Vote requests are ignored until the first election timeout (`RaftConfig.leaseAfterStart`).
  var startupLease = false
  private var random: SeededGenerator

  init(config: RaftConfig, storage: any RaftStorage) throws {
    try config.validate()
    id = config.id
    raftLog = try RaftLog(storage: storage, maxNextEntriesSize: config.maxSizePerMsg)
    maxMessageSize = config.maxSizePerMsg
    maxInflight = config.maxInflightMsgs
    checkQuorum = config.checkQuorum
    preVote = config.preVote
    heartbeatTimeout = config.heartbeatTick
    electionTimeout = config.electionTick
    skipBroadcastCommit = config.skipBroadcastCommit
    // Mix the id in so nodes sharing a seed still get different timeouts.
    random = SeededGenerator(seed: config.randomSeed ^ (config.id &* 0x2545_F491_4F6C_DD1D))

    let (hardState, confState) = try storage.initialState()
    var members = confState.nodes
    if !members.isEmpty && !config.peers.isEmpty { throw RaftConfigError.peersConflictWithStoredConfState }
    if members.isEmpty { members = config.peers }
    let lastIndex = raftLog.lastIndex()
    for member in members {
      progress[member] = Progress(next: lastIndex + 1, maxInflight: maxInflight)
    }
    if hardState != Eraftpb.HardState() {
      loadHardState(hardState)
    }
    if config.applied > 0 {
      raftLog.appliedTo(config.applied)
    }
    becomeFollower(term: term, leader: 0)
    startupLease = config.leaseAfterStart && config.checkQuorum
  }

  func loadHardState(_ state: Eraftpb.HardState) {
    precondition(state.commit >= raftLog.committed && state.commit <= raftLog.lastIndex(),
                 "\(id) state.commit \(state.commit) is out of range [\(raftLog.committed), \(raftLog.lastIndex())]")
    raftLog.committed = state.commit
    term = state.term
    vote = state.vote
  }

  // MARK: - Derived state

  var softState: SoftState { SoftState(leaderId: leaderId, role: role) }
  var hardState: Eraftpb.HardState { Eraftpb.HardState(term: term, vote: vote, commit: raftLog.committed) }
  var quorum: Int { progress.count / 2 + 1 }
  /// A node removed from the group must not campaign.
  var isPromotable: Bool { progress[id] != nil }

  func pastElectionTimeout() -> Bool { electionElapsed >= randomizedElectionTimeout }

  func resetRandomizedElectionTimeout() {
    randomizedElectionTimeout = electionTimeout + Int.random(in: 0..<electionTimeout, using: &random)
  }

  // MARK: - Sending

  /// Queues `message`, stamping sender and (for most types) the current term.
  func send(_ message: Eraftpb.Message) {
    var message = message
    if message.from == 0 { message.from = id }
    switch message.msgType {
    case .msgRequestVote, .msgRequestPreVote, .msgRequestVoteResponse, .msgRequestPreVoteResponse:
      // Vote traffic carries its own term (a pre-vote's is in the future).
      precondition(message.term != 0, "term should be set when sending \(message.msgType)")
    case .msgPropose, .msgReadIndex:
      // Forwarded proposals and reads travel term-less, like local messages.
      message.term = 0
    default:
      message.term = term
    }
    messages.append(message)
  }

  /// Sends MsgAppend (or MsgSnapshot when the needed entries were compacted)
  /// to `peer`. Returns whether anything was sent.
  @discardableResult
  func sendAppend(to peer: UInt64, sendIfEmpty: Bool = true) -> Bool {
    guard let current = progress[peer], !current.isPaused else { return false }
    let previousIndex = current.next - 1
    let previousTerm = try? raftLog.term(previousIndex)
    let entries = try? raftLog.entries(from: current.next, maxSize: maxMessageSize)
    if let entries, entries.isEmpty, !sendIfEmpty { return false }

    guard let previousTerm, let entries else {
      return sendSnapshot(to: peer)
    }
    var message = Eraftpb.Message(msgType: .msgAppend, to: peer, logTerm: previousTerm,
                                  index: previousIndex, entries: entries, commit: raftLog.committed)
    if let last = entries.last?.index {
      switch current.state {
      case .replicate:
        progress[peer]!.optimisticUpdate(last)
        progress[peer]!.inflights.add(last)
      case .probe:
        progress[peer]!.pauseProbe()
      case .snapshot:
        preconditionFailure("\(id) is sending append in unhandled state snapshot")
      }
    }
    message.to = peer
    send(message)
    return true
  }

  func sendSnapshot(to peer: UInt64) -> Bool {
    // Don't waste a snapshot on a peer that may be down.
    guard progress[peer]?.recentActive == true else { return false }
    let snapshot: Eraftpb.Snapshot
    do {
      snapshot = try raftLog.snapshot()
    } catch RaftStorageError.snapshotTemporarilyUnavailable {
      return false
    } catch {
      preconditionFailure("\(id) failed to get snapshot: \(error)")
    }
    let snapshotIndex = snapshot.metadata?.index ?? 0
    precondition(snapshotIndex != 0, "need non-empty snapshot")
    progress[peer]!.becomeSnapshot(snapshotIndex)
    send(Eraftpb.Message(msgType: .msgSnapshot, to: peer, snapshot: snapshot))
    return true
  }

  func sendHeartbeat(to peer: UInt64, context: [UInt8]?) {
    // Never let a follower commit past what it is known to hold.
    let commit = min(progress[peer]?.match ?? 0, raftLog.committed)
    var message = Eraftpb.Message(msgType: .msgHeartbeat, to: peer, commit: commit)
    message.context = context
    send(message)
  }

  func broadcastAppend() {
    for peer in progress.keys.sorted() where peer != id {
      sendAppend(to: peer)
    }
  }

  func broadcastHeartbeat(context: [UInt8]? = nil) {
    let context = context ?? readOnly.lastPendingContext
    for peer in progress.keys.sorted() where peer != id {
      sendHeartbeat(to: peer, context: context)
    }
  }

  // MARK: - Role transitions

  func reset(term newTerm: UInt64) {
    if term != newTerm {
      term = newTerm
      vote = 0
    }
    leaderId = 0
    electionElapsed = 0
    heartbeatElapsed = 0
    resetRandomizedElectionTimeout()
    leadTransferee = 0
    votes = [:]
    let lastIndex = raftLog.lastIndex()
    for peer in progress.keys {
      var fresh = Progress(next: lastIndex + 1, maxInflight: maxInflight)
      if peer == id { fresh.match = lastIndex }
      progress[peer] = fresh
    }
    pendingConfIndex = 0
    readOnly = ReadOnly()
    pendingReadIndexMessages = []
  }

  func becomeFollower(term newTerm: UInt64, leader: UInt64) {
    reset(term: newTerm)
    leaderId = leader
    role = .follower
  }

  func becomeCandidate() {
    precondition(role != .leader, "invalid transition [leader -> candidate]")
    startupLease = false
    reset(term: term + 1)
    vote = id
    role = .candidate
  }

  /// Runs PreVote without touching term or vote, so a failed pre-election leaves no trace.
  func becomePreCandidate() {
    precondition(role != .leader, "invalid transition [leader -> pre-candidate]")
    votes = [:]
    leaderId = 0
    role = .preCandidate
  }

  func becomeLeader() {
    precondition(role != .follower, "invalid transition [follower -> leader]")
    reset(term: term)
    leaderId = id
    role = .leader
    progress[id]?.becomeReplicate()
    // Conservatively treat the unapplied tail as possibly holding a conf change.
    pendingConfIndex = raftLog.lastIndex()
    // An entry of the new term lets earlier-term entries commit (§5.4.2) and
    // tells ReadIndex when it is safe to serve.
    appendEntries([Eraftpb.Entry()])
  }

  func campaign(_ kind: CampaignKind) {
    let voteType: Eraftpb.MessageType
    let campaignTerm: UInt64
    if kind == .preElection {
      becomePreCandidate()
      voteType = .msgRequestPreVote
      campaignTerm = term + 1
    } else {
      becomeCandidate()
      voteType = .msgRequestVote
      campaignTerm = term
    }
    if poll(from: id, type: voteType.voteResponseType, granted: true) == .won {
      // Single-node group: won outright.
      if kind == .preElection {
        campaign(.election)
      } else {
        becomeLeader()
      }
      return
    }
    for peer in progress.keys.sorted() where peer != id {
      var request = Eraftpb.Message(msgType: voteType, to: peer, term: campaignTerm,
                                    logTerm: raftLog.lastTerm(), index: raftLog.lastIndex())
      if kind == .transfer { request.context = campaignTransferContext }
      send(request)
    }
  }

  func poll(from peer: UInt64, type: Eraftpb.MessageType, granted: Bool) -> VoteResult {
    if votes[peer] == nil { votes[peer] = granted }
    let yes = votes.values.filter { $0 }.count
    if yes >= quorum { return .won }
    if votes.count - yes >= quorum { return .lost }
    return .pending
  }

  // MARK: - Log helpers

  func appendEntries(_ entries: [Eraftpb.Entry]) {
    var entries = entries
    let lastIndex = raftLog.lastIndex()
    for offset in entries.indices {
      entries[offset].term = term
      entries[offset].index = lastIndex + 1 + UInt64(offset)
    }
    let newLast = raftLog.append(entries)
    _ = progress[id]?.maybeUpdate(newLast)
    // Single-node groups commit immediately.
    _ = maybeCommit()
  }

  /// Advances the commit index to the highest index a quorum has matched.
  func maybeCommit() -> Bool {
    guard !progress.isEmpty else { return false }
    let matches = progress.values.map(\.match).sorted(by: >)
    let quorumMatch = matches[quorum - 1]
    return raftLog.maybeCommit(maxIndex: quorumMatch, term: term)
  }

  func committedEntryInCurrentTerm() -> Bool {
    raftLog.termOrZero(raftLog.committed) == term
  }

  /// Whether this leader has nothing in flight: every entry committed and handed out for
  /// applying, every voter's log matching, no leader transfer, conf change or read pending.
  /// Such a leader may stop ticking (hibernate) until something happens.
  var isQuiescentLeader: Bool {
    guard role == .leader, leadTransferee == 0, isPromotable else { return false }
    let last = raftLog.lastIndex()
    guard raftLog.committed == last, raftLog.applied == last, pendingConfIndex <= last,
          readOnly.isEmpty, pendingReadIndexMessages.isEmpty, messages.isEmpty else { return false }
    return progress.allSatisfy { $0.key == id || $0.value.match == last }
  }

  // MARK: - Ticks

  func tick() {
    if role == .leader {
      tickHeartbeat()
    } else {
      tickElection()
    }
  }

  func tickElection() {
    electionElapsed += 1
    if electionElapsed >= electionTimeout { startupLease = false }
    if isPromotable && pastElectionTimeout() {
      electionElapsed = 0
      try? step(Eraftpb.Message(msgType: .msgHup, from: id))
    }
  }

  func tickHeartbeat() {
    heartbeatElapsed += 1
    electionElapsed += 1
    if electionElapsed >= electionTimeout {
      electionElapsed = 0
      if !isPromotable {
        // Removed leader: keep trying to hand over (see `removeNode`).
        leadTransferee = 0
        handOverLeadershipAfterRemoval()
      } else {
        if checkQuorum && !checkQuorumActive() {
          becomeFollower(term: term, leader: 0)
          return
        }
        // A transfer that did not finish within an election timeout is abandoned.
        if leadTransferee != 0 { leadTransferee = 0 }
      }
    }
    guard role == .leader else { return }
    if heartbeatElapsed >= heartbeatTimeout {
      heartbeatElapsed = 0
      try? step(Eraftpb.Message(msgType: .msgBeat, from: id))
    }
  }

  /// Whether a quorum was heard from since the last check; resets the marks.
  func checkQuorumActive() -> Bool {
    var active = 0
    for peer in progress.keys {
      if peer == id || progress[peer]!.recentActive { active += 1 }
      if peer != id { progress[peer]!.markRecentActive(false) }
    }
    return active >= quorum
  }

  // MARK: - Step

  /// Processes one message. Term rules first, then the role-specific handler.
  func step(_ message: Eraftpb.Message) throws(RaftError) {
    if message.term == 0 {
      // Local message (or a term-less forwarded proposal/read).
    } else if message.term > term {
      if message.msgType.isVoteRequest {
        let forced = message.context == campaignTransferContext
        let inLease = checkQuorum && (leaderId != 0 || startupLease) && electionElapsed < electionTimeout
        // Lease: we heard from a live leader recently; ignore disruptors.
        if !forced && inLease { return }
      }
      if message.msgType == .msgRequestPreVote {
        // A pre-vote never changes our term.
      } else if message.msgType == .msgRequestPreVoteResponse && !message.reject {
        // Our own future term echoed back; handled when the pre-election is won.
      } else {
        let fromLeader = [.msgAppend, .msgHeartbeat, .msgSnapshot].contains(message.msgType)
        becomeFollower(term: message.term, leader: fromLeader ? message.from : 0)
      }
    } else if message.term < term {
      if (checkQuorum || preVote) && (message.msgType == .msgHeartbeat || message.msgType == .msgAppend) {
        // A stale leader (e.g. after a partition healed) learns the new term
        // from this and steps down; otherwise it would never hear it, since
        // with CheckQuorum/PreVote we would not start an election ourselves.
        send(Eraftpb.Message(msgType: .msgAppendResponse, to: message.from))
      } else if message.msgType == .msgRequestPreVote {
        send(Eraftpb.Message(msgType: .msgRequestPreVoteResponse, to: message.from, term: term, reject: true))
      }
      return
    }

    switch message.msgType {
    case .msgHup:
      handleHup()
    case .msgRequestVote, .msgRequestPreVote:
      handleVoteRequest(message)
    default:
      switch role {
      case .leader: try stepLeader(message)
      case .candidate, .preCandidate: try stepCandidate(message)
      case .follower: try stepFollower(message)
      }
    }
  }

  func handleHup() {
    hup(preVote ? .preElection : .election)
  }

  /// Starts a campaign unless this node must not: it is already leader, it
  /// was removed, or (for ordinary elections) a committed but unapplied conf
  /// change might remove it.
  func hup(_ kind: CampaignKind) {
    guard role != .leader else { return }
    guard isPromotable else { return }
    // A snapshot not yet applied may also change the membership.
    guard raftLog.unstable.snapshot == nil else { return }
    // A transfer target was picked by the leader from its applied config,
    // and single-step changes keep old and new quorums overlapping, so a
    // forced campaign needs no wait (this matters when a removed leader hands over).
    if kind != .transfer && raftLog.committed > raftLog.applied {
      let start = max(raftLog.applied + 1, raftLog.firstIndex())
      let unapplied = (try? raftLog.slice(lo: start, hi: raftLog.committed + 1, maxSize: .max)) ?? []
      if unapplied.contains(where: { $0.entryType == .entryConfChange }) { return }
    }
    campaign(kind)
  }

  func handleVoteRequest(_ message: Eraftpb.Message) {
    let canVote = vote == message.from
      || (vote == 0 && leaderId == 0)
      || (message.msgType == .msgRequestPreVote && message.term > term)
    if canVote && raftLog.isUpToDate(lastIndex: message.index, lastTerm: message.logTerm) {
      // Echo the request term: a pre-candidate compares it with its future term.
      send(Eraftpb.Message(msgType: message.msgType.voteResponseType, to: message.from, term: message.term))
      if message.msgType == .msgRequestVote {
        electionElapsed = 0
        vote = message.from
      }
    } else {
      send(Eraftpb.Message(msgType: message.msgType.voteResponseType, to: message.from, term: term, reject: true))
    }
  }
}
