import Synchronization
import Testing
import TinyKVProto
@testable import KVClient

/// A scheduler that serves a scripted region table and counts lookups.
final class FakePD: PlacementDriver {
    struct State {
        var regions: [(region: Metapb.Region, leader: Metapb.Peer?)] = []
        var stores: [UInt64: String] = [:]
        var lookups = 0
    }
    let state = Mutex(State())

    func set(_ regions: [(Metapb.Region, Metapb.Peer?)]) {
        state.withLock { $0.regions = regions.map { ($0.0, $0.1) } }
    }

    func locate(_ key: [UInt8]) async throws -> (region: Metapb.Region, leader: Metapb.Peer?)? {
        state.withLock { s in
            s.lookups += 1
            return s.regions.first { r in
                !key.lexicographicallyPrecedes(r.region.startKey) && (r.region.endKey.isEmpty || key.lexicographicallyPrecedes(r.region.endKey))
            }
        }
    }

    func storeAddress(_ storeID: UInt64) async throws -> String? { state.withLock { $0.stores[storeID] } }

    func regions(from start: [UInt8], limit: Int) async throws -> [(region: Metapb.Region, leader: Metapb.Peer?)] {
        state.withLock { $0.regions }
    }
}

func region(_ id: UInt64, _ start: String, _ end: String, store: UInt64, version: UInt64 = 1) -> (Metapb.Region, Metapb.Peer?) {
    let peer = Metapb.Peer(id: id * 10 + store, storeId: store)
    return (Metapb.Region(id: id, startKey: Array(start.utf8), endKey: Array(end.utf8),
                          regionEpoch: Metapb.RegionEpoch(confVer: 1, version: version), peers: [peer]), peer)
}

@Suite struct RegionRouterTests {
    func makeRouter(_ pd: FakePD, fallback: String? = nil) -> RegionRouter {
        pd.state.withLock { $0.stores = [1: "s1:1", 2: "s2:2"] }
        return RegionRouter(pd: pd, fallbackStore: fallback, maxAttempts: 4, backoff: .milliseconds(1))
    }

    @Test func routesByRegionAndCaches() async throws {
        let pd = FakePD()
        pd.set([region(1, "", "m", store: 1), region(2, "m", "", store: 2)])
        let router = makeRouter(pd)
        #expect(try await router.route(for: Array("a".utf8)).address == "s1:1")
        #expect(try await router.route(for: Array("z".utf8)).address == "s2:2")
        #expect(try await router.route(for: Array("b".utf8)).context.regionId == 1)
        #expect(pd.state.withLock { $0.lookups } == 2)
    }

    @Test func fallsBackToTheStandaloneStore() async throws {
        let router = makeRouter(FakePD(), fallback: "solo:1")
        let route = try await router.route(for: [1])
        #expect(route.address == "solo:1" && route.region == nil && route.context == Kvrpcpb.Context())
        #expect(try await router.routes().map(\.address) == ["solo:1"])
        await #expect(throws: KVClientError.self) { try await makeRouter(FakePD()).route(for: [1]) }
    }

    @Test func retriesAfterEpochNotMatchWithAFreshRoute() async throws {
        let pd = FakePD()
        pd.set([region(1, "", "", store: 1)])
        let router = makeRouter(pd)
        let seen = Mutex<[UInt64]>([])
        let value: String = try await router.withRoute(key: [5]) { route in
            let version = route.region?.regionEpoch?.version ?? 0
            seen.withLock { $0.append(version) }
            if version == 1 {
                pd.set([region(1, "", "", store: 2, version: 2)])  // the region changed meanwhile
                return ("", Errorpb.Error(epochNotMatch: Errorpb.EpochNotMatch()))
            }
            return ("ok \(route.address)", nil)
        }
        #expect(value == "ok s2:2")
        #expect(seen.withLock { $0 } == [1, 2])
    }

    @Test func notLeaderHintIsUsedWithoutAskingTheScheduler() async throws {
        let pd = FakePD()
        pd.set([region(1, "", "", store: 1)])
        let router = makeRouter(pd)
        let addresses = Mutex<[String]>([])
        try await router.withRoute(key: [1]) { route in
            addresses.withLock { $0.append(route.address) }
            if route.address == "s1:1" {
                return ((), Errorpb.Error(notLeader: Errorpb.NotLeader(regionId: 1, leader: Metapb.Peer(id: 12, storeId: 2))))
            }
            return ((), nil)
        }
        #expect(addresses.withLock { $0 } == ["s1:1", "s2:2"])
        #expect(pd.state.withLock { $0.lookups } == 1)
    }

    @Test func givesUpAfterMaxAttempts() async {
        let pd = FakePD()
        pd.set([region(1, "", "", store: 1)])
        let router = makeRouter(pd)
        let calls = Mutex(0)
        await #expect(throws: KVClientError.self) {
            try await router.withRoute(key: [1]) { _ in
                calls.withLock { $0 += 1 }
                return ((), Errorpb.Error(message: "region 1 not found", regionNotFound: Errorpb.RegionNotFound(regionId: 1)))
            }
        }
        #expect(calls.withLock { $0 } == 4)
    }

    @Test func groupsKeysByRegionAndRegroupsAfterASplit() async throws {
        let pd = FakePD()
        pd.set([region(1, "", "", store: 1)])
        let router = makeRouter(pd)
        let keys = ["a", "n", "z"].map { Array($0.utf8) }
        let batches = Mutex<[[String]]>([])
        let sent = try await router.forEachGroup(keys: keys) { route, group in
            batches.withLock { $0.append(group.map { String(decoding: $0, as: UTF8.self) }) }
            if route.region?.id == 1 && route.endKey.isEmpty && group.count == 3 {
                pd.set([region(1, "", "m", store: 1, version: 2), region(2, "m", "", store: 2, version: 2)])
                return (0, Errorpb.Error(epochNotMatch: Errorpb.EpochNotMatch()))
            }
            return (group.count, nil)
        }
        #expect(sent.reduce(0, +) == 3)
        // The two regrouped batches go out concurrently, in either order.
        let seen = batches.withLock { $0 }
        #expect(seen.first == ["a", "n", "z"] && Set(seen.dropFirst()) == [["a"], ["n", "z"]] && seen.count == 3)
    }
}
