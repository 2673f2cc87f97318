import TinyKVProto
/// Leader-side message handling: proposals, replication acks, heartbeats,
/// leader transfer and ReadIndex.
extension RaftCore {
  // MARK: Leader

  func stepLeader(_ message: Eraftpb.Message) throws(RaftError) {
    switch message.msgType {
    case .msgBeat:
      broadcastHeartbeat()
      return
    case .msgPropose:
      try handleProposal(message)
      return
    case .msgReadIndex:
      handleReadIndexAsLeader(message)
      return
    default:
      break
    }

    guard progress[message.from] != nil else { return }
    let peer = message.from
    switch message.msgType {
    case .msgAppendResponse:
      handleAppendResponse(message)
    case .msgHeartbeatResponse:
      handleHeartbeatResponse(message)
    case .msgTransferLeader:
      handleTransferLeader(to: peer)
    default:
      break
    }
  }

  func handleProposal(_ message: Eraftpb.Message) throws(RaftError) {
    guard !message.entries.isEmpty else { return }
    // Removed from the group, or handing leadership over: refuse.
    guard progress[id] != nil, leadTransferee == 0 else { throw .proposalDropped }
    var entries = message.entries
    for position in entries.indices where entries[position].entryType == .entryConfChange {
      if pendingConfIndex > raftLog.applied {
        // One membership change at a time: neutralize the extra one.
        entries[position] = Eraftpb.Entry(entryType: .entryNormal)
      } else {
        pendingConfIndex = raftLog.lastIndex() + UInt64(position) + 1
        broadcastCommitIndex = pendingConfIndex
      }
    }
    appendEntries(entries)
    broadcastAppend()
  }

  func handleAppendResponse(_ message: Eraftpb.Message) {
    let peer = message.from
    progress[peer]!.markRecentActive(true)
    if message.reject {
      var nextProbe = message.commit
      if message.logTerm > 0 {
        nextProbe = raftLog.findConflictByTerm(index: message.commit, term: message.logTerm)
      }
      if progress[peer]!.maybeDecrementTo(rejected: message.index, matchHint: nextProbe) {
        if progress[peer]!.state == .replicate { progress[peer]!.becomeProbe() }
        sendAppend(to: peer)
      }
      return
    }

    let wasPaused = progress[peer]!.isPaused
    guard progress[peer]!.maybeUpdate(message.index) else { return }
    switch progress[peer]!.state {
    case .probe:
      progress[peer]!.becomeReplicate()
    case .snapshot where progress[peer]!.match >= progress[peer]!.pendingSnapshot:
      // Caught up past the snapshot: probe, then replicate.
      progress[peer]!.becomeProbe()
      progress[peer]!.becomeReplicate()
    case .replicate:
      progress[peer]!.inflights.freeTo(message.index)
    default:
      break
    }

    let previousCommit = raftLog.committed
    let committed = maybeCommit()
    if committed { releasePendingReadIndexMessages() }
    let passedMarkedIndex = previousCommit < broadcastCommitIndex && broadcastCommitIndex <= raftLog.committed
    if committed && (!skipBroadcastCommit || passedMarkedIndex) {
      broadcastAppend()
    } else if wasPaused {
      sendAppend(to: peer)
    }
    // Fill the pipeline as far as the window allows.
    while sendAppend(to: peer, sendIfEmpty: false) {}

    if peer == leadTransferee && progress[peer]!.match == raftLog.lastIndex() {
      sendTimeoutNow(to: peer)
    }
  }

  func handleHeartbeatResponse(_ message: Eraftpb.Message) {
    let peer = message.from
    progress[peer]!.markRecentActive(true)
    progress[peer]!.resumeProbe()
    if progress[peer]!.state == .replicate && progress[peer]!.inflights.isFull {
      progress[peer]!.inflights.freeFirstOne()
    }
    if progress[peer]!.match < raftLog.lastIndex() {
      sendAppend(to: peer)
    }

    guard let context = message.context else { return }
    guard readOnly.receiveAck(from: peer, context: context) >= quorum else { return }
    for status in readOnly.advance(through: context) {
      respondToReadIndex(status.request, readIndex: status.index)
    }
  }

  func handleTransferLeader(to transferee: UInt64) {
    if leadTransferee != 0 {
      if leadTransferee == transferee { return }
      leadTransferee = 0
    }
    if transferee == id { return }
    // The transfer must finish within one election timeout.
    electionElapsed = 0
    leadTransferee = transferee
    if progress[transferee]!.match == raftLog.lastIndex() {
      sendTimeoutNow(to: transferee)
    } else {
      sendAppend(to: transferee)
    }
  }

  /// Tells an up-to-date `transferee` to campaign now.
  func sendTimeoutNow(to transferee: UInt64) {
    send(Eraftpb.Message(msgType: .msgTimeoutNow, to: transferee))
    // A removed leader's job ends here: the transferee is at least as
    // up-to-date as we are, so it can win with our vote.
    if !isPromotable { becomeFollower(term: term, leader: 0) }
  }

  func handleReadIndexAsLeader(_ message: Eraftpb.Message) {
    // A removed leader cannot count a quorum it is not part of.
    guard progress[id] != nil else { return }
    if progress.count == 1 && progress[id] != nil {
      respondToReadIndex(message, readIndex: raftLog.committed)
      return
    }
    // Until an entry of this term commits, our commit index may lag what
    // earlier leaders committed; postpone the read.
    guard committedEntryInCurrentTerm() else {
      pendingReadIndexMessages.append(message)
      return
    }
    startReadIndexRound(message)
  }

  func startReadIndexRound(_ message: Eraftpb.Message) {
    let context = message.context ?? []
    readOnly.addRequest(index: raftLog.committed, message: message)
    // Self-ack; a quorum of heartbeat acks proves we are still the leader.
    if readOnly.receiveAck(from: id, context: context) >= quorum {
      for status in readOnly.advance(through: context) {
        respondToReadIndex(status.request, readIndex: status.index)
      }
      return
    }
    broadcastHeartbeat(context: context)
  }

  func releasePendingReadIndexMessages() {
    guard !pendingReadIndexMessages.isEmpty, committedEntryInCurrentTerm() else { return }
    let waiting = pendingReadIndexMessages
    pendingReadIndexMessages = []
    for message in waiting {
      startReadIndexRound(message)
    }
  }

  func respondToReadIndex(_ request: Eraftpb.Message, readIndex: UInt64) {
    let context = request.context ?? []
    if request.from == 0 || request.from == id {
      readStates.append(ReadState(index: readIndex, requestContext: context))
    } else {
      var response = Eraftpb.Message(msgType: .msgReadIndexResponse, to: request.from, index: readIndex)
      response.context = context
      send(response)
    }
  }
}
