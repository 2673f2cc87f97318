import Foundation
import RaftStore
import Storage
import TinyKVProto
import XCTest

/// Scenarios on an in-process cluster (real engines, real scheduler, simulated network).
final class ClusterTests: XCTestCase {
    private var cluster: TestCluster!

    override func tearDown() {
        cluster?.shutdown()
        cluster = nil
    }

    /// Starts `count` stores and waits until the first region has a replica on each.
    private func startCluster(_ count: Int, name: String = #function, configure: (inout RaftStoreConfig) -> Void = { _ in }) async throws {
        cluster = try TestCluster(name: String(name.prefix(20)))
        configure(&cluster.config)
        for _ in 0..<count { try await cluster.addStore() }
        try await cluster.waitUntil("\(count) replicas", timeout: .seconds(20)) {
            guard let (_, status) = await cluster.leader() else { return false }
            guard status.region.peers.count == count else { return false }
            // Every store has an initialized replica.
            for node in cluster.nodes {
                guard let region = await node.regions().first, !region.region.peers.isEmpty else { return false }
            }
            return true
        }
    }

    func testSingleStorePutGet() async throws {
        cluster = try TestCluster(name: "single")
        try await cluster.addStore()
        try await cluster.put("k1", "v1")
        let value = try await cluster.get("k1")
        XCTAssertEqual(value, "v1")
        let missing = try await cluster.get("nope")
        XCTAssertNil(missing)
    }

    func testThreeReplicasReplicateAndServe() async throws {
        try await startCluster(3)
        for i in 0..<20 { try await cluster.put("key\(i)", "value\(i)") }
        for i in 0..<20 {
            let value = try await cluster.get("key\(i)")
            XCTAssertEqual(value, "value\(i)")
        }
        // Followers applied everything too.
        let leaderApplied = await cluster.leader()!.1.appliedIndex
        try await cluster.waitUntil("followers applied") {
            for node in cluster.nodes { if await node.regions().first?.appliedIndex ?? 0 < leaderApplied { return false } }
            return true
        }
    }

    func testFollowerRejectsWithLeaderHint() async throws {
        try await startCluster(3)
        try await cluster.put("a", "1")
        let (_, leaderStatus) = await cluster.leader()!
        let follower = await firstFollower()
        var batch = WriteBatch()
        batch.put(.default, Array("b".utf8), Array("2".utf8))
        let status = await follower.regions().first!
        let context = Kvrpcpb.Context(regionId: status.region.id, regionEpoch: status.region.regionEpoch)
        do {
            try await follower.storage.write(context, batch)
            XCTFail("follower accepted a write")
        } catch let error as RegionError {
            XCTAssertEqual(error.error.notLeader?.leader?.id, leaderStatus.peerID)
        }
        do {
            _ = try await follower.storage.reader(Kvrpcpb.Context(regionId: 999))
            XCTFail("unknown region accepted")
        } catch let error as RegionError {
            XCTAssertEqual(error.error.regionNotFound?.regionId, 999)
        }
        // Stale epoch.
        let (leader, _) = await cluster.leader()!
        var stale = leaderStatus.region.regionEpoch!
        stale.version += 1
        do {
            try await leader.storage.write(Kvrpcpb.Context(regionId: leaderStatus.region.id, regionEpoch: stale), batch)
            XCTFail("stale epoch accepted")
        } catch let error as RegionError {
            XCTAssertNotNil(error.error.epochNotMatch)
        }
    }

    func testLeaderIsolationElectsNewLeaderAndWritesResume() async throws {
        try await startCluster(3)
        try await cluster.put("before", "1")
        let (oldLeader, _) = await cluster.leader()!
        cluster.network.isolate(oldLeader.storeID)
        try await cluster.waitUntil("a new leader") {
            for node in cluster.nodes where node.storeID != oldLeader.storeID {
                if await node.regions().first?.isLeader == true { return true }
            }
            return false
        }
        // Writes through the majority side.
        try await withMajorityLeader(excluding: oldLeader.storeID) { node, context in
            var batch = WriteBatch()
            batch.put(.default, Array("after".utf8), Array("2".utf8))
            try await node.storage.write(context, batch)
        }
        cluster.network.heal()
        let after = try await cluster.get("after")
        XCTAssertEqual(after, "2")
        let before = try await cluster.get("before")
        XCTAssertEqual(before, "1")
    }

