import Storage
import Synchronization
import Testing
import TinyKVProto
@testable import KVClient

/// Transactional keys route by their memcomparable encoding, raw keys as they are.
@Suite struct KeySpaceRoutingTests {
    private func encodedRegions() -> [(Metapb.Region, Metapb.Peer?)] {
        let split = MemComparable.encode(Array("m".utf8))
        let left = Metapb.Region(id: 1, startKey: [], endKey: split, regionEpoch: Metapb.RegionEpoch(confVer: 1, version: 2),
                                 peers: [Metapb.Peer(id: 11, storeId: 1)])
        let right = Metapb.Region(id: 2, startKey: split, endKey: [], regionEpoch: Metapb.RegionEpoch(confVer: 1, version: 2),
                                  peers: [Metapb.Peer(id: 22, storeId: 2)])
        return [(left, left.peers[0]), (right, right.peers[0])]
    }

    private func makeRouter(_ pd: FakePD) -> RegionRouter {
        pd.state.withLock { $0.stores = [1: "s1:1", 2: "s2:2"] }
        return RegionRouter(pd: pd, fallbackStore: nil, maxAttempts: 3, backoff: .milliseconds(1))
    }

    @Test func transactionalKeysGroupByEncodingRawKeysAsTheyAre() async throws {
        let pd = FakePD()
        pd.set(encodedRegions())
        let router = makeRouter(pd)
        let keys = ["a", "m", "z"].map { Array($0.utf8) }
        let txnGroups = Mutex<[UInt64: [String]]>([:])
        _ = try await router.forEachGroup(keys: keys, in: .transactional) { route, group in
            txnGroups.withLock { $0[route.region!.id] = group.map { String(decoding: $0, as: UTF8.self) } }
            return (0, nil)
        }
        // EncodeBytes("m") is the boundary itself: the right region.
        #expect(txnGroups.withLock { $0 } == [1: ["a"], 2: ["m", "z"]])
        let rawGroups = Mutex<[UInt64: [String]]>([:])
        _ = try await router.forEachGroup(keys: keys, in: .raw) { route, group in
            rawGroups.withLock { $0[route.region!.id] = group.map { String(decoding: $0, as: UTF8.self) } }
            return (0, nil)
        }
        // The raw key "m" sorts before EncodeBytes("m"): the left region.
        #expect(rawGroups.withLock { $0 } == [1: ["a", "m"], 2: ["z"]])
        let txnRoute: UInt64 = try await router.withRoute(key: Array("m".utf8), in: .transactional) { route in (route.region!.id, nil) }
        #expect(txnRoute == 2)
    }

    @Test func scanPagingContinuesAtTheDecodedRegionEnd() {
        let end = MemComparable.encode(Array("m".utf8))
        // A partial page: the region is exhausted, continue at the next region's first user key.
        #expect(ScanPaging.next(after: [Array("a".utf8)], page: 10, regionEnd: end, in: .transactional) == Array("m".utf8))
        #expect(ScanPaging.next(after: [Array("a".utf8)], page: 10, regionEnd: end, in: .raw) == end)
        // A full page inside the region: continue after its last key.
        #expect(ScanPaging.next(after: [Array("a".utf8)], page: 1, regionEnd: end, in: .transactional) == Array("a".utf8) + [0])
        // A bound that is not an encoded key: the smallest user key whose encoding reaches it.
        let raw = Array("k00005".utf8)
        let next = ScanPaging.next(after: [], page: 10, regionEnd: raw, in: .transactional)
        #expect(next == MemComparable.smallestKey(encodedAtLeast: raw))
        #expect(!MemComparable.encode(next!).lexicographicallyPrecedes(raw))
        #expect(ScanPaging.next(after: [], page: 10, regionEnd: [], in: .transactional) == nil)
    }
}
