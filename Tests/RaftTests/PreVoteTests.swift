import TinyKVProto
import XCTest
@testable import Raft

/// PreVote (Raft thesis §9.6): a node that cannot win does not bump terms.
final class PreVoteTests: XCTestCase {
  func testElectionWorksWithPreVote() {
    let network = TestNetwork(ids: [1, 2, 3]) { $0.preVote = true }
    network.campaign(1)
    XCTAssertEqual(network.role(1), .leader)
    XCTAssertEqual(network.term(1), 1)
    XCTAssertTrue(network.sentLog.contains { $0.msgType == .msgRequestPreVote })
    XCTAssertEqual(network.sentLog.first?.msgType.rawValue, 101)
  }

  /// An isolated node keeps failing pre-elections without raising its term,
  /// so rejoining does not depose the healthy leader.
  func testPreVotePreventsTermInflationAndDisruption() {
    let network = TestNetwork(ids: [1, 2, 3]) { $0.preVote = true }
    network.campaign(1)
    network.isolate(3)
    network.tickAll(100)
    XCTAssertEqual(network.term(3), 1)
    XCTAssertEqual(network.role(3), .preCandidate)
    network.heal()
    network.tickAll(5)
    XCTAssertEqual(network.role(1), .leader)
    XCTAssertEqual(network.term(1), 1)
    XCTAssertEqual(network.role(3), .follower)
    XCTAssertEqual(network[3].status().leaderId, 1)
  }

  /// Contrast: without PreVote the isolated node inflates its term and the
  /// leader has to step down when it returns.
  func testWithoutPreVoteRejoiningNodeDisruptsLeader() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    network.isolate(3)
    network.tickAll(100)
    XCTAssertGreaterThan(network.term(3), 3)
    network.heal()
    network.tickAll(1)
    XCTAssertGreaterThan(network.term(1), 1)
  }

  /// Pre-votes are refused for candidates with stale logs, and granting one
  /// does not change the voter's term or vote.
  func testPreVoteRespectsLogUpToDateness() throws {
    let node = try RawNode(config: RaftConfig(id: 1, preVote: true), storage: storageWithTerms([1, 2], peers: [1, 2, 3], term: 2))
    try node.step(Eraftpb.Message(msgType: .msgRequestPreVote, to: 1, from: 2, term: 3, logTerm: 1, index: 5))
    try node.step(Eraftpb.Message(msgType: .msgRequestPreVote, to: 1, from: 3, term: 3, logTerm: 2, index: 2))
    let responses = node.ready().messages
    XCTAssertEqual(responses.map(\.reject), [true, false])
    XCTAssertEqual(responses.map(\.msgType), [.msgRequestPreVoteResponse, .msgRequestPreVoteResponse])
    XCTAssertEqual(responses[1].term, 3)
    XCTAssertEqual(node.status().term, 2)
    XCTAssertEqual(node.status().hardState.vote, 0)
  }

  /// A pre-candidate whose pre-vote is rejected by a higher-term node joins that term.
  func testPreCandidateLearnsHigherTermFromRejection() throws {
    let node = try RawNode(config: RaftConfig(id: 1, peers: [1, 2, 3], preVote: true), storage: MemoryRaftStorage())
    node.campaign()
    XCTAssertEqual(node.status().role, .preCandidate)
    try node.step(Eraftpb.Message(msgType: .msgRequestPreVoteResponse, to: 1, from: 2, term: 5, reject: true))
    XCTAssertEqual(node.status().term, 5)
    XCTAssertEqual(node.status().role, .follower)
  }

  /// A lagging node that was partitioned can still be brought back; the
  /// up-to-date majority elects a leader among themselves with PreVote.
  func testLeaderReelectedAfterCrashWithPreVote() {
    let network = TestNetwork(ids: [1, 2, 3, 4, 5]) { $0.preVote = true }
    network.campaign(1)
    XCTAssertTrue(network.propose(1, "a"))
    network.crash(1)
    network.tickAll(30)
    let leader = network.leader()
    XCTAssertNotNil(leader)
    XCTAssertNotEqual(leader, 1)
    XCTAssertEqual(network.term(leader!), 2)
  }
}
