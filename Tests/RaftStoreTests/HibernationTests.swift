import Foundation
import RaftStore
import Storage
import TinyKVProto
import XCTest

/// Idle regions hibernate (no ticks, no raft messages), wake on requests, and still fail
/// over when the leader's store dies: followers learn it from the store pings going silent.
final class HibernationTests: XCTestCase {
    private var cluster: TestCluster!

    override func tearDown() {
        cluster?.shutdown()
        cluster = nil
    }

    private func startThreeStoresWithRegions(hibernate: Bool = true) async throws {
        cluster = try TestCluster(name: "hibernate")
        cluster.config.hibernateRegions = hibernate
        for _ in 0..<3 { try await cluster.addStore() }
        try await cluster.waitUntil("3 replicas", timeout: .seconds(30)) {
            await cluster.leader()?.1.region.peers.count == 3
        }
        for at in ["g", "n", "t"] { try await cluster.split(at: at) }
        for k in ["a", "h", "o", "u"] { try await cluster.put(k, "v-\(k)") }
    }

    /// Waits until every peer on every store sleeps.
    private func waitAllAsleep() async throws {
        try await cluster.waitUntil("every peer asleep", timeout: .seconds(10)) {
            for node in cluster.nodes {
                let regions = await node.regions()
                if regions.count != 4 || regions.contains(where: { !$0.hibernating }) { return false }
            }
            return true
        }
    }

    private var regionMessages: Int { cluster.network.state.withLock { $0.regionMessages } }

    func testIdleRegionsSleepAndWakeOnRequests() async throws {
        try await startThreeStoresWithRegions()
        try await waitAllAsleep()
        // Asleep: no raft traffic at all for several election timeouts (only store pings).
        let before = regionMessages
        try await Task.sleep(for: cluster.config.baseTickInterval * cluster.config.electionTicks * 3)
        XCTAssertEqual(regionMessages, before, "sleeping regions exchanged raft messages")
        let leadersBefore = await leaders()
        // A write and a read wake their region and are served at once.
        let started = ContinuousClock.now
        try await cluster.put("h", "w", timeout: .seconds(2))
        let value = try await cluster.get("h", timeout: .seconds(2))
        XCTAssertEqual(value, "w")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1))
        let leadersAfter = await leaders()
        XCTAssertEqual(leadersAfter, leadersBefore, "waking must not cause elections")
        // And the region goes back to sleep.
        try await waitAllAsleep()
    }

    func testFollowersOfSleepingRegionsElectWhenTheLeaderStoreDies() async throws {
        try await startThreeStoresWithRegions()
        try await waitAllAsleep()
        guard let (leader, _) = await cluster.leader(forKey: Array("a".utf8)) else { return XCTFail("no leader") }
        let led = await leader.regions().filter(\.isLeader).map(\.region.id)
        XCTAssertFalse(led.isEmpty)
        cluster.stop(leader.storeID)
        // Every region led by the dead store gets a new leader among the survivors, and serves.
        try await cluster.waitUntil("new leaders for the dead store's regions", timeout: .seconds(15)) {
            for id in led { if await cluster.leader(regionID: id) == nil { return false } }
            return true
        }
        for k in ["a", "h", "o", "u"] {
            let value = try await cluster.get(k, timeout: .seconds(5))
            XCTAssertEqual(value, "v-\(k)")
            try await cluster.put(k, "after", timeout: .seconds(5))
        }
    }

    func testDisabledHibernationKeepsTicking() async throws {
        try await startThreeStoresWithRegions(hibernate: false)
        try await Task.sleep(for: cluster.config.baseTickInterval * cluster.config.electionTicks * 2)
        let before = regionMessages
        try await Task.sleep(for: cluster.config.baseTickInterval * cluster.config.electionTicks)
        XCTAssertGreaterThan(regionMessages, before, "heartbeats must flow without hibernation")
        for node in cluster.nodes { for region in await node.regions() { XCTAssertFalse(region.hibernating) } }
    }

    private func leaders() async -> [UInt64: UInt64] {
        var result: [UInt64: UInt64] = [:]
        for node in cluster.nodes { for region in await node.regions() where region.isLeader { result[region.region.id] = node.storeID } }
        return result
    }
}
