import TinyKVProto
/// Candidate and follower message handling: votes tallying, appends,
/// heartbeats and snapshots from the leader.
extension RaftCore {
  // MARK: Candidate

  func stepCandidate(_ message: Eraftpb.Message) throws(RaftError) {
    let expectedResponse: Eraftpb.MessageType = role == .preCandidate ? .msgRequestPreVoteResponse : .msgRequestVoteResponse
    switch message.msgType {
    case .msgPropose:
      throw .proposalDropped
    case .msgAppend:
      becomeFollower(term: message.term, leader: message.from)
      handleAppend(message)
    case .msgHeartbeat:
      becomeFollower(term: message.term, leader: message.from)
      handleHeartbeat(message)
    case .msgSnapshot:
      becomeFollower(term: message.term, leader: message.from)
      handleSnapshot(message)
    case expectedResponse:
      switch poll(from: message.from, type: message.msgType, granted: !message.reject) {
      case .won where !isPromotable:
        // Removed from the group while campaigning: a non-member never leads.
        becomeFollower(term: term, leader: 0)
      case .won:
        if role == .preCandidate {
          campaign(.election)
        } else {
          becomeLeader()
          broadcastAppend()
        }
      case .lost:
        // A pre-vote rejection's term may be stale; only a real vote moves our term.
        becomeFollower(term: term, leader: 0)
      case .pending:
        break
      }
    default:
      break
    }
  }

  // MARK: Follower

  func stepFollower(_ message: Eraftpb.Message) throws(RaftError) {
    switch message.msgType {
    case .msgPropose:
      guard leaderId != 0 else { throw .proposalDropped }
      var forwarded = message
      forwarded.to = leaderId
      send(forwarded)
    case .msgAppend:
      electionElapsed = 0
      leaderId = message.from
      handleAppend(message)
    case .msgHeartbeat:
      electionElapsed = 0
      leaderId = message.from
      handleHeartbeat(message)
    case .msgSnapshot:
      electionElapsed = 0
      leaderId = message.from
      handleSnapshot(message)
    case .msgTransferLeader:
      guard leaderId != 0 else { return }
      var forwarded = message
      forwarded.to = leaderId
      send(forwarded)
    case .msgTimeoutNow:
      // Leadership handed to us: campaign immediately, skipping PreVote.
      hup(.transfer)
    case .msgReadIndex:
      guard leaderId != 0 else { return }
      var forwarded = message
      forwarded.to = leaderId
      send(forwarded)
    case .msgReadIndexResponse:
      guard let context = message.context else { return }
      readStates.append(ReadState(index: message.index, requestContext: context))
    default:
      break
    }
  }

  func handleAppend(_ message: Eraftpb.Message) {
    if message.index < raftLog.committed {
      send(Eraftpb.Message(msgType: .msgAppendResponse, to: message.from, index: raftLog.committed))
      return
    }
    if let lastMatched = raftLog.maybeAppend(index: message.index, logTerm: message.logTerm,
                                              committed: message.commit, entries: message.entries) {
      send(Eraftpb.Message(msgType: .msgAppendResponse, to: message.from, index: lastMatched))
      return
    }
    // Fast backtracking: tell the leader the last index that may still match
    // so it can skip a whole term of conflicting entries per round trip.
    let hintIndex = raftLog.findConflictByTerm(index: min(message.index, raftLog.lastIndex()), term: message.logTerm)
    let hintTerm = raftLog.termOrZero(hintIndex)
    send(Eraftpb.Message(msgType: .msgAppendResponse, to: message.from, logTerm: hintTerm,
                         index: message.index, commit: hintIndex, reject: true))
  }

  func handleHeartbeat(_ message: Eraftpb.Message) {
    raftLog.commitTo(message.commit)
    var response = Eraftpb.Message(msgType: .msgHeartbeatResponse, to: message.from)
    response.context = message.context
    send(response)
  }

  func handleSnapshot(_ message: Eraftpb.Message) {
    guard let snapshot = message.snapshot else { return }
    if restore(snapshot) {
      send(Eraftpb.Message(msgType: .msgAppendResponse, to: message.from, index: raftLog.lastIndex()))
    } else {
      send(Eraftpb.Message(msgType: .msgAppendResponse, to: message.from, index: raftLog.committed))
    }
  }

  /// Installs `snapshot` unless we already have what it covers. Returns whether it was used.
  func restore(_ snapshot: Eraftpb.Snapshot) -> Bool {
    let metadata = snapshot.metadata ?? Eraftpb.SnapshotMetadata()
    if metadata.index <= raftLog.committed { return false }
    if raftLog.matchTerm(index: metadata.index, term: metadata.term) {
      // We hold the snapshot's last entry already: just fast-forward commit.
      raftLog.commitTo(metadata.index)
      return false
    }
    raftLog.restore(snapshot)
    let lastIndex = raftLog.lastIndex()
    progress = [:]
    for member in metadata.confState?.nodes ?? [] {
      var fresh = Progress(next: lastIndex + 1, maxInflight: maxInflight)
      if member == id { fresh.match = lastIndex }
      progress[member] = fresh
    }
    return true
  }
}
