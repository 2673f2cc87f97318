import TinyKVProto
import XCTest
@testable import Scheduler

final class ServerTests: SchedulerTestCase {
    func testGetMembersReportsItselfAsLeader() async throws {
        let server = try makeServer()
        let response = await server.getMembers(.init())
        XCTAssertEqual(response.header?.clusterId, server.clusterID)
        XCTAssertNotEqual(server.clusterID, 0)
        XCTAssertEqual(response.members.count, 1)
        XCTAssertEqual(response.leader?.name, "pd-test")
        XCTAssertEqual(response.leader?.clientUrls, ["http://127.0.0.1:2379"])
        XCTAssertEqual(response.leader, response.members.first)
    }

    func testBootstrapOnlyOnce() async throws {
        let server = try makeServer()
        expectEqual(await server.isBootstrapped(.init()).bootstrapped, false)
        expectEqual(await server.getRegion(.init(regionKey: key("a"))).header?.error?.type, .notBootstrapped)
        expectEqual(await server.putStore(.init(store: store(1))).header?.error?.type, .notBootstrapped)
        expectEqual(await server.bootstrap(.init()).header?.error?.type, .unknown, "a store is required")

        expectNil(await server.bootstrap(.init(header: header(server), store: store(1))).header?.error)
        expectEqual(await server.isBootstrapped(.init()).bootstrapped, true)
        expectEqual(await server.bootstrap(.init(header: header(server), store: store(2))).header?.error?.type, .alreadyBootstrapped)
        expectEqual(await server.getStore(.init(storeId: 1)).store, store(1))
        let config = await server.getClusterConfig(.init())
        XCTAssertEqual(config.cluster, Metapb.Cluster(id: server.clusterID, maxPeerCount: 3))
    }

    func testClusterIDValidation() async throws {
        let server = try makeServer()
        _ = await server.bootstrap(.init(store: store(1)))  // cluster id 0: accepted as "unknown yet"
        let wrong = Schedulerpb.RequestHeader(clusterId: server.clusterID &+ 1)
        for response in [
            await server.getStore(.init(header: wrong, storeId: 1)).header,
            await server.allocID(.init(header: wrong)).header,
            server.tsoResponse(for: .init(header: wrong, count: 1)).header,
        ] {
            XCTAssertEqual(response?.error?.type, .unknown)
            XCTAssertEqual(response?.clusterId, server.clusterID)
            XCTAssertTrue(response?.error?.message.contains("mismatch cluster id") ?? false)
        }
        expectNil(await server.getStore(.init(header: header(server), storeId: 1)).header?.error)
    }

