import Foundation
@testable import RaftStore
import Storage
import TinyKVProto
import XCTest

/// Leader leases: reads served by the leader without a ReadIndex round trip, and never
/// after the lease ran out, measured with a lease clock the test controls.
final class LeaseReadTests: XCTestCase {
    private var cluster: TestCluster?

    override func tearDown() {
        cluster?.shutdown()
        cluster = nil
    }

    /// A leader is stalled (its raft thread blocked, like a paused process) and cut off; the
    /// majority elects a new leader and overwrites a key. A read queued at the old leader runs
    /// when it resumes, after its lease expired by the lease clock: it must not be served from
    /// the lease (with the clock frozen it would be, returning the overwritten value).
    func testPartitionedOldLeaderDoesNotServeFromExpiredLease() async throws {
        let clock = TestLeaseClock()
        let cluster = try TestCluster(name: "lease")
        self.cluster = cluster
        cluster.leaseClock = clock.clock
        try await cluster.startThreeReplicas()
        try await cluster.put("k", "v1")
        guard let (oldLeader, status) = await cluster.leader() else { return XCTFail("no leader") }
        let context = Kvrpcpb.Context(regionId: status.region.id, regionEpoch: status.region.regionEpoch)

        // Lease reads happen (a write just renewed the lease).
        let servedBefore = oldLeader.leaseReadCount
        for _ in 0..<5 {
            let value = try await Self.read(oldLeader, context, "k")
            XCTAssertEqual(value, "v1")
        }
        XCTAssertGreaterThan(oldLeader.leaseReadCount, servedBefore, "reads on a leader with a fresh lease are served locally")

        // From here on only the test moves lease time; a write renews the lease at the frozen time.
        clock.freeze()
        try await cluster.put("other", "x")
        let leaseReadsAtStall = oldLeader.leaseReadCount

        // Stall the old leader's raft thread (like a paused process) and cut it off; a read
        // waits in its inbox behind the stall.
        let gate = DispatchSemaphore(value: 0)
        XCTAssertTrue(oldLeader.poller.inbox.push(.inspect { _ in gate.wait() }))
        cluster.network.isolate(oldLeader.storeID)
        let queuedRead = Task { () -> String? in
            let result = await withCheckedContinuation { continuation in
                oldLeader.poller.inbox.push(.read(context) { continuation.resume(returning: $0) })
            }
            guard case .success(let reader) = result else { return nil }
            return try? reader.get(.default, Array("k".utf8)).map { String(decoding: $0, as: UTF8.self) }
        }

        // The majority elects a new leader and overwrites the key.
        let others = cluster.nodes.filter { $0.storeID != oldLeader.storeID }
        var batch = WriteBatch()
        batch.put(.default, Array("k".utf8), Array("v2".utf8))
        let deadline = ContinuousClock.now + .seconds(10)
        var written = false
        while !written && ContinuousClock.now < deadline {
            for node in others {
                guard let region = await node.regions().first, region.isLeader else { continue }
                do {
                    try await node.storage.write(Kvrpcpb.Context(regionId: region.region.id, regionEpoch: region.region.regionEpoch), batch)
                    written = true
                    break
                } catch is RegionError {}
            }
            if !written { try await Task.sleep(for: .milliseconds(30)) }
        }
        XCTAssertTrue(written, "the majority elected a leader and wrote")

        // By the frozen lease clock the old leader's lease still holds (this read would be
        // stale): the lease is all that stands between it and the overwritten value. Move the
        // clock past it: reads on either path (the local reader here, the queued one on the
        // raft thread when it resumes) must not be served from the lease.
        clock.advance(by: cluster.config.baseTickInterval * cluster.config.electionTicks)
        let node = oldLeader, readContext = context
        let direct = Task { await leaseTestReadOrNil(node, readContext, "k") }
        gate.signal()
        let queued = await queuedRead.value
        let directResult = await direct.value
        XCTAssertNil(queued, "the cut-off old leader answered a queued read (\(queued ?? "nil")) after its lease expired")
        XCTAssertNil(directResult, "the cut-off old leader answered a read (\(directResult ?? "nil")) after its lease expired")
        XCTAssertEqual(oldLeader.leaseReadCount, leaseReadsAtStall, "no lease read after the lease expired")
    }

    /// Lease reads see every write acknowledged before them, across leader changes.
    func testLeaseReadsSeeAcknowledgedWritesAcrossTransfers() async throws {
        let cluster = try TestCluster(name: "lease-transfer")
        self.cluster = cluster
        try await cluster.startThreeReplicas()
        for round in 0..<6 {
            try await cluster.put("t", "v\(round)")
            let value = try await cluster.get("t")
            XCTAssertEqual(value, "v\(round)")
            // Move leadership to another store (the lease must not survive the transfer).
            guard let (leader, status) = await cluster.leader() else { return XCTFail("no leader") }
            let target = status.region.peers.first { $0.storeId != leader.storeID }!
            leader.poller.inbox.push(.schedulerCommand(Schedulerpb.RegionHeartbeatResponse(
                transferLeader: Schedulerpb.TransferLeader(peer: target), regionId: status.region.id)))
            try await cluster.waitUntil("leader moved") {
                guard let (node, _) = await cluster.leader() else { return false }
                return node.storeID == target.storeId
            }
        }
        let total = cluster.nodes.reduce(0) { $0 + $1.leaseReadCount }
        XCTAssertGreaterThan(total, 0)
    }

    private static func read(_ node: RaftStoreNode, _ context: Kvrpcpb.Context, _ key: String) async throws -> String? {
        let reader = try await node.storage.reader(context)
        return try reader.get(.default, Array(key.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// The value, or nil if the read failed (a region error).
private func leaseTestReadOrNil(_ node: RaftStoreNode, _ context: Kvrpcpb.Context, _ key: String) async -> String? {
    do {
        let reader = try await node.storage.reader(context)
        return try reader.get(.default, Array(key.utf8)).map { String(decoding: $0, as: UTF8.self) }
    } catch {
        return nil
    }
}
