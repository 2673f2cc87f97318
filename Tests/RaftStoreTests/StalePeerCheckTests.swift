@testable import RaftStore
import TinyKVProto
import XCTest

/// The scheduler-backed check for removed peers in another's way (``StalePeerCheck``).
final class StalePeerCheckTests: XCTestCase {
    private func region(confVer: UInt64, peers: [UInt64]) -> Metapb.Region {
        Metapb.Region(id: 2, regionEpoch: Metapb.RegionEpoch(confVer: confVer, version: 1),
                      peers: peers.map { Metapb.Peer(id: $0, storeId: $0) })
    }

    func testPeerMissingFromANewerMembershipIsRemoved() {
        let local = Metapb.RegionEpoch(confVer: 3, version: 1)
        XCTAssertTrue(StalePeerCheck.isRemoved(peerID: 5, local: local, current: region(confVer: 4, peers: [1, 2, 3])))
    }

    func testPeerStillAMemberIsKept() {
        let local = Metapb.RegionEpoch(confVer: 3, version: 1)
        XCTAssertFalse(StalePeerCheck.isRemoved(peerID: 5, local: local, current: region(confVer: 6, peers: [1, 5, 3])))
    }

    /// The scheduler may lag behind the store (heartbeats are periodic): a membership that is
    /// not newer than ours says nothing about our peer.
    func testOlderOrEqualMembershipDecidesNothing() {
        let local = Metapb.RegionEpoch(confVer: 4, version: 1)
        XCTAssertFalse(StalePeerCheck.isRemoved(peerID: 5, local: local, current: region(confVer: 4, peers: [1, 2, 3])))
        XCTAssertFalse(StalePeerCheck.isRemoved(peerID: 5, local: local, current: region(confVer: 2, peers: [1, 2, 3])))
    }

    func testAsksAtMostOncePerIntervalPerRegion() {
        var check = StalePeerCheck(interval: 10)
        XCTAssertTrue(check.shouldAsk(about: 2, at: 100))
        XCTAssertFalse(check.shouldAsk(about: 2, at: 105))
        XCTAssertTrue(check.shouldAsk(about: 3, at: 105), "other regions are asked independently")
        XCTAssertFalse(check.shouldAsk(about: 2, at: 109))
        XCTAssertTrue(check.shouldAsk(about: 2, at: 110))
        check.prune(at: 130)
        XCTAssertTrue(check.shouldAsk(about: 3, at: 131), "pruned regions may be asked again")
    }
}
