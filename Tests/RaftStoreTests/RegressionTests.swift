import Foundation
@testable import RaftStore
import Storage
import TinyKVProto
import XCTest

/// Bugs the scenarios found, each pinned down on its own.
final class RegressionTests: XCTestCase {
    private var cluster: TestCluster?

    override func tearDown() {
        cluster?.shutdown()
        cluster = nil
    }

    /// A leader cut off with a write in flight, whose log the majority then compacts past:
    /// it catches up by snapshot, and its write must be answered (stale), even if no other
    /// write ever comes. It used to wait for the next committed entry, forever on an idle region.
    func testProposalOfIsolatedLeaderIsAnsweredAfterSnapshot() async throws {
        let cluster = try TestCluster(name: "stale-after-snap")
        self.cluster = cluster
        cluster.config.logGCCountLimit = 10
        try await cluster.startThreeReplicas()
        try await cluster.put("a", "1")
        guard let (oldLeader, status) = await cluster.leader() else { return XCTFail("no leader") }
        cluster.network.isolate(oldLeader.storeID)
        let write = startWrite("lost", on: oldLeader, region: status.region)
        // The majority moves on and compacts its log past everything the old leader has.
        try await cluster.waitUntil("a new leader") {
            guard let (node, _) = await cluster.leader() else { return false }
            return node.storeID != oldLeader.storeID
        }
        let others = cluster.nodes.filter { $0.storeID != oldLeader.storeID }
        for i in 0..<40 {
            var batch = WriteBatch()
            batch.put(.default, Array("k\(i)".utf8), Array("v".utf8))
            try await writeOnLeader(among: others, batch)
        }
        let oldLast = await oldLeader.regions().first?.lastIndex ?? 0
        try await cluster.waitUntil("compaction past the old leader's log") {
            for node in others { if let s = await node.regions().first, s.isLeader, s.firstIndex > oldLast + 1 { return true } }
            return false
        }
        // Let the last log GC go by, so nothing is committed after the snapshot.
        try await Task.sleep(for: .milliseconds(500))
        cluster.network.heal()
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let (leader, _) = await cluster.leader(), leader.storeID != oldLeader.storeID,
               let mine = await oldLeader.regions().first, let theirs = await leader.regions().first,
               mine.appliedIndex >= theirs.appliedIndex { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        // No more writes: the old proposal must still get its answer.
        switch await waitAtMost(.seconds(3), inFlight: InFlight(), { await write.value }) {
        case .success(let error)?:
            XCTAssertNotNil(error?.staleCommand, "answered with \(String(describing: error))")
        case .failure(let error)?: XCTFail("\(error)")
        case nil: XCTFail("the isolated leader's proposal was never answered after it caught up by snapshot")
        }
    }

    /// A leader cut off with several writes in flight: the new leader commits only its empty
    /// entry, so after the heal the old entries past it are gone from every log. They must be
    /// answered (stale) without waiting for the region's log to reach their indexes again.
    func testProposalsPastTheNewLeadersLogAreAnswered() async throws {
        let cluster = try TestCluster(name: "stale-past-log")
        self.cluster = cluster
        try await cluster.startThreeReplicas()
        try await cluster.put("a", "1")
        guard let (oldLeader, status) = await cluster.leader() else { return XCTFail("no leader") }
        cluster.network.isolate(oldLeader.storeID)
        let writes = (0..<3).map { i in startWrite("lost\(i)", on: oldLeader, region: status.region) }
        try await Task.sleep(for: .milliseconds(50))
        try await cluster.waitUntil("a new leader") {
            guard let (node, _) = await cluster.leader() else { return false }
            return node.storeID != oldLeader.storeID
        }
        cluster.network.heal()
        for (i, write) in writes.enumerated() {
            switch await waitAtMost(.seconds(5), inFlight: InFlight(), { await write.value }) {
            case .success(let error)?: XCTAssertNotNil(error?.staleCommand, "write \(i) answered with \(String(describing: error))")
            case .failure(let error)?: XCTFail("\(error)")
            case nil: XCTFail("write \(i) of the old leader was never answered on an idle region")
            }
        }
    }

    /// A leader whose raft thread stalls (SIGSTOP in chaos seed 24) with a write queued behind
    /// it: the others elect a new leader, and the stalled one takes the write (still leader) and
    /// the new leader's append (stepping down) in the same round. Its batched write must be
    /// refused. Raft forwards a follower's proposal instead of appending it, and the write used
    /// to be recorded at the last index, which held the new leader's entry: when that entry
    /// was applied, the write was acknowledged, and it was never written.
    func testWriteBatchedByALeaderThatStepsDownInTheSameRoundIsRefused() async throws {
        let cluster = try TestCluster(name: "batched-step-down")
        self.cluster = cluster
        cluster.config.hibernateRegions = false
        try await cluster.startThreeReplicas()
        try await cluster.put("a", "1")
        guard let (oldLeader, status) = await cluster.leader() else { return XCTFail("no leader") }
        // A forwarded proposal is one message, never resent: lose it, as a lossy network may.
        cluster.network.state.withLock { $0.dropIf = { $0.message?.msgType == .msgPropose } }
        XCTAssertTrue(oldLeader.poller.inbox.push(.inspect { _ in Thread.sleep(forTimeInterval: 1.5) }))
        try await Task.sleep(for: .milliseconds(50))
        let write = startWrite("lost", on: oldLeader, region: status.region)
        switch await waitAtMost(.seconds(10), inFlight: InFlight(), { await write.value }) {
        case .success(let error)?:
            if let error {
                XCTAssertNotNil(error.notLeader, "answered with \(error)")
            } else {
                // Acknowledged: then it must be there.
                let value = try await cluster.get("lost")
                XCTAssertEqual(value, "x", "an acknowledged write is missing")
            }
        case .failure(let error)?: XCTFail("\(error)")
        case nil: XCTFail("the write was never answered")
        }
    }

    /// Writes `key` = "x" through `node`'s storage in a task; its value is the region error, or nil.
    private func startWrite(_ key: String, on node: RaftStoreNode, region: Metapb.Region) -> Task<Errorpb.Error?, Never> {
        var batch = WriteBatch()
        batch.put(.default, Array(key.utf8), Array("x".utf8))
        let pending = batch
        let context = Kvrpcpb.Context(regionId: region.id, regionEpoch: region.regionEpoch)
        return Task {
            do { try await node.storage.write(context, pending); return nil } catch let error as RegionError { return error.error } catch { return Errorpb.Error(message: "\(error)") }
        }
    }

    private func writeOnLeader(among nodes: [RaftStoreNode], _ batch: WriteBatch) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            for node in nodes {
                guard let status = await node.regions().first, status.isLeader else { continue }
                do {
                    try await node.storage.write(Kvrpcpb.Context(regionId: status.region.id, regionEpoch: status.region.regionEpoch), batch)
                    return
                } catch is RegionError {}
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTFail("no write on the majority")
        throw CancellationError()
    }
}