    func testRestartKeepsData() async throws {
        try await startCluster(3)
        for i in 0..<10 { try await cluster.put("p\(i)", "v\(i)") }
        // Restart every store.
        for id in cluster.order { cluster.stop(id) }
        for id in cluster.order { try await cluster.restart(id) }
        for i in 0..<10 {
            let value = try await cluster.get("p\(i)")
            XCTAssertEqual(value, "v\(i)")
        }
        try await cluster.put("new", "x")
        let value = try await cluster.get("new")
        XCTAssertEqual(value, "x")
    }

    func testSnapshotCatchUpAfterLogCompaction() async throws {
        try await startCluster(3) { $0.logGCCountLimit = 10 }
        let (leader, _) = await cluster.leader()!
        let lagging = cluster.order.first { $0 != leader.storeID }!
        cluster.stop(lagging)
        for i in 0..<60 { try await cluster.put("s\(i)", "v\(i)") }
        // The leader compacted its log past what the stopped store has.
        try await cluster.waitUntil("log compaction") {
            guard let (_, status) = await cluster.leader() else { return false }
            return status.firstIndex > 20
        }
        try await cluster.restart(lagging)
        let leaderApplied = await cluster.leader()!.1.appliedIndex
        try await cluster.waitUntil("lagging store caught up by snapshot") {
            guard let status = await cluster.node(lagging)?.regions().first else { return false }
            return status.appliedIndex >= leaderApplied
        }
        // The data arrived: make the restarted store the only way to reach a quorum with one other.
        let other = cluster.order.first { $0 != leader.storeID && $0 != lagging }!
        cluster.stop(other)
        let value = try await cluster.get("s59")
        XCTAssertEqual(value, "v59")
        // Read directly from the caught-up store's engine through a leader-confirmed read on it, if it leads.
        try await cluster.put("after-snapshot", "ok")
    }

    func testLogGCTruncatesRaftLog() async throws {
        cluster = try TestCluster(name: "gc")
        cluster.config.logGCCountLimit = 10
        try await cluster.addStore()
        for i in 0..<40 { try await cluster.put("g\(i)", "v") }
        try await cluster.waitUntil("truncation") {
            guard let (_, status) = await cluster.leader() else { return false }
            return status.firstIndex > 20
        }
    }

    /// A few big entries trigger log GC by size long before the count limit.
    func testLogGCTruncatesByLogSize() async throws {
        cluster = try TestCluster(name: "gc-size")
        cluster.config.logGCSizeLimit = 64 << 10
        try await cluster.addStore()
        let big = String(repeating: "x", count: 8 << 10)
        for i in 0..<20 { try await cluster.put("b\(i)", big) }
        try await cluster.waitUntil("truncation by size") {
            guard let (_, status) = await cluster.leader() else { return false }
            return status.firstIndex > 10
        }
        let value = try await cluster.get("b19")
        XCTAssertEqual(value, big)
    }

    private func firstFollower() async -> RaftStoreNode {
        for node in cluster.nodes { if await node.regions().first?.isLeader == false { return node } }
        fatalError("no follower")
    }

    private func withMajorityLeader(excluding: UInt64, _ body: (RaftStoreNode, Kvrpcpb.Context) async throws -> Void) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            for node in cluster.nodes where node.storeID != excluding {
                guard let status = await node.regions().first, status.isLeader else { continue }
                do {
                    try await body(node, Kvrpcpb.Context(regionId: status.region.id, regionEpoch: status.region.regionEpoch))
                    return
                } catch is RegionError {}
            }
            try await Task.sleep(for: .milliseconds(30))
        }
        XCTFail("no write on the majority side")
    }
}
