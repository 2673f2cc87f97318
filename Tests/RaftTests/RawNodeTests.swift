import TinyKVProto
import XCTest
@testable import Raft

/// The application-facing API: config validation, step errors, Ready/advance.
final class RawNodeTests: XCTestCase {
  func testConfigValidation() {
    func error(_ config: RaftConfig) -> RaftConfigError? {
      do { try config.validate() } catch { return error }
      return nil
    }
    XCTAssertEqual(error(RaftConfig(id: 0)), .invalidNodeId)
    XCTAssertEqual(error(RaftConfig(id: 1, heartbeatTick: 0)), .heartbeatTickMustBePositive)
    XCTAssertEqual(error(RaftConfig(id: 1, electionTick: 2, heartbeatTick: 2)), .electionTickMustExceedHeartbeatTick)
    XCTAssertEqual(error(RaftConfig(id: 1, maxInflightMsgs: 0)), .maxInflightMsgsMustBePositive)
    XCTAssertNil(error(RaftConfig(id: 1)))
    XCTAssertThrowsError(try RawNode(config: RaftConfig(id: 0), storage: MemoryRaftStorage())) {
      XCTAssertEqual($0 as? RaftConfigError, .invalidNodeId)
    }
    XCTAssertThrowsError(try RawNode(config: RaftConfig(id: 1, peers: [1, 2]), storage: MemoryRaftStorage(peers: [1, 2]))) {
      XCTAssertEqual($0 as? RaftConfigError, .peersConflictWithStoredConfState)
    }
  }

  func testStepRejectsLocalMessagesAndUnknownPeers() throws {
    let node = try RawNode(config: RaftConfig(id: 1, peers: [1, 2, 3]), storage: MemoryRaftStorage())
    XCTAssertThrowsError(try node.step(Eraftpb.Message(msgType: .msgHup, from: 2))) {
      XCTAssertEqual($0 as? RaftError, .stepLocalMessage)
    }
    XCTAssertThrowsError(try node.step(Eraftpb.Message(msgType: .msgBeat, from: 2))) {
      XCTAssertEqual($0 as? RaftError, .stepLocalMessage)
    }
    XCTAssertThrowsError(try node.step(Eraftpb.Message(msgType: .msgAppendResponse, from: 9, term: 1))) {
      XCTAssertEqual($0 as? RaftError, .stepPeerNotFound)
    }
    // Unknown message numbers are ignored, not fatal.
    XCTAssertNoThrow(try node.step(Eraftpb.Message(msgType: .unrecognized(77), from: 2, term: 0)))
  }

  /// Single node: one Ready carries the soft state, the hard state, the entry
  /// to persist and the same entry committed; advance clears everything.
  func testReadyAdvanceCycle() throws {
    let storage = MemoryRaftStorage(peers: [1])
    let node = try RawNode(config: RaftConfig(id: 1), storage: storage)
    XCTAssertFalse(node.hasReady())
    node.campaign()
    XCTAssertTrue(node.hasReady())
    let ready = node.ready()
    XCTAssertEqual(ready.softState, SoftState(leaderId: 1, role: .leader))
    XCTAssertEqual(ready.hardState, Eraftpb.HardState(term: 1, vote: 1, commit: 1))
    XCTAssertEqual(ready.entries, [Eraftpb.Entry(term: 1, index: 1)])
    XCTAssertEqual(ready.committedEntries, [Eraftpb.Entry(term: 1, index: 1)])
    XCTAssertTrue(ready.mustSync)
    try storage.append(ready.entries)
    storage.setHardState(ready.hardState!)
    node.advance(ready)
    XCTAssertFalse(node.hasReady())
    XCTAssertEqual(node.status().applied, 1)

    try node.propose(data: [7])
    let second = node.ready()
    XCTAssertNil(second.softState)
    XCTAssertEqual(second.hardState?.commit, 2)
    XCTAssertEqual(second.committedEntries.map(\.data), [[7]])
    try storage.append(second.entries)
    node.advance(second)
    XCTAssertFalse(node.hasReady())
  }

  func testStatus() throws {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    let status = network[1].status()
    XCTAssertEqual(status.id, 1)
    XCTAssertEqual(status.role, .leader)
    XCTAssertEqual(status.leaderId, 1)
    XCTAssertEqual(status.term, 1)
    XCTAssertEqual(status.commit, 1)
    XCTAssertEqual(status.applied, 1)
    XCTAssertEqual(status.progress.keys.sorted(), [1, 2, 3])
    XCTAssertEqual(status.progress[2]?.match, 1)
    XCTAssertTrue(network[2].status().progress.isEmpty)
  }

  /// A follower's messages only leave after its entries are in the Ready to persist.
  func testFollowerAckComesWithEntriesToPersist() throws {
    let node = try RawNode(config: RaftConfig(id: 2), storage: MemoryRaftStorage(peers: [1, 2, 3]))
    try node.step(Eraftpb.Message(msgType: .msgAppend, to: 2, from: 1, term: 1, logTerm: 0, index: 0,
                                  entries: [Eraftpb.Entry(term: 1, index: 1)], commit: 0))
    let ready = node.ready()
    XCTAssertEqual(ready.entries.map(\.index), [1])
    XCTAssertEqual(ready.messages.map(\.index), [1])
    XCTAssertEqual(ready.hardState, Eraftpb.HardState(term: 1, vote: 0, commit: 0))
  }
}

/// Exact message traces for the basic flows (etcd-style trace tests).
final class MessageTraceTests: XCTestCase {
  private func trace(_ messages: [Eraftpb.Message]) -> [String] {
    messages.map { "\($0.from)->\($0.to) \($0.msgType) t\($0.term) i\($0.index) lt\($0.logTerm) c\($0.commit) n\($0.entries.count)\($0.reject ? " rej" : "")" }
  }

  func testElectionAndFirstReplicationTrace() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    XCTAssertEqual(trace(network.sentLog), [
      "1->2 MsgRequestVote t1 i0 lt0 c0 n0",
      "1->3 MsgRequestVote t1 i0 lt0 c0 n0",
      "2->1 MsgRequestVoteResponse t1 i0 lt0 c0 n0",
      "3->1 MsgRequestVoteResponse t1 i0 lt0 c0 n0",
      "1->2 MsgAppend t1 i0 lt0 c0 n1",
      "1->3 MsgAppend t1 i0 lt0 c0 n1",
      "2->1 MsgAppendResponse t1 i1 lt0 c0 n0",
      "3->1 MsgAppendResponse t1 i1 lt0 c0 n0",
      "1->2 MsgAppend t1 i1 lt1 c1 n0",
      "1->3 MsgAppend t1 i1 lt1 c1 n0",
      "2->1 MsgAppendResponse t1 i1 lt0 c0 n0",
      "3->1 MsgAppendResponse t1 i1 lt0 c0 n0",
    ])
  }

  func testPreVoteTrace() {
    let network = TestNetwork(ids: [1, 2]) { $0.preVote = true }
    network[1].campaign()
    network.processReady(1)
    network.processReady(2)
    XCTAssertEqual(trace(network.sentLog), ["1->2 MessageType(101) t1 i0 lt0 c0 n0"])
    XCTAssertEqual(network.term(1), 0, "a pre-candidate keeps its term")
    network.stabilize()
    XCTAssertEqual(trace(Array(network.sentLog[1...2])), [
      "2->1 MessageType(102) t1 i0 lt0 c0 n0",
      "1->2 MsgRequestVote t1 i0 lt0 c0 n0",
    ])
  }
}
