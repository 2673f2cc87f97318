import TinyKVProto
import XCTest
@testable import Raft

/// Single-server membership changes (Raft thesis §4.1).
final class ConfChangeTests: XCTestCase {
  private func proposeChange(_ network: TestNetwork, on id: UInt64, _ type: Eraftpb.ConfChangeType, _ node: UInt64) throws {
    try network[id].proposeConfChange(Eraftpb.ConfChange(changeType: type, nodeId: node))
    network.stabilize()
  }

  func testAddNode() throws {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    XCTAssertTrue(network.propose(1, "before"))
    network.addNewNode(4, members: [1, 2, 3, 4])
    try proposeChange(network, on: 1, .addNode, 4)
    XCTAssertEqual(network.confStates[1]?.nodes, [1, 2, 3, 4])
    network.tickAll(2)
    XCTAssertEqual(network.appliedData(4), ["before"])
    XCTAssertTrue(network.propose(1, "after"))
    XCTAssertEqual(network.appliedData(4), ["before", "after"])
    XCTAssertEqual(network[1].status().progress.keys.sorted(), [1, 2, 3, 4])
    // The new quorum is 3 of 4: two nodes down blocks commits.
    network.crash(3)
    network.crash(4)
    XCTAssertTrue(network.propose(1, "stuck"))
    XCTAssertEqual(network.appliedData(1).last, "after")
  }

  /// With `skipBroadcastCommit`, a membership change's commit is still announced at once: the
  /// removed follower learns of its removal only from it (the leader stops talking to it once
  /// the change is applied), and the others should not wait a heartbeat either.
  func testSkippingCommitBroadcastsStillAnnouncesMembershipChanges() throws {
    let network = TestNetwork(ids: [1, 2, 3]) { $0.skipBroadcastCommit = true }
    network.campaign(1)
    try proposeChange(network, on: 1, .removeNode, 3)
    for id: UInt64 in [1, 2, 3] {
      XCTAssertEqual(network.confStates[id]?.nodes, [1, 2], "node \(id) applied the removal without a heartbeat")
    }
    // An entry marked by the application (a split) is announced the same way; others are not.
    XCTAssertTrue(network.propose(1, "plain"))
    XCTAssertEqual(network.appliedData(2), [])
    try network[1].propose(data: Array("split".utf8))
    network[1].broadcastCommit(through: network[1].lastIndex)
    network.stabilize()
    XCTAssertEqual(network.appliedData(2), ["plain", "split"])
  }

  func testRemoveFollowerShrinksQuorum() throws {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    try proposeChange(network, on: 1, .removeNode, 3)
    XCTAssertEqual(network.confStates[1]?.nodes, [1, 2])
    network.crash(3)
    XCTAssertTrue(network.propose(1, "two-node"))
    XCTAssertEqual(network.appliedData(2), ["two-node"])
  }

  /// Removing a node lowers the quorum, which may commit pending entries.
  func testRemovalCommitsPendingEntries() throws {
    let network = TestNetwork(ids: [1, 2])
    network.campaign(1)
    try proposeChange(network, on: 1, .removeNode, 2)
    let leader = network[1]
    // Not applied yet: 1 cannot commit alone while 2 still counts... but 2 is down.
    network.crash(2)
    XCTAssertEqual(network.confStates[1]?.nodes, [1])
    XCTAssertTrue(network.propose(1, "alone"))
    XCTAssertEqual(leader.status().commit, leader.raft.raftLog.lastIndex())
  }

  func testRemoveLeader() throws {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    try proposeChange(network, on: 1, .removeNode, 1)
    XCTAssertEqual(network.confStates[1]?.nodes, [2, 3])
    XCTAssertNotEqual(network.role(1), .leader)
    network.tickAll(30)
    let newLeader = try XCTUnwrap(network.leader())
    XCTAssertTrue([2, 3].contains(newLeader))
    XCTAssertTrue(network.propose(newLeader, "new-era"))
    XCTAssertEqual(network.appliedData(2), ["new-era"])
    XCTAssertEqual(network.appliedData(3), ["new-era"])
    // The removed node never campaigns again.
    let termBefore = network.term(1)
    network.isolate(1)
    network.tickAll(50)
    XCTAssertEqual(network.role(1), .follower)
    XCTAssertEqual(network.term(1), termBefore)
  }

  /// Only one membership change may be pending; an extra one becomes a no-op entry.
  func testOnlyOnePendingConfChange() throws {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    let leader = network[1]
    try leader.proposeConfChange(Eraftpb.ConfChange(changeType: .addNode, nodeId: 4))
    try leader.proposeConfChange(Eraftpb.ConfChange(changeType: .addNode, nodeId: 5))
    let tail = Array(network.log(1).suffix(2))
    XCTAssertEqual(tail.map(\.entryType), [.entryConfChange, .entryNormal])
    XCTAssertEqual(tail[1].data, [])
    network.stabilize()
    XCTAssertEqual(network.confStates[1]?.nodes, [1, 2, 3, 4])
    // Once applied, the next change is accepted.
    try leader.proposeConfChange(Eraftpb.ConfChange(changeType: .removeNode, nodeId: 4))
    network.stabilize()
    XCTAssertEqual(network.confStates[1]?.nodes, [1, 2, 3])
  }

  /// A new leader must not accept a change while one may be in its unapplied tail.
  func testNewLeaderBlocksConfChangeUntilTailApplied() throws {
    let storages = [UInt64(1): storageWithTerms([1, 1, 1], peers: [1], term: 1)]
    let network = TestNetwork(ids: [1], storages: storages)
    network[1].campaign()
    XCTAssertEqual(network[1].raft.pendingConfIndex, 3)
    try network[1].proposeConfChange(Eraftpb.ConfChange(changeType: .addNode, nodeId: 4))
    XCTAssertEqual(network.log(1).last?.entryType, .entryNormal)
    network.stabilize()
    try network[1].proposeConfChange(Eraftpb.ConfChange(changeType: .addNode, nodeId: 4))
    XCTAssertEqual(network.log(1).last?.entryType, .entryConfChange)
  }

  func testConfChangeNeedsCodec() throws {
    let node = try RawNode(config: RaftConfig(id: 1, peers: [1]), storage: MemoryRaftStorage())
    XCTAssertThrowsError(try node.proposeConfChange(Eraftpb.ConfChange(nodeId: 2))) {
      XCTAssertEqual($0 as? RaftError, .confChangeCodecMissing)
    }
  }

  func testCodecRoundTrip() throws {
    let change = Eraftpb.ConfChange(changeType: .removeNode, nodeId: 0xDEAD_BEEF_0102, context: [7, 8])
    XCTAssertEqual(try TestConfChangeCodec().decode(TestConfChangeCodec().encode(change)), change)
  }
}
