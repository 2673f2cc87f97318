import TinyKVProto
import XCTest
@testable import Raft

/// CheckQuorum: leaders step down without quorum contact; followers with a
/// live leader ignore vote requests (leader lease).
final class CheckQuorumTests: XCTestCase {
  func testLeaderStepsDownWhenItLosesQuorum() {
    let network = TestNetwork(ids: [1, 2, 3]) { $0.checkQuorum = true }
    network.campaign(1)
    network.isolate(1)
    network.tickAll(21)
    XCTAssertEqual(network.role(1), .follower)
    XCTAssertEqual(network[1].status().leaderId, 0)
    // Meanwhile the majority elected someone else.
    XCTAssertNotNil(network.leader())
    XCTAssertNotEqual(network.leader(), 1)
  }

  func testLeaderWithQuorumStaysLeader() {
    let network = TestNetwork(ids: [1, 2, 3, 4, 5]) { $0.checkQuorum = true }
    network.campaign(1)
    network.isolate(4)
    network.isolate(5)
    network.tickAll(50)
    XCTAssertEqual(network.role(1), .leader)
    XCTAssertEqual(network.term(1), 1)
  }

  /// Followers in their lease ignore (do not answer, do not adopt the term
  /// of) vote requests from a disruptive node.
  func testFollowerInLeaseIgnoresVoteRequests() throws {
    let network = TestNetwork(ids: [1, 2, 3]) { $0.checkQuorum = true }
    network.campaign(1)
    network.tickAll(2)
    let follower = network[2]
    _ = follower.ready()
    try follower.step(Eraftpb.Message(msgType: .msgRequestVote, to: 2, from: 3, term: 9, logTerm: 9, index: 9))
    XCTAssertEqual(follower.status().term, 1)
    XCTAssertTrue(follower.ready().messages.isEmpty)
    // Once the lease expires (no leader contact), votes are considered again.
    network.isolate(2)
    network.tick(2, 10)
    try follower.step(Eraftpb.Message(msgType: .msgRequestVote, to: 2, from: 3, term: 9, logTerm: 9, index: 9))
    XCTAssertEqual(follower.status().term, 9)
  }

  /// With PreVote and CheckQuorum a rejoining partitioned node does not disturb the leader.
  func testRejoiningNodeDoesNotDisruptWithPreVoteAndCheckQuorum() {
    let network = TestNetwork(ids: [1, 2, 3]) {
      $0.checkQuorum = true
      $0.preVote = true
    }
    network.campaign(1)
    network.isolate(3)
    network.tickAll(60)
    network.heal()
    network.tickAll(30)
    XCTAssertEqual(network.role(1), .leader)
    XCTAssertEqual(network.term(1), 1)
    XCTAssertEqual(network.term(3), 1)
  }

  /// CheckQuorum without PreVote: a candidate stuck at a higher term is freed
  /// when it rejoins (the leader learns the term from its reply and steps down).
  func testStuckCandidateIsFreedOnRejoin() {
    let network = TestNetwork(ids: [1, 2, 3]) { $0.checkQuorum = true }
    network.campaign(1)
    network.isolate(3)
    network.tickAll(40)
    let stuckTerm = network.term(3)
    XCTAssertGreaterThan(stuckTerm, 1)
    network.heal()
    network.tickAll(40)
    let leader = try? XCTUnwrap(network.leader())
    XCTAssertNotNil(leader)
    XCTAssertGreaterThanOrEqual(network.term(leader!), stuckTerm)
    XCTAssertEqual(Set(network.liveIds.map { network.term($0) }).count, 1)
  }
}
