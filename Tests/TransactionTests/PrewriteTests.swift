import TinyKVProto
import XCTest
@testable import Transaction

final class PrewriteTests: XCTestCase {
    private func prewrite(_ f: Fixture, _ ts: UInt64, _ mutations: [Kvrpcpb.Mutation], primary: [UInt8] = [1], ttl: UInt64 = 0) async -> Kvrpcpb.PrewriteResponse {
        await f.service.prewrite(Kvrpcpb.PrewriteRequest(mutations: mutations, primaryLock: primary, startVersion: ts, lockTtl: ttl))
    }

    func testEmpty() async throws {
        let f = try Fixture()
        let response = await prewrite(f, 100, [])
        XCTAssertTrue(response.errors.isEmpty)
        XCTAssertNil(response.regionError)
        try f.assertCounts(0, 0, 0)
    }

    func testSingle() async throws {
        let f = try Fixture()
        let response = await prewrite(f, 100, [put(3, [42])], ttl: 1000)
        XCTAssertTrue(response.errors.isEmpty)
        try f.assertCounts(1, 1, 0)
        try f.assertRows([.value([3], 100, [42]),
                          Row(cf: .lock, key: [3], value: [1, 1, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 3, 232])])
    }

    func testLockedByOther() async throws {
        let f = try Fixture()
        var response = await prewrite(f, 100, [put(3, [42])])
        XCTAssertTrue(response.errors.isEmpty)
        response = await prewrite(f, 101, [put(3, [53])])
        XCTAssertEqual(response.errors.count, 1)
        XCTAssertEqual(response.errors.first?.locked, Kvrpcpb.LockInfo(primaryLock: [1], lockVersion: 100, key: [3], lockTtl: 0))
        XCTAssertNil(response.regionError)
        try f.assertCounts(1, 1, 0)
        try f.assertRows([.value([3], 100, [42]), .lock([3], primary: [1], ts: 100)])
    }

    /// Retrying a prewrite of the same transaction succeeds (idempotent).
    func testRetryOfOwnPrewrite() async throws {
        let f = try Fixture()
        _ = await prewrite(f, 100, [put(3, [42])])
        let response = await prewrite(f, 100, [put(3, [42])])
        XCTAssertTrue(response.errors.isEmpty)
        try f.assertCounts(1, 1, 0)
    }

    func testWriteConflict() async throws {
        let f = try Fixture()
        try f.load([.value([3], 80, [5]), .write([3], 101, .put, start: 80)])
        let response = await prewrite(f, 100, [put(3, [42])])
        XCTAssertEqual(response.errors.count, 1)
        XCTAssertEqual(response.errors.first?.conflict, Kvrpcpb.WriteConflict(startTs: 100, conflictTs: 101, key: [3], primary: [1]))
        try f.assertCounts(1, 0, 1)
    }

    func testOlderWriteIsNoConflict() async throws {
        let f = try Fixture()
        try f.load([.value([3], 80, [5]), .write([3], 90, .put, start: 80)])
        let response = await prewrite(f, 100, [put(3, [42])])
        XCTAssertTrue(response.errors.isEmpty)
        try f.assertCounts(2, 1, 1)
        try f.assertRows([.value([3], 80, [5]), .value([3], 100, [42]), .lock([3], primary: [1], ts: 100)])
    }

    /// Errors are reported for every failing key and nothing at all is written.
    func testPartialFailureWritesNothing() async throws {
        let f = try Fixture()
        try f.load([.write([4], 120, .put, start: 110), .lock([5], primary: [5], ts: 90)])
        let response = await prewrite(f, 100, [put(3, [1]), put(4, [2]), put(5, [3]), put(6, [4])])
        XCTAssertEqual(response.errors.count, 2)
        XCTAssertNotNil(response.errors[0].conflict)
        XCTAssertNotNil(response.errors[1].locked)
        try f.assertCounts(0, 1, 1)
    }

    func testMultipleKeysAndOverwrites() async throws {
        let f = try Fixture()
        var response = await prewrite(f, 100, [put(3, [42]), put(3, [45])])
        XCTAssertTrue(response.errors.isEmpty)
        try f.assertRows([.value([3], 100, [45])])
        response = await prewrite(f, 101, [put(4, [43]), put(5, [44]), put(4, [43]), del(4), put(4, [1, 3, 5]), put(255, [45])])
        XCTAssertTrue(response.errors.isEmpty)
        try f.assertCounts(4, 4, 0)
        try f.assertRows([.value([4], 101, [1, 3, 5])])
    }

    func testDeleteAndLockOps() async throws {
        let f = try Fixture()
        let response = await prewrite(f, 100, [del(3), Kvrpcpb.Mutation(op: .lock, key: [4])])
        XCTAssertTrue(response.errors.isEmpty)
        try f.assertCounts(0, 2, 0)
        try f.assertRows([.lock([3], primary: [1], ts: 100, kind: .delete), .lock([4], primary: [1], ts: 100, kind: .lock)])
        let rejected = await prewrite(f, 101, [Kvrpcpb.Mutation(op: .rollback, key: [5])])
        XCTAssertEqual(rejected.errors.count, 1)
        XCTAssertFalse(rejected.errors[0].abort.isEmpty)
    }

    /// A rollback marker left by a resolver makes a late prewrite of the rolled-back transaction fail.
    func testLatePrewriteAfterRollbackFails() async throws {
        let f = try Fixture()
        let rollback = await f.service.batchRollback(Kvrpcpb.BatchRollbackRequest(startVersion: 100, keys: [[3]]))
        XCTAssertNil(rollback.error)
        let response = await prewrite(f, 100, [put(3, [42])])
        XCTAssertEqual(response.errors.first?.conflict?.conflictTs, 100)
        try f.assertCounts(0, 0, 1)
    }
}
