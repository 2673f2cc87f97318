import Foundation
import Storage
import Synchronization
import TinyKVProto
import XCTest
@testable import RaftStore

final class ProposalBatchTests: XCTestCase {
    private func put(_ key: String, size: Int = 1) -> RaftCmdpb.RaftCmdRequest {
        var request = RaftCmdpb.Request(cmdType: .put)
        request.put = RaftCmdpb.PutRequest(cf: "default", key: Array(key.utf8), value: Array(repeating: 1, count: size))
        return RaftCmdpb.RaftCmdRequest(header: RaftCmdpb.RaftRequestHeader(regionId: 1), requests: [request])
    }

    func testOnlyDataWritesAreBatched() {
        XCTAssertTrue(ProposalBatch.canBatch(put("a")))
        var delete = RaftCmdpb.Request(cmdType: .delete)
        delete.delete = RaftCmdpb.DeleteRequest(cf: "lock", key: [1])
        XCTAssertTrue(ProposalBatch.canBatch(RaftCmdpb.RaftCmdRequest(requests: [delete, put("b").requests[0]])))
        var get = RaftCmdpb.Request(cmdType: .get)
        get.get = RaftCmdpb.GetRequest(cf: "default", key: [1])
        XCTAssertFalse(ProposalBatch.canBatch(RaftCmdpb.RaftCmdRequest(requests: [get])))
        XCTAssertFalse(ProposalBatch.canBatch(RaftCmdpb.RaftCmdRequest(requests: [put("c").requests[0], get])))
        XCTAssertFalse(ProposalBatch.canBatch(RaftCmdpb.RaftCmdRequest()), "an empty command has nothing to batch")
        var admin = RaftCmdpb.RaftCmdRequest()
        admin.adminRequest = RaftCmdpb.AdminRequest(cmdType: .compactLog)
        XCTAssertFalse(ProposalBatch.canBatch(admin))
    }

    func testOneEntryCarriesEveryRequestInOrderAndAnswersEveryProposer() throws {
        var batch = ProposalBatch()
        let answers = Mutex<[String]>([])
        let header = RaftCmdpb.RaftRequestHeader(regionId: 7, regionEpoch: Metapb.RegionEpoch(confVer: 2, version: 3))
        for key in ["x", "y", "z"] {
            batch.add(put(key), header: header) { error in answers.withLock { $0.append("\(key):\(error?.message ?? "ok")") } }
        }
        XCTAssertEqual(batch.count, 3)
        let (command, callback) = try XCTUnwrap(batch.take())
        XCTAssertTrue(batch.isEmpty)
        XCTAssertNil(batch.take())
        XCTAssertEqual(command.header, header, "the batch carries the region's header, not a client's")
        XCTAssertEqual(command.requests.map { String(decoding: $0.put!.key, as: UTF8.self) }, ["x", "y", "z"])
        callback(RegionErrors.staleCommand())
        XCTAssertEqual(answers.withLock { $0 }, ["x:stale command", "y:stale command", "z:stale command"])
    }

    func testBatchIsFullAtItsSizeOrCountLimit() {
        var bySize = ProposalBatch()
        bySize.add(put("big", size: ProposalBatch.maxBytes - 10), header: RaftCmdpb.RaftRequestHeader()) { _ in }
        XCTAssertFalse(bySize.isFull)
        bySize.add(put("more", size: 20), header: RaftCmdpb.RaftRequestHeader()) { _ in }
        XCTAssertTrue(bySize.isFull)
        var byCount = ProposalBatch()
        for index in 0..<ProposalBatch.maxCommands {
            XCTAssertFalse(byCount.isFull)
            byCount.add(put("k\(index)"), header: RaftCmdpb.RaftRequestHeader()) { _ in }
        }
        XCTAssertTrue(byCount.isFull)
    }
}

final class ProposalBatchClusterTests: XCTestCase {
    private var cluster: TestCluster!

    override func tearDown() {
        cluster?.shutdown()
        cluster = nil
    }

    /// Writes that reach the leader in one poller round share one log entry, and each is applied.
    func testWritesOfOneRoundShareAnEntry() async throws {
        cluster = try TestCluster(name: "batch")
        try await cluster.startThreeReplicas()
        try await cluster.put("warm", "up")
        let found = await cluster.leader()
        let (leader, status) = try XCTUnwrap(found)
        let peer = status.region.peers.first { $0.id == status.peerID }
        let context = Kvrpcpb.Context(regionId: status.region.id, regionEpoch: status.region.regionEpoch, peer: peer)
        // Hold the raft thread while the writes queue up, so that one round takes them all.
        let gate = DispatchSemaphore(value: 0)
        let held = Atomic<Bool>(false)
        leader.poller.inbox.push(.inspect { _ in
            held.store(true, ordering: .sequentiallyConsistent)
            gate.wait()
        })
        while !held.load(ordering: .sequentiallyConsistent) { try await Task.sleep(for: .milliseconds(1)) }
        let writes = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<30 {
                    group.addTask {
                        var batch = WriteBatch()
                        batch.put(.default, Array("batched-\(index)".utf8), Array("v\(index)".utf8))
                        try await leader.storage.write(context, batch)
                    }
                }
                try await group.waitForAll()
            }
        }
        let queued = ContinuousClock.now + .seconds(10)
        func proposals() -> Int { leader.poller.inbox.count { if case .propose = $0 { true } else { false } } }
        while proposals() < 30, ContinuousClock.now < queued { try await Task.sleep(for: .milliseconds(10)) }
        gate.signal()
        try await writes.value
        // Other entries may come and go (the scheduler's work); the 30 writes are in one.
        let regionID = status.region.id, from = status.lastIndex + 1
        let entries: [Eraftpb.Entry] = await withCheckedContinuation { continuation in
            leader.poller.inbox.push(.inspect { poller in
                guard let peer = poller.peers[regionID], let last = try? peer.storage.lastIndex(),
                      let entries = try? peer.storage.entries(lo: from, hi: last + 1, maxSize: .max) else {
                    return continuation.resume(returning: [])
                }
                continuation.resume(returning: entries)
            })
        }
        let keysPerEntry = entries.compactMap { entry -> Int? in
            let keys = ((try? RaftCmdpb.RaftCmdRequest(decoding: entry.data))?.requests ?? []).compactMap(\.put?.key)
                .filter { $0.starts(with: Array("batched-".utf8)) }
            return keys.isEmpty ? nil : keys.count
        }
        XCTAssertEqual(keysPerEntry, [30], "30 writes, one entry")
        for index in 0..<30 {
            let value = try await cluster.get("batched-\(index)")
            XCTAssertEqual(value, "v\(index)")
        }
    }
}
