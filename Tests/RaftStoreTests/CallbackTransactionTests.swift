import Foundation
import Logging
@testable import RaftStore
import Storage
import Synchronization
import TinyKVProto
import Transaction
import XCTest

/// The callback forms of the transactional commands on a real three-store raft cluster, as the
/// server runs them: latches granted on the calling (or releasing) thread, lease reads on the caller's
/// thread, responses from the raft apply thread.
final class CallbackTransactionTests: XCTestCase {
    private var cluster: TestCluster!
    private let logger = Logger(label: "txn-callback-test", factory: { _ in SwiftLogNoOpLogHandler() })

    override func tearDown() {
        cluster?.shutdown()
        cluster = nil
    }

    /// Starts a callback command and waits for its single response.
    private func answer<Response: Sendable>(
        _ start: (@escaping @Sendable (Response) -> Void) -> Void
    ) async -> Response? {
        let responses = Mutex<[Response]>([])
        let answered = expectation(description: "answered")
        start { response in
            responses.withLock { $0.append(response) }
            answered.fulfill()
        }
        await fulfillment(of: [answered], timeout: 10)
        let all = responses.withLock { $0 }
        XCTAssertEqual(all.count, 1, "answered \(all.count) times")
        return all.first
    }

    /// Runs a callback command on the current leader until it answers without a region error.
    private func onLeader<Response: Sendable>(
        _ latches: Latches, _ what: String,
        _ start: @escaping (TransactionService, Kvrpcpb.Context, @escaping @Sendable (Response) -> Void) -> Void,
        regionError: @escaping (Response) -> Errorpb.Error?
    ) async throws -> Response {
        var result: Response?
        try await cluster.waitUntil(what, timeout: .seconds(15)) {
            guard let (node, status) = await cluster.leader() else { return false }
            let peer = status.region.peers.first { $0.id == status.peerID }
            let context = Kvrpcpb.Context(regionId: status.region.id, regionEpoch: status.region.regionEpoch, peer: peer)
            let service = TransactionService(storage: node.storage, latches: latches, logger: logger)
            XCTAssertTrue(service.answersByCallback)
            guard let response = await answer({ start(service, context, $0) }), regionError(response) == nil else { return false }
            result = response
            return true
        }
        return try XCTUnwrap(result)
    }

    func testPrewriteCommitGetOnTheLeader() async throws {
        cluster = try TestCluster(name: "txn-callback")
        try await cluster.startThreeReplicas()
        let latches = Latches()
        let key = Array("k".utf8)
        let prewritten = try await onLeader(latches, "prewrite", { service, context, done in
            service.prewrite(Kvrpcpb.PrewriteRequest(context: context, mutations: [Kvrpcpb.Mutation(op: .put, key: key, value: [7])],
                                                     primaryLock: key, startVersion: 100, lockTtl: 1000), done: done)
        }, regionError: \.regionError)
        XCTAssertEqual(prewritten.errors, [])
        let committed = try await onLeader(latches, "commit", { service, context, done in
            service.commit(Kvrpcpb.CommitRequest(context: context, startVersion: 100, keys: [key], commitVersion: 110), done: done)
        }, regionError: \.regionError)
        XCTAssertNil(committed.error)
        let read = try await onLeader(latches, "get", { service, context, done in
            service.get(Kvrpcpb.GetRequest(context: context, key: key, version: 120), done: done)
        }, regionError: \.regionError)
        XCTAssertEqual(read.value, [7])
        XCTAssertEqual(latches.heldCount, 0)

        // The async pipeline reads what the callback pipeline wrote.
        var asyncRead: Kvrpcpb.GetResponse?
        try await cluster.waitUntil("async get") {
            guard let (node, status) = await cluster.leader() else { return false }
            let peer = status.region.peers.first { $0.id == status.peerID }
            let context = Kvrpcpb.Context(regionId: status.region.id, regionEpoch: status.region.regionEpoch, peer: peer)
            let response = await TransactionService(storage: node.storage, logger: logger)
                .get(Kvrpcpb.GetRequest(context: context, key: key, version: 120))
            asyncRead = response
            return response.regionError == nil
        }
        XCTAssertEqual(asyncRead?.value, [7])
    }

    /// A follower answers `not_leader` through the callback, and the latches are released.
    func testFollowerAnswersNotLeader() async throws {
        cluster = try TestCluster(name: "txn-callback-follower")
        try await cluster.startThreeReplicas()
        let found = await cluster.leader()
        let (leader, status) = try XCTUnwrap(found)
        let follower = try XCTUnwrap(cluster.nodes.first { $0.storeID != leader.storeID })
        let regions = await follower.regions()
        let followerStatus = try XCTUnwrap(regions.first)
        let peer = followerStatus.region.peers.first { $0.id == followerStatus.peerID }
        let context = Kvrpcpb.Context(regionId: status.region.id, regionEpoch: followerStatus.region.regionEpoch, peer: peer)
        let latches = Latches()
        let service = TransactionService(storage: follower.storage, latches: latches, logger: logger)
        let key = Array("k".utf8)
        let prewritten = await answer { done in
            service.prewrite(Kvrpcpb.PrewriteRequest(context: context, mutations: [Kvrpcpb.Mutation(op: .put, key: key, value: [7])],
                                                     primaryLock: key, startVersion: 100, lockTtl: 1000), done: done)
        }
        XCTAssertNotNil(prewritten?.regionError?.notLeader)
        let read = await answer { service.get(Kvrpcpb.GetRequest(context: context, key: key, version: 120), done: $0) }
        XCTAssertNotNil(read?.regionError?.notLeader)
        XCTAssertEqual(latches.heldCount, 0)
    }

    /// Concurrent prewrites of one key through the callback path: the latches queue them across the
    /// raft round trip of the winner, and exactly one wins.
    func testConcurrentPrewritesOfOneKeyHaveOneWinner() async throws {
        cluster = try TestCluster(name: "txn-callback-concurrent")
        try await cluster.startThreeReplicas()
        let found = await cluster.leader()
        let (node, status) = try XCTUnwrap(found)
        let peer = status.region.peers.first { $0.id == status.peerID }
        let context = Kvrpcpb.Context(regionId: status.region.id, regionEpoch: status.region.regionEpoch, peer: peer)
        let latches = Latches()
        let service = TransactionService(storage: node.storage, latches: latches, logger: logger)
        let key = Array("hot".utf8)
        let count = 32
        let outcomes = Mutex<(won: Int, locked: Int, other: Int)>((0, 0, 0))
        let answered = expectation(description: "all answered")
        answered.expectedFulfillmentCount = count
        for index in 0..<count {
            service.prewrite(Kvrpcpb.PrewriteRequest(context: context, mutations: [Kvrpcpb.Mutation(op: .put, key: key, value: [UInt8(index)])],
                                                     primaryLock: key, startVersion: 100 + UInt64(index), lockTtl: 1000)) { response in
                outcomes.withLock {
                    if response.regionError == nil, response.errors.isEmpty {
                        $0.won += 1
                    } else if response.errors.first?.locked != nil {
                        $0.locked += 1
                    } else {
                        $0.other += 1
                    }
                }
                answered.fulfill()
            }
        }
        await fulfillment(of: [answered], timeout: 15)
        let (won, locked, other) = outcomes.withLock { $0 }
        XCTAssertEqual(won, 1)
        XCTAssertEqual(locked, count - 1 - other)
        XCTAssertEqual(other, 0, "no region errors expected with a stable leader")
        XCTAssertEqual(latches.heldCount, 0)
    }
}
