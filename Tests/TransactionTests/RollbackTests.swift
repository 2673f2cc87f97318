import TinyKVProto
import XCTest
@testable import Transaction

final class RollbackTests: XCTestCase {
    private func rollback(_ f: Fixture, _ keys: [[UInt8]], start: UInt64 = 100) async -> Kvrpcpb.BatchRollbackResponse {
        await f.service.batchRollback(Kvrpcpb.BatchRollbackRequest(startVersion: start, keys: keys))
    }

    func testEmpty() async throws {
        let f = try Fixture()
        let response = await rollback(f, [])
        XCTAssertNil(response.error)
        try f.assertCounts(0, 0, 0)
    }

    func testRollback() async throws {
        let f = try Fixture()
        try f.load([.value([3], 100, [42]), .lock([3], primary: [1], ts: 100)])
        let response = await rollback(f, [[3]])
        XCTAssertNil(response.error)
        XCTAssertNil(response.regionError)
        try f.assertCounts(0, 0, 1)
        try f.assertRows([Row(cf: .write, key: [3], ts: 100, value: [3, 0, 0, 0, 0, 0, 0, 0, 100])])
    }

    func testDuplicateKeys() async throws {
        let f = try Fixture()
        try f.load([.value([3], 100, [42]), .lock([3], primary: [1], ts: 100), .value([15], 100, [0]), .lock([15], primary: [1], ts: 100)])
        let response = await rollback(f, [[3], [15], [3]])
        XCTAssertNil(response.error)
        try f.assertCounts(0, 0, 2)
        try f.assertRows([.write([3], 100, .rollback, start: 100), .write([15], 100, .rollback, start: 100)])
    }

    func testMissingPrewriteLeavesMarker() async throws {
        let f = try Fixture()
        let response = await rollback(f, [[3]])
        XCTAssertNil(response.error)
        try f.assertCounts(0, 0, 1)
        try f.assertRows([.write([3], 100, .rollback, start: 100)])
    }

    func testCommittedAborts() async throws {
        let f = try Fixture()
        try f.load([.value([3], 100, [42]), .write([3], 110, .put, start: 100)])
        let response = await rollback(f, [[3]])
        XCTAssertFalse(response.error?.abort.isEmpty ?? true)
        XCTAssertNil(response.regionError)
        try f.assertCounts(1, 0, 1)
    }

    func testRepeatIsNoOp() async throws {
        let f = try Fixture()
        try f.load([.write([3], 100, .rollback, start: 100)])
        let response = await rollback(f, [[3]])
        XCTAssertNil(response.error)
        try f.assertCounts(0, 0, 1)
    }

    /// The lock belongs to another transaction: it stays, and the marker is still written.
    func testOtherTransactionsLock() async throws {
        let f = try Fixture()
        try f.load([.value([3], 80, [42]), .lock([3], primary: [3], ts: 80)])
        let response = await rollback(f, [[3]])
        XCTAssertNil(response.error)
        try f.assertCounts(1, 1, 1)
        try f.assertRows([.lock([3], primary: [3], ts: 80), .write([3], 100, .rollback, start: 100)])
    }

    func testDeleteLockHasNoValueToRemove() async throws {
        let f = try Fixture()
        try f.load([.lock([3], primary: [3], ts: 100, kind: .delete)])
        let response = await rollback(f, [[3]])
        XCTAssertNil(response.error)
        try f.assertCounts(0, 0, 1)
    }
}
