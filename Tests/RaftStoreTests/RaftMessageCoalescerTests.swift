import XCTest
import TinyKVProto
@testable import RaftStore

final class RaftMessageCoalescerTests: XCTestCase {
    private let from = Metapb.Peer(id: 1, storeId: 1)
    private let to = Metapb.Peer(id: 2, storeId: 2)

    private func wrap(_ message: Eraftpb.Message, region: UInt64 = 7) -> (RaftServerpb.RaftMessage, Int) {
        (RaftServerpb.RaftMessage(regionId: region, fromPeer: from, toPeer: to, message: message), 0)
    }

    private func append(index: UInt64, logTerm: UInt64, entries: ClosedRange<UInt64>, commit: UInt64, term: UInt64 = 3) -> Eraftpb.Message {
        Eraftpb.Message(msgType: .msgAppend, to: 2, from: 1, term: term, logTerm: logTerm, index: index,
                        entries: entries.map { Eraftpb.Entry(term: term, index: $0, data: [UInt8($0)]) }, commit: commit)
    }

    func testContiguousAppendsMerge() {
        let merged = RaftMessageCoalescer.coalesce([
            wrap(append(index: 5, logTerm: 3, entries: 6...6, commit: 5)),
            wrap(append(index: 6, logTerm: 3, entries: 7...8, commit: 6)),
        ])
        XCTAssertEqual(merged.count, 1)
        let message = merged[0].0.message!
        XCTAssertEqual(message.index, 5)
        XCTAssertEqual(message.entries.map(\.index), [6, 7, 8])
        XCTAssertEqual(message.commit, 6)
    }

    func testNonContiguousOrOtherRegionsOrTermsStaySeparate() {
        XCTAssertEqual(RaftMessageCoalescer.coalesce([
            wrap(append(index: 5, logTerm: 3, entries: 6...6, commit: 5)),
            wrap(append(index: 9, logTerm: 3, entries: 10...10, commit: 5)),
        ]).count, 2)
        XCTAssertEqual(RaftMessageCoalescer.coalesce([
            wrap(append(index: 5, logTerm: 3, entries: 6...6, commit: 5)),
            wrap(append(index: 6, logTerm: 3, entries: 7...7, commit: 5), region: 8),
        ]).count, 2)
        XCTAssertEqual(RaftMessageCoalescer.coalesce([
            wrap(append(index: 5, logTerm: 3, entries: 6...6, commit: 5)),
            wrap(append(index: 6, logTerm: 3, entries: 7...7, commit: 5, term: 4)),
        ]).count, 2)
    }

    func testAcceptingResponsesKeepTheNewestAndRejectionsStay() {
        let ack = { (index: UInt64, reject: Bool) in
            Eraftpb.Message(msgType: .msgAppendResponse, to: 2, from: 1, term: 3, index: index, reject: reject)
        }
        let merged = RaftMessageCoalescer.coalesce([wrap(ack(6, false)), wrap(ack(8, false)), wrap(ack(9, true)), wrap(ack(10, false))])
        XCTAssertEqual(merged.map { $0.0.message!.index }, [8, 9, 10])
    }

    func testHeartbeatsAreNeverMerged() {
        let beat = Eraftpb.Message(msgType: .msgHeartbeat, to: 2, from: 1, term: 3, commit: 5)
        XCTAssertEqual(RaftMessageCoalescer.coalesce([wrap(beat), wrap(beat)]).count, 2)
    }
}
