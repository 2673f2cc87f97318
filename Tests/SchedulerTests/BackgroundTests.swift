import TinyKVProto
import XCTest
@testable import Scheduler

final class BackgroundTests: SchedulerTestCase {
    /// The real loop, on the wall clock: an under-replicated region gets an add-peer
    /// command on its leader's heartbeat stream without any heartbeat prompting it.
    func testRunLoopPushesOperatorsToTheStream() async throws {
        let server = try makeServer { $0.patrolIntervalMillis = 10; $0.balanceLeaderIntervalMillis = 20; $0.balanceRegionIntervalMillis = 20 }
        _ = await server.bootstrap(.init(store: store(1)))
        for id: UInt64 in 1...3 { _ = await server.putStore(.init(store: store(id))) }
        let (requests, input) = AsyncStream<Schedulerpb.RegionHeartbeatRequest>.makeStream()
        let received = Collector<Schedulerpb.RegionHeartbeatResponse>()
        let streamTask = Task { try await server.regionHeartbeat(requests: requests) { received.append($0) } }
        let loop = Task { await server.run() }
        input.yield(makeRegion(1, "", "", stores: [1, 2]).heartbeat)
        for _ in 0..<400 where received.all.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertEqual(received.all.first?.changePeer?.peer?.storeId, 3)
        loop.cancel()
        await loop.value
        input.finish()
        try await streamTask.value
    }

    func testHeartbeatBeforeBootstrapGetsErrorHeader() async throws {
        let server = try makeServer()
        let (requests, input) = AsyncStream<Schedulerpb.RegionHeartbeatRequest>.makeStream()
        let received = Collector<Schedulerpb.RegionHeartbeatResponse>()
        input.yield(makeRegion(1, "", "", stores: [1]).heartbeat)
        input.finish()
        try await server.regionHeartbeat(requests: requests) { received.append($0) }
        XCTAssertEqual(received.all.map { $0.header?.error?.type }, [.notBootstrapped])
    }

    func testScatterRegionMovesAReplicaToAnEmptyStore() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 4, clock: clock)
        var sim = SimulatedCluster()
        sim.regions[1] = makeRegion(1, "", "m", stores: [1, 2, 3])
        sim.regions[2] = makeRegion(2, "m", "", stores: [1, 2, 3])
        sim.report(to: server, now: clock.now)
        expectNil(await server.scatterRegion(.init(regionId: 1)).header?.error)
        expectEqual(await server.getOperator(.init(regionId: 1)).status, .running)
        sim.executeOperators(on: server, now: clock.now)
        XCTAssertTrue(sim.regions[1]!.hasPeer(onStore: 4))
        XCTAssertEqual(sim.regions[1]!.peers.count, 3)
        expectEqual(await server.scatterRegion(.init(regionId: 9)).header?.error?.type, .regionNotFound)
    }

    func testIdleTSOWindowIsExtendedInTheBackground() throws {
        let clock = FakeClock()
        let saved = Collector<UInt64>()
        let tso = TSOAllocator(savedBound: 0, window: 3_000, clock: clock.clock) { saved.append($0) }
        _ = try tso.next(count: 1)
        XCTAssertEqual(saved.all, [clock.now + 3_000])
        clock.advance(2_000)
        tso.extendIfNeeded()
        XCTAssertEqual(saved.all.last, clock.now + 3_000)
        let count = saved.all.count
        _ = try tso.next(count: 1)  // window is fresh: no save on the hot path
        XCTAssertEqual(saved.all.count, count)
    }
}