    func testStoreCRUDAndTombstoneFiltering() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 2, clock: clock)
        expectNil(await server.putStore(.init(store: store(3, state: .tombstone))).header?.error)
        let all = await server.getAllStores(.init())
        XCTAssertEqual(all.stores.map(\.id), [1, 2, 3])
        expectEqual(await server.getAllStores(.init(excludeTombstoneStores: true)).stores.map(\.id), [1, 2])
        expectEqual(await server.putStore(.init(store: store(3))).header?.error?.type, .storeTombstone)
        expectEqual(await server.storeHeartbeat(.init(stats: .init(storeId: 3))).header?.error?.type, .storeTombstone)

        // Address update keeps the id; duplicate addresses are refused.
        var moved = store(2)
        moved.address = "10.0.0.2:20160"
        expectNil(await server.putStore(.init(store: moved)).header?.error)
        expectEqual(await server.getStore(.init(storeId: 2)).store?.address, "10.0.0.2:20160")
        var clash = store(4)
        clash.address = "10.0.0.2:20160"
        expectEqual(await server.putStore(.init(store: clash)).header?.error?.type, .unknown)

        expectNil(await server.storeHeartbeat(.init(stats: .init(storeId: 1, capacity: 100, available: 40, regionCount: 7))).header?.error)
        let one = await server.getStore(.init(storeId: 1))
        XCTAssertEqual(one.stats?.regionCount, 7)
        expectEqual(await server.getStore(.init(storeId: 99)).header?.error?.type, .unknown)
        expectEqual(await server.storeHeartbeat(.init(stats: .init(storeId: 99))).header?.error?.type, .unknown)
    }

    func testGCSafePointOnlyMovesForward() async throws {
        let server = try await makeCluster(stores: 1, clock: FakeClock())
        expectEqual(await server.getGCSafePoint(.init()).safePoint, 0)
        expectEqual(await server.updateGCSafePoint(.init(safePoint: 100)).newSafePoint, 100)
        expectEqual(await server.updateGCSafePoint(.init(safePoint: 50)).newSafePoint, 100)
        expectEqual(await server.getGCSafePoint(.init()).safePoint, 100)
        expectEqual(await server.updateGCSafePoint(.init(safePoint: 101)).newSafePoint, 101)
    }

    func testClusterConfig() async throws {
        let server = try await makeCluster(stores: 1, clock: FakeClock())
        expectNil(await server.putClusterConfig(.init(cluster: .init(maxPeerCount: 5))).header?.error)
        expectEqual(await server.getClusterConfig(.init()).cluster?.maxPeerCount, 5)
        expectEqual(await server.putClusterConfig(.init(cluster: .init(id: 12345, maxPeerCount: 1))).header?.error?.type, .unknown)
        expectEqual(await server.putClusterConfig(.init(cluster: .init(maxPeerCount: 0))).header?.error?.type, .unknown)
    }

    func testRegionQueriesAfterHeartbeats() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 3, clock: clock)
        let regions = [makeRegion(1, "", "g", stores: [1, 2, 3]), makeRegion(2, "g", "p", stores: [2, 3, 1]),
                       makeRegion(3, "p", "", stores: [3, 1, 2])]
        for r in regions { XCTAssertNil(server.processRegionHeartbeat(r, now: clock.now)) }

        let found = await server.getRegion(.init(regionKey: key("h")))
        XCTAssertEqual(found.region, regions[1].region)
        XCTAssertEqual(found.leader?.storeId, 2)
        expectEqual(await server.getRegion(.init(regionKey: [])).region?.id, 1)
        expectEqual(await server.getPrevRegion(.init(regionKey: key("h"))).region?.id, 1)
        expectNil(await server.getPrevRegion(.init(regionKey: key("a"))).region)
        expectEqual(await server.getRegionByID(.init(regionId: 3)).leader?.storeId, 3)
        expectNil(await server.getRegionByID(.init(regionId: 42)).region)

        let scan = await server.scanRegions(.init(startKey: key("h"), limit: 0))
        XCTAssertEqual(scan.regions.map(\.id), [2, 3])
        XCTAssertEqual(scan.leaders.map(\.storeId), [2, 3])
        expectEqual(await server.scanRegions(.init(startKey: [], limit: 2)).regions.map(\.id), [1, 2])
        expectEqual(await server.scanRegions(.init(startKey: [], limit: 0, endKey: key("g"))).regions.map(\.id), [1])
    }

    func testAskSplit() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 3, clock: clock)
        let region = makeRegion(1, "", "", stores: [1, 2, 3], version: 5)
        _ = server.processRegionHeartbeat(region, now: clock.now)
        let split = await server.askSplit(.init(region: region.region))
        XCTAssertNil(split.header?.error)
        XCTAssertEqual(split.newPeerIds.count, 3)
        XCTAssertEqual(Set(split.newPeerIds + [split.newRegionId]).count, 4)
        expectEqual(await server.askSplit(.init(region: makeRegion(7, "", "", stores: [1]).region)).header?.error?.type, .regionNotFound)
        expectEqual(await server.askSplit(.init(region: makeRegion(1, "", "", stores: [1, 2, 3], version: 4).region)).header?.error?.type, .unknown)
        expectEqual(await server.askSplit(.init()).header?.error?.type, .unknown)
    }

    func testStateSurvivesRestart() async throws {
        let clock = FakeClock()
        var server = try await makeCluster(stores: 3, clock: clock)
        let id = server.clusterID
        let region = makeRegion(1, "", "", stores: [1, 2, 3], leaderStore: 2)
        _ = server.processRegionHeartbeat(region, now: clock.now)
        _ = await server.updateGCSafePoint(.init(safePoint: 77))
        _ = await server.putClusterConfig(.init(cluster: .init(maxPeerCount: 5)))
        server.shutdown()
        XCTAssertFalse(server.isReady)
        expectEqual(await server.getStore(.init(storeId: 1)).header?.error?.type, .unknown, "closed server refuses")

        server = try makeServer(clock: clock)
        XCTAssertTrue(server.isReady)
        XCTAssertEqual(server.clusterID, id)
        expectEqual(await server.isBootstrapped(.init()).bootstrapped, true)
        expectEqual(await server.getAllStores(.init()).stores.map(\.id), [1, 2, 3])
        let found = await server.getRegion(.init(regionKey: key("x")))
        XCTAssertEqual(found.region, region.region)
        XCTAssertEqual(found.leader?.storeId, 2)
        expectEqual(await server.getGCSafePoint(.init()).safePoint, 77)
        expectEqual(await server.getClusterConfig(.init()).cluster?.maxPeerCount, 5)
        expectEqual(await server.bootstrap(.init(store: store(9))).header?.error?.type, .alreadyBootstrapped)
    }
}
