import TinyKVProto
import XCTest
@testable import Transaction

final class CheckTxnStatusTests: XCTestCase {
    /// As in TinyKV's tests: lock ts physical 5 << 32 - ish, current ts one "unit" later (16384 ms).
    private let lockTs: UInt64 = 0x0000_0500_0000_0064
    private let currentTs: UInt64 = 0x0000_0600_0000_0064

    private func check(_ f: Fixture) async -> Kvrpcpb.CheckTxnStatusResponse {
        await f.service.checkTxnStatus(Kvrpcpb.CheckTxnStatusRequest(primaryKey: [3], lockTs: lockTs, currentTs: currentTs))
    }

    func testTTLExpired() async throws {
        let f = try Fixture()
        try f.load([.value([3], lockTs, [42]), .lock([3], primary: [3], ts: lockTs, ttl: 8)])
        let response = await check(f)
        XCTAssertNil(response.regionError)
        XCTAssertEqual(response.action, .ttlExpireRollback)
        XCTAssertEqual(response.lockTtl, 0)
        XCTAssertEqual(response.commitVersion, 0)
        try f.assertCounts(0, 0, 1)
        try f.assertRows([.write([3], lockTs, .rollback, start: lockTs)])
    }

    func testTTLNotExpired() async throws {
        let f = try Fixture()
        let ttl: UInt64 = 0x1_0000_0008
        try f.load([.value([3], lockTs, [42]), .lock([3], primary: [3], ts: lockTs, ttl: ttl)])
        let response = await check(f)
        XCTAssertEqual(response.action, .noAction)
        XCTAssertEqual(response.lockTtl, ttl)
        try f.assertCounts(1, 1, 0)
    }

    func testTTLBoundary() async throws {
        let f = try Fixture()
        // physical(lockTs) + ttl == physical(currentTs): expired.
        let ttl = Timestamp.physical(currentTs) - Timestamp.physical(lockTs)
        try f.load([.lock([3], primary: [3], ts: lockTs, ttl: ttl + 1)])
        var response = await check(f)
        XCTAssertEqual(response.action, .noAction)
        try f.load([.lock([3], primary: [3], ts: lockTs, ttl: ttl)])
        response = await check(f)
        XCTAssertEqual(response.action, .ttlExpireRollback)
    }

    /// Rolled back; the lock on the key belongs to a later transaction.
    func testRolledBack() async throws {
        let f = try Fixture()
        try f.load([.value([3], lockTs, [42]), .write([3], lockTs, .rollback, start: lockTs),
                    .lock([3], primary: [3], ts: 0x0000_0800_0000_0064, ttl: 8)])
        let response = await check(f)
        XCTAssertEqual(response.action, .noAction)
        XCTAssertEqual(response.commitVersion, 0)
        XCTAssertEqual(response.lockTtl, 0)
        try f.assertCounts(1, 1, 1)
    }

    func testCommitted() async throws {
        let f = try Fixture()
        try f.load([.value([3], lockTs, [42]), .write([3], lockTs + 5, .put, start: lockTs)])
        let response = await check(f)
        XCTAssertEqual(response.action, .noAction)
        XCTAssertEqual(response.commitVersion, lockTs + 5)
        try f.assertCounts(1, 0, 1)
    }

    func testNoLockNoWrite() async throws {
        let f = try Fixture()
        let response = await check(f)
        XCTAssertEqual(response.action, .lockNotExistRollback)
        try f.assertCounts(0, 0, 1)
        try f.assertRows([.write([3], lockTs, .rollback, start: lockTs)])
        // A late prewrite of that transaction now fails.
        let prewrite = await f.service.prewrite(Kvrpcpb.PrewriteRequest(mutations: [put(3, [1])], primaryLock: [3], startVersion: lockTs, lockTtl: 10))
        XCTAssertNotNil(prewrite.errors.first?.conflict)
    }
}
