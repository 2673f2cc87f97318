import TinyKVProto
import XCTest
@testable import Raft

/// Log compaction and InstallSnapshot (Raft §7).
final class SnapshotTests: XCTestCase {
  /// A follower behind the leader's compacted log receives a snapshot.
  func testLaggingFollowerInstallsSnapshotAfterCompaction() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    network.crash(3)
    for value in 0..<20 { XCTAssertTrue(network.propose(1, "v\(value)")) }
    network.compact(1)
    network.compact(2)
    XCTAssertGreaterThan(try network.storages[1]!.firstIndex(), 2)
    network.restart(3)
    network.tickAll(3)
    XCTAssertTrue(network.sentLog.contains { $0.msgType == .msgSnapshot && $0.to == 3 })
    XCTAssertEqual(network.appliedData(3), network.appliedData(1))
    XCTAssertEqual(network.log(3).last, network.log(1).last)
    // And replication continues normally afterwards.
    XCTAssertTrue(network.propose(1, "after"))
    XCTAssertEqual(network.appliedData(3).last, "after")
    XCTAssertEqual(network[1].status().progress[3]?.state, .replicate)
  }

  /// A node restarted from a compacted storage resumes from its snapshot.
  func testRestartFromCompactedStorage() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    for value in 0..<10 { XCTAssertTrue(network.propose(1, "v\(value)")) }
    network.compact(2)
    network.crash(2)
    network.restart(2)
    network.tickAll(2)
    XCTAssertEqual(network.appliedData(2), network.appliedData(1))
    XCTAssertEqual(network[2].status().leaderId, 1)
  }

  /// While a snapshot is in flight the leader waits for the transport's
  /// report; a failure report makes it probe and retry.
  func testReportSnapshotFailureRetries() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    network.crash(3)
    for value in 0..<5 { XCTAssertTrue(network.propose(1, "v\(value)")) }
    network.compact(1)
    network.restart(3)
    // Hold the snapshot "in the transport": neither delivered nor dropped.
    network.heldTypes = [.msgSnapshot]
    network.tickAll(3)
    XCTAssertEqual(network.held.count, 1, "no second snapshot while one is pending")
    network.heldTypes = []
    XCTAssertEqual(network[1].status().progress[3]?.state, .snapshot)
    network[1].reportSnapshot(3, success: false)
    XCTAssertEqual(network[1].status().progress[3]?.state, .probe)
    network.tickAll(3)
    XCTAssertEqual(network.appliedData(3), network.appliedData(1))
    XCTAssertEqual(network[1].status().progress[3]?.state, .replicate)
  }

  /// A stale snapshot (covering only what is already committed) is ignored.
  func testOldSnapshotIsIgnored() throws {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    for value in 0..<3 { XCTAssertTrue(network.propose(1, "v\(value)")) }
    let follower = network[2]
    let committed = follower.status().commit
    let snapshot = Eraftpb.Snapshot(metadata: Eraftpb.SnapshotMetadata(confState: Eraftpb.ConfState(nodes: [1, 2, 3]), index: 2, term: 1))
    try follower.step(Eraftpb.Message(msgType: .msgSnapshot, to: 2, from: 1, term: 1, snapshot: snapshot))
    let ready = follower.ready()
    XCTAssertNil(ready.snapshot)
    XCTAssertEqual(ready.messages.first?.index, committed)
  }

  /// A snapshot whose last entry we already hold just fast-forwards commit.
  func testSnapshotMatchingOurLogOnlyAdvancesCommit() throws {
    let storage = storageWithTerms([1, 1, 1], peers: [1, 2], term: 1)
    let node = try RawNode(config: RaftConfig(id: 2), storage: storage)
    let snapshot = Eraftpb.Snapshot(metadata: Eraftpb.SnapshotMetadata(confState: Eraftpb.ConfState(nodes: [1, 2]), index: 2, term: 1))
    try node.step(Eraftpb.Message(msgType: .msgSnapshot, to: 2, from: 1, term: 1, snapshot: snapshot))
    XCTAssertEqual(node.status().commit, 2)
    XCTAssertNil(node.ready().snapshot)
  }

  /// Restoring a snapshot replaces log and membership.
  func testRestoreSnapshotReplacesMembership() throws {
    let node = try RawNode(config: RaftConfig(id: 2), storage: MemoryRaftStorage(peers: [1, 2]))
    let snapshot = Eraftpb.Snapshot(data: [9], metadata: Eraftpb.SnapshotMetadata(confState: Eraftpb.ConfState(nodes: [1, 2, 3]), index: 11, term: 11))
    try node.step(Eraftpb.Message(msgType: .msgSnapshot, to: 2, from: 1, term: 11, snapshot: snapshot))
    let ready = node.ready()
    XCTAssertEqual(ready.snapshot, snapshot)
    XCTAssertEqual(ready.hardState?.commit, 11)
    XCTAssertEqual(ready.messages.first?.index, 11)
    XCTAssertEqual(node.raft.progress.keys.sorted(), [1, 2, 3])
    node.advance(ready)
    XCTAssertEqual(node.status().applied, 11)
    XCTAssertFalse(node.hasReady())
  }

  func testUnreachableFollowerFallsBackToProbe() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    XCTAssertTrue(network.propose(1, "a"))
    XCTAssertEqual(network[1].status().progress[2]?.state, .replicate)
    network[1].reportUnreachable(2)
    XCTAssertEqual(network[1].status().progress[2]?.state, .probe)
  }
}
