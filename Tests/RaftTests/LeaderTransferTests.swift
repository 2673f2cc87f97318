import TinyKVProto
import XCTest
@testable import Raft

/// Leadership transfer (Raft thesis §3.10): MsgTransferLeader / MsgTimeoutNow.
final class LeaderTransferTests: XCTestCase {
  func testTransferToUpToDateFollower() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    network[1].transferLeader(to: 2)
    network.stabilize()
    XCTAssertEqual(network.role(2), .leader)
    XCTAssertEqual(network.role(1), .follower)
    XCTAssertEqual(network.term(2), 2)
    XCTAssertTrue(network.propose(1, "via-old-leader"))
    XCTAssertEqual(network.appliedData(2), ["via-old-leader"])
  }

  /// A lagging transferee is first caught up, then told to campaign.
  func testTransferToLaggingFollower() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    network.isolate(3)
    for value in 0..<5 { XCTAssertTrue(network.propose(1, "v\(value)")) }
    network.heal()
    network[1].transferLeader(to: 3)
    network.stabilize()
    XCTAssertEqual(network.role(3), .leader)
    XCTAssertEqual(network.appliedData(3).count, 5)
  }

  /// Requests made on a follower are forwarded to the leader.
  func testTransferRequestedOnFollower() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    network[3].transferLeader(to: 3)
    network.stabilize()
    XCTAssertEqual(network.role(3), .leader)
  }

  /// Proposals are refused during a transfer; an unfinished transfer is
  /// abandoned after an election timeout.
  func testProposalsDroppedDuringTransferUntilAborted() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    network.isolate(3)
    network[1].transferLeader(to: 3)
    network.stabilize()
    XCTAssertEqual(network[1].status().leadTransferee, 3)
    XCTAssertFalse(network.propose(1, "refused"))
    network.tickAll(10)
    XCTAssertEqual(network[1].status().leadTransferee, 0)
    XCTAssertEqual(network.role(1), .leader)
    XCTAssertTrue(network.propose(1, "accepted"))
    XCTAssertEqual(network.appliedData(2), ["accepted"])
  }

  func testTransferToSelfOrNonMemberIsIgnored() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    network[1].transferLeader(to: 1)
    network[1].transferLeader(to: 9)
    network.stabilize()
    XCTAssertEqual(network.role(1), .leader)
    XCTAssertEqual(network[1].status().leadTransferee, 0)
  }

  /// Transfer still works when voters hold a CheckQuorum lease (the vote
  /// request is marked as a transfer) and with PreVote on.
  func testTransferWithCheckQuorumAndPreVote() {
    let network = TestNetwork(ids: [1, 2, 3]) {
      $0.checkQuorum = true
      $0.preVote = true
    }
    network.campaign(1)
    XCTAssertEqual(network.role(1), .leader)
    network.tickAll(3)
    network[1].transferLeader(to: 2)
    network.stabilize()
    XCTAssertEqual(network.role(2), .leader)
    let transferVote = network.sentLog.first { $0.msgType == .msgRequestVote && $0.from == 2 }
    XCTAssertEqual(transferVote?.entries.first?.data, Array("CampaignTransfer".utf8))
  }

  /// Transferring to the old leader again after a transfer works too.
  func testTransferBack() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    network[1].transferLeader(to: 2)
    network.stabilize()
    network[2].transferLeader(to: 1)
    network.stabilize()
    XCTAssertEqual(network.role(1), .leader)
    XCTAssertEqual(network.term(1), 3)
  }
}
