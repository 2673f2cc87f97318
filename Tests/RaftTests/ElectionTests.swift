import TinyKVProto
import XCTest
@testable import Raft

/// Leader election (Raft §5.2) and the voting rules of §5.4.1.
final class ElectionTests: XCTestCase {
  func testSingleNodeElectsItselfAndCommits() {
    let network = TestNetwork(ids: [1])
    network.tickAll(20)
    XCTAssertEqual(network.role(1), .leader)
    XCTAssertTrue(network.propose(1, "a"))
    XCTAssertEqual(network.appliedData(1), ["a"])
  }

  func testElectionInClusterSizes() {
    for size in [1, 3, 5] {
      let ids = (1...UInt64(size)).map { $0 }
      let network = TestNetwork(ids: ids)
      network.campaign(1)
      XCTAssertEqual(network.role(1), .leader, "size \(size)")
      for id in ids {
        XCTAssertEqual(network.term(id), 1, "size \(size)")
        XCTAssertEqual(network[id].status().leaderId, 1, "size \(size)")
      }
    }
  }

  func testElectionTimeoutElectsExactlyOneLeader() {
    for seed in UInt64(1)...20 {
      let network = TestNetwork(ids: [1, 2, 3, 4, 5], seed: seed)
      network.tickAll(30)
      let leaders = network.liveIds.filter { network.role($0) == .leader }
      XCTAssertEqual(leaders.count, 1, "seed \(seed)")
    }
  }

  func testRandomizedElectionTimeoutStaysInRangeAndVaries() throws {
    let node = try RawNode(config: RaftConfig(id: 1, peers: [1, 2, 3], electionTick: 10, randomSeed: 3),
                           storage: MemoryRaftStorage())
    var seen = Set<Int>()
    for _ in 0..<200 {
      node.raft.resetRandomizedElectionTimeout()
      let timeout = node.raft.randomizedElectionTimeout
      XCTAssertTrue((10..<20).contains(timeout))
      seen.insert(timeout)
    }
    XCTAssertGreaterThan(seen.count, 5)
  }

  func testSameSeedGivesSameRun() {
    func trace(seed: UInt64) -> [Eraftpb.Message] {
      let network = TestNetwork(ids: [1, 2, 3], seed: seed)
      network.tickAll(40)
      return network.sentLog
    }
    XCTAssertEqual(trace(seed: 42), trace(seed: 42))
  }

  /// "If AppendEntries RPC received from new leader: convert to follower."
  func testCandidateStepsDownOnLeaderOfHigherOrEqualTerm() throws {
    let network = TestNetwork(ids: [1, 2, 3])
    network.isolate(3)
    network.campaign(3)
    XCTAssertEqual(network.role(3), .candidate)
    XCTAssertEqual(network.term(3), 1)
    network.heal()
    network.campaign(1)  // term 1 as well: 1 wins with 2's vote, then 3 hears from it
    XCTAssertEqual(network.role(1), .leader)
    XCTAssertEqual(network.role(3), .follower)
    XCTAssertEqual(network[3].status().leaderId, 1)
    XCTAssertEqual(network.term(3), 1)

    // Equal term: a candidate hearing from that term's leader steps down too.
    let candidate = network[3]
    network.isolate(3)
    candidate.campaign()  // term 2 candidate
    XCTAssertEqual(network.role(3), .candidate)
    try candidate.step(Eraftpb.Message(msgType: .msgAppend, to: 3, from: 2, term: 2, logTerm: 1, index: 1, commit: 1))
    XCTAssertEqual(network.role(3), .follower)
    XCTAssertEqual(candidate.status().leaderId, 2)
  }

  /// A leader that sees a higher term steps down.
  func testLeaderStepsDownOnHigherTerm() throws {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    try network[1].step(Eraftpb.Message(msgType: .msgHeartbeatResponse, to: 1, from: 2, term: 5))
    XCTAssertEqual(network.role(1), .follower)
    XCTAssertEqual(network.term(1), 5)
  }

  /// "A candidate wins an election if it receives votes from a majority."
  func testPartitionedMinorityCannotElect() {
    let network = TestNetwork(ids: [1, 2, 3, 4, 5])
    network.partition([[1, 2, 3], [4, 5]])
    network.campaign(1)
    XCTAssertEqual(network.role(1), .leader)
    network.campaign(4)
    XCTAssertEqual(network.role(4), .candidate)
    XCTAssertEqual(network.role(5), .follower)
    XCTAssertEqual(network.role(1), .leader)
  }

  func testNoLeaderWithoutQuorum() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.crash(2)
    network.crash(3)
    network.campaign(1)
    XCTAssertEqual(network.role(1), .candidate)
    network.tickAll(50)
    XCTAssertNotEqual(network.role(1), .leader)
  }

  /// "Each server will vote for at most one candidate in a given term."
  func testOneVotePerTerm() throws {
    let node = try RawNode(config: RaftConfig(id: 1, peers: [1, 2, 3]), storage: MemoryRaftStorage())
    try node.step(Eraftpb.Message(msgType: .msgRequestVote, to: 1, from: 2, term: 1))
    try node.step(Eraftpb.Message(msgType: .msgRequestVote, to: 1, from: 3, term: 1))
    try node.step(Eraftpb.Message(msgType: .msgRequestVote, to: 1, from: 2, term: 1))  // duplicate: same answer
    let responses = node.ready().messages
    XCTAssertEqual(responses.map(\.to), [2, 3, 2])
    XCTAssertEqual(responses.map(\.reject), [false, true, false])
    XCTAssertTrue(responses.allSatisfy { $0.msgType == .msgRequestVoteResponse && $0.term == 1 })
    XCTAssertEqual(node.status().hardState.vote, 2)
  }

  /// "If the logs have last entries with different terms, then the log with
  /// the later term is more up-to-date; same term: the longer log."
  func testVoteRequiresUpToDateLog() throws {
    let cases: [(index: UInt64, logTerm: UInt64, granted: Bool)] = [
      (3, 1, false), (2, 2, false), (3, 2, true), (4, 2, true), (1, 3, true),
    ]
    for (offset, testCase) in cases.enumerated() {
      let node = try RawNode(config: RaftConfig(id: 1), storage: storageWithTerms([1, 1, 2], peers: [1, 2, 3]))
      try node.step(Eraftpb.Message(msgType: .msgRequestVote, to: 1, from: 2, term: 3,
                                    logTerm: testCase.logTerm, index: testCase.index))
      let response = node.ready().messages.first
      XCTAssertEqual(response?.reject, !testCase.granted, "case \(offset)")
    }
  }

  func testNodeRestartsWithPersistedTermAndVote() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    network.crash(2)
    network.restart(2)
    XCTAssertEqual(network.term(2), 1)
    XCTAssertEqual(network[2].status().hardState.vote, 1)
  }
}
