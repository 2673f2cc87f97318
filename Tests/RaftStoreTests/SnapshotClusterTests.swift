import Foundation
import Raft
import Storage
import TinyKVProto
import XCTest
@testable import RaftStore

/// Snapshots through the whole store: a follower catching up on megabytes of data, a crash
/// in the middle of an apply, the files' cleanup; and the Get/Snap raft commands.
final class SnapshotClusterTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUp() { FailPoints.reset() }

    override func tearDown() {
        FailPoints.reset()
        cluster?.shutdown()
        cluster = nil
    }

    private func startCluster(_ name: String) async throws {
        cluster = try TestCluster(name: name)
        cluster.config.logGCCountLimit = 20
        try await cluster.startThreeReplicas()
    }

    /// Pseudo-random hex (SST files compress repetitive values to almost nothing).
    private func value(_ index: Int, size: Int) -> String {
        var generator = SeededGenerator(seed: UInt64(index) &* 7919 &+ UInt64(size))
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        while bytes.count < size {
            var word = generator.next()
            for _ in 0..<16 where bytes.count < size {
                bytes.append(digits[Int(word & 15)])
                word >>= 4
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Stops a follower, writes `count` values of `size` bytes until the leader's log is compacted past it.
    private func stopFollowerAndWrite(count: Int, size: Int) async throws -> UInt64 {
        let (leader, _) = await cluster.leader()!
        let lagging = cluster.order.first { $0 != leader.storeID }!
        cluster.stop(lagging)
        for i in 0..<count { try await cluster.put(String(format: "key%05d", i), value(i, size: size)) }
        try await cluster.waitUntil("log compaction past the stopped store") {
            guard let (_, status) = await cluster.leader() else { return false }
            return status.firstIndex > UInt64(count / 2)
        }
        return lagging
    }

    private func snapFiles(_ storeID: UInt64) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: cluster.paths[storeID]! + "/snap")) ?? []
    }

    /// Checks that `storeID`'s own copy of the region holds every value written.
    private func assertLocalData(_ storeID: UInt64, count: Int, size: Int, file: StaticString = #filePath, line: UInt = #line) async throws {
        guard let regionID = await cluster.node(storeID)?.regions().first?.region.id,
              let reader = await cluster.node(storeID)?.localReader(regionID) else {
            return XCTFail("store \(storeID) has no region", file: file, line: line)
        }
        var wrong: [Int] = []
        for i in 0..<count {
            let got = try reader.get(.default, Array(String(format: "key%05d", i).utf8)).map { String(decoding: $0, as: UTF8.self) }
            if got != value(i, size: size) { wrong.append(i) }
        }
        XCTAssertEqual(wrong, [], "keys missing or wrong on store \(storeID)", file: file, line: line)
    }

    func testFollowerCatchesUpOnMegabytesBySnapshotAndFilesAreCleanedUp() async throws {
        try await startCluster("snap-catchup")
        let count = 300, size = 16_000  // ~5 MB of hex, ~2.5 MB in (compressed) SST files: several 1 MiB chunks
        let lagging = try await stopFollowerAndWrite(count: count, size: size)
        let chunksBefore = cluster.network.state.withLock { $0.snapshotChunks }
        let leaderStore = await cluster.leader()!.0.storeID
        try await cluster.restart(lagging)
        let leaderApplied = await cluster.leader()!.1.appliedIndex
        try await cluster.waitUntil("lagging store caught up by snapshot", timeout: .seconds(30)) {
            guard let status = await cluster.node(lagging)?.regions().first else { return false }
            return status.appliedIndex >= leaderApplied && status.firstIndex > 1
        }
        try await assertLocalData(lagging, count: count, size: size)
        let chunks = cluster.network.state.withLock { $0.snapshotChunks } - chunksBefore
        XCTAssertGreaterThanOrEqual(chunks, 4, "the message and at least three 1 MiB data chunks")
        // Sent files go after the send, received ones after the apply.
        try await cluster.waitUntil("snapshot files cleaned up") {
            snapFiles(lagging).isEmpty && snapFiles(leaderStore).isEmpty
        }
        // The caught-up store serves as part of a quorum.
        let other = cluster.order.first { $0 != leaderStore && $0 != lagging }!
        cluster.stop(other)
        try await cluster.put("after-snapshot", "ok")
        let got = try await cluster.get("key00299")
        XCTAssertEqual(got, value(299, size: size))
    }

    func testCrashWhileApplyingASnapshotIsFinishedAtRestart() async throws {
        try await startCluster("snap-crash")
        let count = 120, size = 2_000
        let lagging = try await stopFollowerAndWrite(count: count, size: size)
        // The next snapshot apply "crashes" after clearing the old data, before ingesting the new.
        try FailPoints.configure("snapshot.apply=times(1):eio")
        try await cluster.restart(lagging)
        try await cluster.waitUntil("the apply failed; the region stopped on that store", timeout: .seconds(20)) {
            await cluster.node(lagging)?.regions().isEmpty ?? false
        }
        cluster.stop(lagging)
        FailPoints.reset()
        // On disk: Applying, with the received files kept.
        let kv = try RocksEngine(path: cluster.paths[lagging]! + "/kv", columnFamilies: ColumnFamily.kvEngineFamilies)
        let leaderNow = await cluster.leader()
        let regionID = try XCTUnwrap(leaderNow?.1.region.id)
        let state = try RaftServerpb.RegionLocalState(decoding: try XCTUnwrap(kv.get(.raft, Keys.regionStateKey(regionID))))
        kv.close()
        XCTAssertEqual(state.state, .applying)
        XCTAssertTrue(snapFiles(lagging).contains { $0.hasSuffix("_meta") })

        // Restart cut off from the others: the store must finish the apply from its own files.
        cluster.network.isolate(lagging)
        try await cluster.restart(lagging)
        let regions = await cluster.node(lagging)?.regions()
        let status = try XCTUnwrap(regions?.first)
        XCTAssertFalse(status.region.peers.isEmpty)
        try await assertLocalData(lagging, count: count, size: size)
        XCTAssertEqual(snapFiles(lagging), [], "applied files are deleted")
        cluster.network.heal()
        try await cluster.put("after-recovery", "ok")
        let leaderApplied = await cluster.leader()!.1.appliedIndex
        try await cluster.waitUntil("recovered store follows the log again") {
            (await cluster.node(lagging)?.regions().first?.appliedIndex ?? 0) >= leaderApplied
        }
    }

    func testGetAndSnapCommandsThroughTheLog() async throws {
        cluster = try TestCluster(name: "getsnap")
        let node = try await cluster.addStore()
        try await cluster.put("k1", "v1")
        let found = await cluster.leader()
        let (_, status) = try XCTUnwrap(found)
        let region = status.region
        let header = RaftCmdpb.RaftRequestHeader(regionId: region.id, peer: region.peers.first, regionEpoch: region.regionEpoch)
        func request(_ requests: [RaftCmdpb.Request], header: RaftCmdpb.RaftRequestHeader) -> RaftCmdpb.RaftCmdRequest {
            RaftCmdpb.RaftCmdRequest(header: header, requests: requests)
        }
        let get = { (key: String) in RaftCmdpb.Request(cmdType: .get, get: RaftCmdpb.GetRequest(cf: "default", key: Array(key.utf8))) }
        let put = RaftCmdpb.Request(cmdType: .put, put: RaftCmdpb.PutRequest(cf: "default", key: Array("k2".utf8), value: Array("v2".utf8)))

        // A Put and a Get of the same key in one command: the Get sees the Put.
        var response = await node.execute(request([get("k1"), put, get("k2"), get("missing"),
                                                   RaftCmdpb.Request(cmdType: .snap, snap: RaftCmdpb.SnapRequest())], header: header))
        XCTAssertNil(response.header?.error)
        XCTAssertEqual(response.responses.map(\.cmdType), [.get, .put, .get, .get, .snap])
        XCTAssertEqual(response.responses[0].get?.value, Array("v1".utf8))
        XCTAssertEqual(response.responses[2].get?.value, Array("v2".utf8))
        XCTAssertEqual(response.responses[3].get?.value, [])
        XCTAssertEqual(response.responses[4].snap?.region?.id, region.id)
        XCTAssertEqual(response.responses[4].snap?.region?.regionEpoch, region.regionEpoch)
        let stored = try await cluster.get("k2")
        XCTAssertEqual(stored, "v2")

        // The same checks as writes: epoch, key range, routing.
        var stale = header
        stale.regionEpoch?.version += 1
        response = await node.execute(request([get("k1")], header: stale))
        XCTAssertNotNil(response.header?.error?.epochNotMatch)
        var wrongRegion = header
        wrongRegion.regionId = 999
        response = await node.execute(request([get("k1")], header: wrongRegion))
        XCTAssertNotNil(response.header?.error?.regionNotFound)

        try await cluster.split(at: "m")
        let leftLeader = await cluster.leader(forKey: Array("a".utf8))
        let (_, left) = try XCTUnwrap(leftLeader)
        let leftHeader = RaftCmdpb.RaftRequestHeader(regionId: left.region.id, peer: left.region.peers.first, regionEpoch: left.region.regionEpoch)
        response = await node.execute(request([get("z")], header: leftHeader))
        XCTAssertEqual(response.header?.error?.keyNotInRegion?.key, Array("z".utf8))
        response = await node.execute(request([RaftCmdpb.Request(cmdType: .snap, snap: RaftCmdpb.SnapRequest())], header: leftHeader))
        XCTAssertEqual(response.responses.first?.snap?.region?.endKey, Array("m".utf8))
    }
}
