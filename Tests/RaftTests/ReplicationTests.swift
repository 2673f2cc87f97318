import TinyKVProto
import XCTest
@testable import Raft

/// Log replication (Raft §5.3) and commitment (§5.4.2).
final class ReplicationTests: XCTestCase {
  func testProposalReplicatesToAllAndForwardsFromFollowers() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    XCTAssertTrue(network.propose(1, "a"))
    XCTAssertTrue(network.propose(2, "b"))  // forwarded to the leader
    for id: UInt64 in [1, 2, 3] {
      XCTAssertEqual(network.appliedData(id), ["a", "b"], "node \(id)")
    }
  }

  /// raft-rs's `skip_bcast_commit`: a commit is not announced with appends of its own; followers
  /// learn it from the next append or heartbeat, and the leader commits and applies as before.
  func testSkippingTheCommitBroadcastLeavesFollowersToTheNextHeartbeat() {
    for skip in [false, true] {
      let network = TestNetwork(ids: [1, 2, 3]) { $0.skipBroadcastCommit = skip }
      network.campaign(1)
      network.sentLog = []
      XCTAssertTrue(network.propose(1, "a"))
      let appends = network.sentLog.filter { $0.from == 1 && $0.msgType == .msgAppend }
      // The entry goes out once to each follower; without skipping, the commit goes out again.
      XCTAssertEqual(appends.count, skip ? 2 : 4, "skip \(skip)")
      XCTAssertEqual(network.appliedData(1), ["a"], "skip \(skip)")
      XCTAssertEqual(network.appliedData(2), skip ? [] : ["a"], "skip \(skip)")
      network.tickAll()  // heartbeatTick is 1 here: the heartbeat carries the commit index
      for id: UInt64 in [1, 2, 3] {
        XCTAssertEqual(network.appliedData(id), ["a"], "node \(id), skip \(skip)")
      }
      // A later proposal carries the earlier commit along with its own entry.
      XCTAssertTrue(network.propose(1, "b"))
      network.tickAll()
      for id: UInt64 in [1, 2, 3] {
        XCTAssertEqual(network.appliedData(id), ["a", "b"], "node \(id), skip \(skip)")
      }
    }
  }

  func testProposalWithoutLeaderIsDropped() {
    let network = TestNetwork(ids: [1, 2, 3])
    XCTAssertThrowsError(try network[1].propose(data: [1])) { XCTAssertEqual($0 as? RaftError, .proposalDropped) }
    network.isolate(1)
    network.campaign(1)
    XCTAssertThrowsError(try network[1].propose(data: [1]))  // candidate
  }

  func testMinorityCannotCommit() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    network.isolate(2)
    network.isolate(3)
    let before = network.committed(1)
    XCTAssertTrue(network.propose(1, "lost"))
    XCTAssertEqual(network.committed(1), before)
    XCTAssertEqual(network.appliedData(1), [])
  }

  /// Figure 7: whatever a follower's log looks like, the leader forces it to
  /// match its own ("the leader handles inconsistencies by forcing the
  /// followers' logs to duplicate its own").
  func testLogMatchingWithConflictingEntries() {
    let leaderLog: [UInt64] = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
    let followerLogs: [[UInt64]] = [
      [1, 1, 1, 4, 4, 5, 5, 6, 6],  // (a) missing one
      [1, 1, 1, 4],  // (b) missing many
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],  // (c) extra uncommitted entry
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],  // (d) extra entries of a later term
      [1, 1, 1, 4, 4, 4, 4],  // (e) conflicting uncommitted term-4 entries
      [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],  // (f) entries of terms the leader never saw
    ]
    for (offset, followerLog) in followerLogs.enumerated() {
      let storages: [UInt64: MemoryRaftStorage] = [
        1: storageWithTerms(leaderLog, peers: [1, 2, 3], term: 8),
        2: storageWithTerms(followerLog, peers: [1, 2, 3], term: 8),
        3: storageWithTerms(leaderLog, peers: [1, 2, 3], term: 8),
      ]
      let network = TestNetwork(ids: [1, 2, 3], storages: storages)
      network.campaign(1)
      XCTAssertEqual(network.role(1), .leader, "case \(offset)")
      XCTAssertTrue(network.propose(1, "x"))
      XCTAssertEqual(network.log(2), network.log(1), "case \(offset)")
      XCTAssertEqual(network.committed(2), network.committed(1), "case \(offset)")
      XCTAssertEqual(network.log(1).map(\.term), leaderLog + [9, 9], "case \(offset)")
    }
  }

  /// Rejection hints let the leader skip a whole term per round trip
  /// instead of one entry.
  func testFastBacktrackingNeedsFewRoundTrips() {
    let leaderLog: [UInt64] = [1] + Array(repeating: 4, count: 50)
    let followerLog: [UInt64] = [1] + Array(repeating: 2, count: 100) + Array(repeating: 3, count: 100)
    let storages: [UInt64: MemoryRaftStorage] = [
      1: storageWithTerms(leaderLog, peers: [1, 2, 3], term: 5),
      2: storageWithTerms(followerLog, peers: [1, 2, 3], term: 5),
      3: storageWithTerms(leaderLog, peers: [1, 2, 3], term: 5),
    ]
    let network = TestNetwork(ids: [1, 2, 3], storages: storages)
    network.campaign(1)
    XCTAssertEqual(network.role(1), .leader)
    XCTAssertEqual(network.log(2), network.log(1))
    let rejections = network.sentLog.filter { $0.msgType == .msgAppendResponse && $0.reject && $0.from == 2 }
    XCTAssertLessThanOrEqual(rejections.count, 3)
  }

  /// Figure 8: "Raft never commits log entries from previous terms by
  /// counting replicas"; only an entry of the current term commits them.
  func testLeaderOnlyCommitsPreviousTermEntriesThroughCurrentTermEntry() throws {
    let storage = storageWithTerms([1, 2], peers: [1, 2, 3], term: 3)
    let node = try RawNode(config: RaftConfig(id: 1), storage: storage)
    node.campaign()
    try node.step(Eraftpb.Message(msgType: .msgRequestVoteResponse, to: 1, from: 2, term: 4))
    XCTAssertEqual(node.status().role, .leader)
    XCTAssertEqual(node.raft.raftLog.lastIndex(), 3)  // the new leader's empty term-4 entry
    // Entry 2 (term 2) now sits on a majority (1 and 2) but must not commit.
    try node.step(Eraftpb.Message(msgType: .msgAppendResponse, to: 1, from: 2, term: 4, index: 2))
    XCTAssertEqual(node.status().commit, 0)
    // Once the term-4 entry is on a majority, everything before it commits.
    try node.step(Eraftpb.Message(msgType: .msgAppendResponse, to: 1, from: 2, term: 4, index: 3))
    XCTAssertEqual(node.status().commit, 3)
  }

  /// Figure 8 (d)/(e) with a real cluster: an old-term entry replicated to a
  /// majority can still be overwritten; once a current-term entry commits it cannot.
  func testFigure8Scenario() {
    func makeNetwork() -> TestNetwork {
      let ids: [UInt64] = [1, 2, 3, 4, 5]
      let storages: [UInt64: MemoryRaftStorage] = [
        1: storageWithTerms([1, 2], peers: ids, term: 3),
        2: storageWithTerms([1, 2], peers: ids, term: 3),
        3: storageWithTerms([1, 2], peers: ids, term: 3),
        4: storageWithTerms([1], peers: ids, term: 3),
        5: storageWithTerms([1, 3], peers: ids, term: 3),
      ]
      return TestNetwork(ids: ids, storages: storages)
    }
    // (d) S1 is down; S5 (last term 3) wins and overwrites index 2 everywhere.
    let overwritten = makeNetwork()
    overwritten.crash(1)
    overwritten.campaign(5)
    XCTAssertEqual(overwritten.role(5), .leader)
    for id: UInt64 in [2, 3, 4] {
      XCTAssertEqual(overwritten.log(id)[1].term, 3, "node \(id)")
    }
    // (e) S1 commits an entry of its own term: S5 can no longer win.
    let safe = makeNetwork()
    safe.isolate(5)
    safe.campaign(1)
    XCTAssertEqual(safe.role(1), .leader)
    XCTAssertEqual(safe.committed(1), 3)
    safe.crash(1)
    safe.heal()
    safe.campaign(5)
    XCTAssertNotEqual(safe.role(5), .leader)
    for id: UInt64 in [2, 3, 4] {
      XCTAssertEqual(safe.log(id)[1].term, 2, "node \(id)")
    }
  }

  /// A follower partitioned away for a long time catches up when it returns.
  func testFollowerCatchesUpAfterLongPartition() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    network.isolate(3)
    for value in 0..<50 { XCTAssertTrue(network.propose(1, "v\(value)")) }
    XCTAssertEqual(network.appliedData(3), [])
    network.heal()
    network.tickAll(3)
    XCTAssertEqual(network.appliedData(3), network.appliedData(1))
    XCTAssertEqual(network.appliedData(3).count, 50)
  }

  /// With a small inflight window the leader pipelines at most that many appends.
  func testInflightWindowLimitsPipelining() throws {
    let network = TestNetwork(ids: [1, 2, 3]) { $0.maxInflightMsgs = 2 }
    network.campaign(1)
    network.droppedTypes = [.msgAppendResponse]
    let leader = network[1]
    for value in 0..<5 { try leader.propose(data: [UInt8(value)]) }
    let appendsTo2 = leader.ready().messages.filter { $0.msgType == .msgAppend && $0.to == 2 }
    XCTAssertEqual(appendsTo2.count, 2)
    XCTAssertTrue(leader.status().progress[2]!.isPaused)
  }

  func testMaxSizePerMessageSplitsAppends() {
    let network = TestNetwork(ids: [1, 2, 3]) { $0.maxSizePerMsg = 100 }
    network.campaign(1)
    network.isolate(3)
    for value in 0..<20 { XCTAssertTrue(network.propose(1, "value-\(value)-padding-padding")) }
    network.heal()
    network.sentLog = []
    network.tickAll(2)
    XCTAssertEqual(network.appliedData(3).count, 20)
    let appends = network.sentLog.filter { $0.msgType == .msgAppend && $0.to == 3 && !$0.entries.isEmpty }
    XCTAssertGreaterThan(appends.count, 3)
  }
}
