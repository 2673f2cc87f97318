import TinyKVProto
import XCTest
@testable import Raft

/// ReadIndex (Raft thesis §6.4): linearizable reads without log writes.
final class ReadIndexTests: XCTestCase {
  private let context = Array("read-1".utf8)

  func testLeaderServesReadIndexAfterHeartbeatRound() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    XCTAssertTrue(network.propose(1, "a"))
    network.sentLog = []
    network[1].readIndex(context: context)
    network.stabilize()
    XCTAssertEqual(network.readStates[1], [ReadState(index: network.committed(1), requestContext: context)])
    // Leadership was confirmed by heartbeats carrying the context; no log write.
    let heartbeats = network.sentLog.filter { $0.msgType == .msgHeartbeat }
    XCTAssertEqual(heartbeats.count, 2)
    XCTAssertEqual(heartbeats.first?.entries, [Eraftpb.Entry(data: context)])
    XCTAssertFalse(network.sentLog.contains { $0.msgType == .msgAppend })
  }

  func testFollowerReadIsForwardedToLeader() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    XCTAssertTrue(network.propose(1, "a"))
    network[3].readIndex(context: context)
    network.stabilize()
    XCTAssertEqual(network.readStates[3], [ReadState(index: network.committed(1), requestContext: context)])
    XCTAssertEqual(network.readStates[1] ?? [], [])
    XCTAssertTrue(network.sentLog.contains { $0.msgType == .msgReadIndex && $0.to == 1 })
    XCTAssertTrue(network.sentLog.contains { $0.msgType == .msgReadIndexResponse && $0.to == 3 })
  }

  func testSingleNodeReadIsImmediate() {
    let network = TestNetwork(ids: [1])
    network.campaign(1)
    network[1].readIndex(context: context)
    network.stabilize()
    XCTAssertEqual(network.readStates[1], [ReadState(index: 1, requestContext: context)])
  }

  /// An isolated old leader cannot confirm leadership, so it never serves a
  /// read — while the new leader of the majority does, at a newer index.
  func testIsolatedOldLeaderCannotServeRead() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    network.isolate(1)
    network[1].readIndex(context: context)
    network.tickAll(30)
    XCTAssertEqual(network.readStates[1] ?? [], [])
    let newLeader = try! XCTUnwrap(network.leader())
    XCTAssertNotEqual(newLeader, 1)
    XCTAssertTrue(network.propose(newLeader, "written-by-new-leader"))
    network[newLeader].readIndex(context: Array("read-2".utf8))
    network.stabilize()
    XCTAssertEqual(network.readStates[newLeader]?.first?.index, network.committed(newLeader))
    // After healing, the old leader steps down and its pending read is gone.
    network.heal()
    network.tickAll(5)
    XCTAssertEqual(network.role(1), .follower)
    XCTAssertEqual(network.readStates[1] ?? [], [])
  }

  /// A new leader postpones reads until it committed an entry of its term.
  func testReadPostponedUntilLeaderCommitsInItsTerm() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.droppedTypes = [.msgAppend]
    network.campaign(1)
    XCTAssertEqual(network.role(1), .leader)
    network[1].readIndex(context: context)
    network.stabilize()
    XCTAssertEqual(network.readStates[1] ?? [], [])
    network.droppedTypes = []
    network.tickAll(2)
    XCTAssertEqual(network.readStates[1], [ReadState(index: 1, requestContext: context)])
  }

  /// Several reads queued behind one heartbeat round are all answered.
  func testBatchedReads() {
    let network = TestNetwork(ids: [1, 2, 3])
    network.campaign(1)
    network.droppedTypes = [.msgHeartbeatResponse]
    for number in 0..<3 { network[1].readIndex(context: [UInt8(number)]) }
    network.stabilize()
    XCTAssertEqual(network.readStates[1] ?? [], [])
    network.droppedTypes = []
    network.tickAll(1)  // next heartbeat carries the newest context
    XCTAssertEqual(network.readStates[1]?.map(\.requestContext), [[0], [1], [2]])
  }

  func testReadWithoutLeaderIsDropped() {
    let network = TestNetwork(ids: [1, 2, 3])
    network[2].readIndex(context: context)
    network.stabilize()
    XCTAssertEqual(network.readStates[2] ?? [], [])
  }
}
