import TinyKVProto
/// Transport reports and membership changes.
extension RaftCore {
  // MARK: - Local reports

  /// The transport could not reach `peer`: stop pipelining blindly.
  func reportUnreachable(_ peer: UInt64) {
    guard role == .leader, progress[peer]?.state == .replicate else { return }
    progress[peer]!.becomeProbe()
  }

  /// The transport finished (or failed) sending a snapshot to `peer`.
  func reportSnapshot(_ peer: UInt64, success: Bool) {
    guard role == .leader, progress[peer]?.state == .snapshot else { return }
    if !success { progress[peer]!.snapshotFailed() }
    // Wait for the follower's MsgAppendResponse before the next append (probe).
    progress[peer]!.becomeProbe()
    progress[peer]!.pauseProbe()
  }

  // MARK: - Membership

  func addNode(_ peer: UInt64) {
    pendingConfIndex = 0
    guard progress[peer] == nil else { return }
    var fresh = Progress(next: raftLog.lastIndex() + 1, maxInflight: maxInflight)
    // A new node starts out active so CheckQuorum does not count it as lost.
    fresh.markRecentActive(true)
    progress[peer] = fresh
  }

  func removeNode(_ peer: UInt64) {
    pendingConfIndex = 0
    progress.removeValue(forKey: peer)
    guard !progress.isEmpty, role == .leader else { return }
    if peer == id {
      // We are no longer a member. Stepping down right away could deadlock
      // the group: a remaining member that has not yet learned the removal
      // committed may still need our vote while our log is longer than its
      // own. Instead keep leading (refusing proposals) and hand leadership
      // to the most up-to-date member, retrying every election timeout.
      broadcastHeartbeat()
      handOverLeadershipAfterRemoval()
      return
    }
    if leadTransferee == peer { leadTransferee = 0 }
    // The quorum shrank: pending entries may be committed now.
    if maybeCommit() { broadcastAppend() }
  }

  /// Transfers leadership to the remaining member with the highest match.
  func handOverLeadershipAfterRemoval() {
    let target = progress.max { ($0.value.match, $1.key) < ($1.value.match, $0.key) }?.key
    if let target { handleTransferLeader(to: target) }
  }
}
