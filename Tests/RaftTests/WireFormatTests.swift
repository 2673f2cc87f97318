import TinyKVProto
import XCTest
@testable import Raft

/// The eraftpb mirror and the decoder-safe extensions carried on it.
final class WireFormatTests: XCTestCase {
  func testEnumRawValuesRoundTripIncludingUnknown() {
    let known: [(Eraftpb.MessageType, Int32)] = [
      (.msgHup, 0), (.msgBeat, 1), (.msgPropose, 2), (.msgAppend, 3), (.msgAppendResponse, 4),
      (.msgRequestVote, 5), (.msgRequestVoteResponse, 6), (.msgSnapshot, 7), (.msgHeartbeat, 8),
      (.msgHeartbeatResponse, 9), (.msgTransferLeader, 11), (.msgTimeoutNow, 12),
    ]
    for (type, raw) in known {
      XCTAssertEqual(type.rawValue, raw)
      XCTAssertEqual(Eraftpb.MessageType(rawValue: raw), type)
    }
    XCTAssertEqual(Eraftpb.MessageType(rawValue: 10), .unrecognized(10))
    XCTAssertEqual(Eraftpb.MessageType(rawValue: 10).rawValue, 10)
    XCTAssertEqual(Eraftpb.EntryType(rawValue: 1), .entryConfChange)
    XCTAssertEqual(Eraftpb.EntryType(rawValue: 7).rawValue, 7)
    XCTAssertEqual(Eraftpb.ConfChangeType(rawValue: 1), .removeNode)
    XCTAssertEqual(Eraftpb.ConfChangeType(rawValue: 5), .unrecognized(5))
  }

  func testExtensionMessageTypesSurviveDecoding() {
    let extensions: [(Eraftpb.MessageType, Int32)] = [
      (.msgRequestPreVote, 101), (.msgRequestPreVoteResponse, 102), (.msgReadIndex, 103), (.msgReadIndexResponse, 104),
    ]
    for (type, raw) in extensions {
      XCTAssertEqual(type.rawValue, raw)
      // What a proto3 decoder produces for the unknown number is the same constant.
      XCTAssertEqual(Eraftpb.MessageType(rawValue: raw), type)
    }
  }

  func testContextTravelsAsSingleEntry() {
    var message = Eraftpb.Message(msgType: .msgHeartbeat)
    XCTAssertNil(message.context)
    message.context = []
    XCTAssertEqual(message.entries, [Eraftpb.Entry()])
    XCTAssertEqual(message.context, [])
    message.context = [1, 2]
    XCTAssertEqual(message.entries, [Eraftpb.Entry(data: [1, 2])])
    message.context = nil
    XCTAssertTrue(message.entries.isEmpty)
  }

  func testDefaultsMatchProto3() {
    let message = Eraftpb.Message()
    XCTAssertEqual(message.msgType, .msgHup)
    XCTAssertNil(message.snapshot)
    XCTAssertFalse(message.reject)
    XCTAssertNil(Eraftpb.SnapshotMetadata().confState)
    XCTAssertEqual(Eraftpb.Entry().entryType, .entryNormal)
  }

  /// Append rejections carry the hint in `commit` and its term in `logTerm`.
  func testAppendRejectionHintEncoding() throws {
    let node = try RawNode(config: RaftConfig(id: 2), storage: storageWithTerms([1, 1, 2, 2], peers: [1, 2, 3], term: 3))
    try node.step(Eraftpb.Message(msgType: .msgAppend, to: 2, from: 1, term: 3, logTerm: 3, index: 6, commit: 0))
    let response = try XCTUnwrap(node.ready().messages.first)
    XCTAssertTrue(response.reject)
    XCTAssertEqual(response.index, 6)
    XCTAssertEqual(response.commit, 4)
    XCTAssertEqual(response.logTerm, 2)
  }
}
