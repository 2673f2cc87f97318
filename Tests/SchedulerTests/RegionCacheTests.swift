import TinyKVProto
import XCTest
@testable import Scheduler

final class RegionCacheTests: XCTestCase {
    private func cacheWith(_ regions: [RegionInfo]) -> RegionCache {
        var cache = RegionCache()
        for r in regions { cache.upsert(r) }
        return cache
    }

    func testLookupByKeyAndID() {
        let cache = cacheWith([makeRegion(3, "m", "", stores: [1]), makeRegion(1, "", "c", stores: [1]),
                               makeRegion(2, "c", "m", stores: [1])])
        XCTAssertEqual(cache.count, 3)
        XCTAssertEqual(cache.region(containing: []).map(\.id), 1)
        XCTAssertEqual(cache.region(containing: key("bzzz")).map(\.id), 1)
        XCTAssertEqual(cache.region(containing: key("c")).map(\.id), 2)  // start key is inclusive
        XCTAssertEqual(cache.region(containing: key("lzz")).map(\.id), 2)
        XCTAssertEqual(cache.region(containing: key("m")).map(\.id), 3)  // end key exclusive
        XCTAssertEqual(cache.region(containing: [0xff, 0xff, 0xff]).map(\.id), 3)  // empty end = +infinity
        XCTAssertEqual(cache.region(id: 2)?.startKey, key("c"))
        XCTAssertNil(cache.region(id: 9))
    }

    func testHoleReturnsNil() {
        let cache = cacheWith([makeRegion(1, "a", "c", stores: [1]), makeRegion(2, "e", "g", stores: [1])])
        XCTAssertNil(cache.region(containing: key("0")))
        XCTAssertNil(cache.region(containing: key("d")))
        XCTAssertNil(cache.region(containing: key("g")))
        XCTAssertNil(cache.region(before: key("f")), "not adjacent: no previous region")
    }

    func testPrevRegion() {
        let cache = cacheWith([makeRegion(1, "", "c", stores: [1]), makeRegion(2, "c", "m", stores: [1]),
                               makeRegion(3, "m", "", stores: [1])])
        XCTAssertEqual(cache.region(before: key("n")).map(\.id), 2)
        XCTAssertEqual(cache.region(before: key("c")).map(\.id), 1)
        XCTAssertNil(cache.region(before: key("a")))
    }

    func testScan() {
        let cache = cacheWith((0..<10).map { (i: Int) -> RegionInfo in
            let start = i == 0 ? "" : "k\(i)"
            let end = i == 9 ? "" : "k\(i + 1)"
            return makeRegion(UInt64(i + 1), start, end, stores: [1])
        })
        XCTAssertEqual(cache.scan(from: [], to: [], limit: 0).map(\.id), Array(1...10))
        XCTAssertEqual(cache.scan(from: key("k3x"), to: [], limit: 3).map(\.id), [4, 5, 6])
        XCTAssertEqual(cache.scan(from: key("k3"), to: key("k5"), limit: 0).map(\.id), [4, 5])
        XCTAssertEqual(cache.scan(from: key("k3"), to: key("k5a"), limit: 0).map(\.id), [4, 5, 6])
        XCTAssertEqual(cache.scan(from: key("z"), to: [], limit: 0).map(\.id), [10])
    }

    func testOverlapReplacementAfterSplitAndMerge() {
        var cache = cacheWith([makeRegion(1, "", "", stores: [1])])
        // Region 1 splits into 1 [ , m) and 2 [m, ): the new region 2 arrives first.
        XCTAssertEqual(cache.upsert(makeRegion(2, "m", "", stores: [1], version: 2)), [1])
        XCTAssertNil(cache.region(containing: key("a")), "region 1 was overlapped and dropped")
        XCTAssertEqual(cache.upsert(makeRegion(1, "", "m", stores: [1], version: 2)), [])
        XCTAssertEqual(cache.scan(from: [], to: [], limit: 0).map(\.id), [1, 2])
        // Merge: region 1 absorbs 2.
        XCTAssertEqual(cache.upsert(makeRegion(1, "", "", stores: [1], version: 3)), [2])
        XCTAssertEqual(cache.count, 1)
        XCTAssertEqual(cache.region(containing: key("z")).map(\.id), 1)
    }

    func testRangeChangeOfSameRegionReindexes() {
        var cache = cacheWith([makeRegion(1, "a", "c", stores: [1])])
        cache.upsert(makeRegion(1, "b", "d", stores: [1], version: 2))
        XCTAssertNil(cache.region(containing: key("a")))
        XCTAssertEqual(cache.region(containing: key("c")).map(\.id), 1)
        cache.remove(id: 1)
        XCTAssertEqual(cache.count, 0)
        XCTAssertNil(cache.region(containing: key("c")))
    }

    func testStaleEpochRejected() {
        let cluster = BasicCluster()
        XCTAssertEqual(cluster.handleRegionHeartbeat(makeRegion(1, "", "", stores: [1], version: 2, confVer: 2)),
                       .accepted(persist: true, removed: []))
        // Same region, older version or conf_ver: stale.
        guard case .stale = cluster.handleRegionHeartbeat(makeRegion(1, "", "", stores: [1], version: 1, confVer: 2)) else {
            return XCTFail("older version must be stale")
        }
        guard case .stale = cluster.handleRegionHeartbeat(makeRegion(1, "", "", stores: [1], version: 2, confVer: 1)) else {
            return XCTFail("older conf_ver must be stale")
        }
        // Unchanged heartbeat: accepted, nothing to persist.
        XCTAssertEqual(cluster.handleRegionHeartbeat(makeRegion(1, "", "", stores: [1], version: 2, confVer: 2)),
                       .accepted(persist: false, removed: []))
        // A new region overlapping a newer one is stale (a pre-split leftover).
        guard case .stale = cluster.handleRegionHeartbeat(makeRegion(5, "a", "b", stores: [1], version: 1)) else {
            return XCTFail("overlapping older version must be stale")
        }
        XCTAssertEqual(cluster.region(containing: key("a"))?.id, 1)
        // A newer split half replaces it.
        XCTAssertEqual(cluster.handleRegionHeartbeat(makeRegion(5, "m", "", stores: [1], version: 3)),
                       .accepted(persist: true, removed: [1]))
    }

    func testVersionMovesOnlyWhenSomethingChanged() {
        var cache = cacheWith([makeRegion(1, "", "m", stores: [1, 2, 3]), makeRegion(2, "m", "", stores: [1, 2, 3])])
        let loaded = cache.version
        cache.upsert(makeRegion(1, "", "m", stores: [1, 2, 3]))
        XCTAssertEqual(cache.version, loaded, "a heartbeat repeating what is known changes nothing")
        cache.upsert(makeRegion(1, "", "m", stores: [1, 2, 3], leaderStore: 2))
        XCTAssertGreaterThan(cache.version, loaded, "a new leader is a change")
        let afterLeader = cache.version
        var sized = makeRegion(1, "", "m", stores: [1, 2, 3], leaderStore: 2)
        sized.approximateSize = 96 << 20
        cache.upsert(sized)
        XCTAssertGreaterThan(cache.version, afterLeader, "a new size is a change")
        let afterSize = cache.version
        cache.remove(id: 2)
        XCTAssertGreaterThan(cache.version, afterSize)
    }
}
