import TinyKVProto
import XCTest
@testable import Transaction

final class CommitTests: XCTestCase {
    private func commit(_ f: Fixture, _ keys: [[UInt8]], start: UInt64 = 100, commit: UInt64 = 110) async -> Kvrpcpb.CommitResponse {
        await f.service.commit(Kvrpcpb.CommitRequest(startVersion: start, keys: keys, commitVersion: commit))
    }

    func testEmpty() async throws {
        let f = try Fixture()
        let response = await commit(f, [])
        XCTAssertNil(response.error)
        XCTAssertNil(response.regionError)
        try f.assertCounts(0, 0, 0)
    }

    func testSingle() async throws {
        let f = try Fixture()
        try f.load([.value([3], 100, [42]), .lock([3], primary: [1], ts: 100)])
        let response = await commit(f, [[3]])
        XCTAssertNil(response.error)
        try f.assertCounts(1, 0, 1)
        try f.assertRows([Row(cf: .write, key: [3], ts: 110, value: [1, 0, 0, 0, 0, 0, 0, 0, 100]), .value([3], 100, [42])])
    }

    func testDeleteLockCommitsAsDelete() async throws {
        let f = try Fixture()
        try f.load([.lock([3], primary: [3], ts: 100, kind: .delete)])
        let response = await commit(f, [[3]])
        XCTAssertNil(response.error)
        try f.assertRows([.write([3], 110, .delete, start: 100)])
    }

    func testOverwrite() async throws {
        let f = try Fixture()
        try f.load([.value([3], 80, [15]), .write([3], 84, .put, start: 80), .value([3], 100, [42]), .lock([3], primary: [1], ts: 100)])
        let response = await commit(f, [[3]])
        XCTAssertNil(response.error)
        try f.assertCounts(2, 0, 2)
        try f.assertRows([.write([3], 110, .put, start: 100), .write([3], 84, .put, start: 80)])
    }

    func testMultipleKeysLeavesOthersUntouched() async throws {
        let f = try Fixture()
        try f.load([
            .value([3], 100, [42]), .lock([3], primary: [1], ts: 100),
            .value([12, 4, 0], 100, [1, 1, 0, 0, 1, 5]), .lock([12, 4, 0], primary: [1], ts: 100),
            .value([15], 100, [0]), .lock([15], primary: [1], ts: 100),
            .value([4], 80, [15]), .write([4], 84, .put, start: 80),
            .value([3, 0], 80, [150]), .write([3, 0], 84, .put, start: 80),
            .value([2], 99, [0, 0, 0, 8]), .lock([2], primary: [2], ts: 99),
            .value([43, 6], 99, [1, 1, 0, 0, 1, 5]), .lock([43, 6], primary: [2], ts: 99),
        ])
        let response = await commit(f, [[3], [12, 4, 0], [15]])
        XCTAssertNil(response.error)
        try f.assertCounts(7, 2, 5)
        try f.assertRows([.write([3], 110, .put, start: 100), .write([12, 4, 0], 110, .put, start: 100), .write([15], 110, .put, start: 100),
                          .lock([2], primary: [2], ts: 99), .lock([43, 6], primary: [2], ts: 99)])
    }

    func testDuplicateKeys() async throws {
        let f = try Fixture()
        try f.load([.value([3], 100, [42]), .lock([3], primary: [1], ts: 100)])
        let response = await commit(f, [[3], [3]])
        XCTAssertNil(response.error)
        try f.assertCounts(1, 0, 1)
    }

    /// Committing a rolled-back transaction fails with an abort error and changes nothing.
    func testAfterRollback() async throws {
        let f = try Fixture()
        try f.load([.write([3], 100, .rollback, start: 100)])
        let response = await commit(f, [[3]])
        XCTAssertFalse(response.error?.abort.isEmpty ?? true)
        XCTAssertNil(response.regionError)
        try f.assertCounts(0, 0, 1)
    }

    /// The key is locked by another transaction: retryable, nothing changes.
    func testLockedByOther() async throws {
        let f = try Fixture()
        try f.load([.value([3], 90, [110]), .lock([3], primary: [3], ts: 90)])
        let response = await commit(f, [[3]])
        XCTAssertFalse(response.error?.retryable.isEmpty ?? true)
        try f.assertCounts(1, 1, 0)
    }

    /// The same commit received twice: the second is a no-op success.
    func testRepeat() async throws {
        let f = try Fixture()
        try f.load([.value([3], 100, [42]), .write([3], 110, .put, start: 100)])
        let response = await commit(f, [[3]])
        XCTAssertNil(response.error)
        try f.assertCounts(1, 0, 1)
    }

    /// A commit with neither lock nor record (lost prewrite) succeeds without writing (TinyKV).
    func testMissingPrewrite() async throws {
        let f = try Fixture()
        try f.load([.value([4], 80, [15]), .write([4], 84, .put, start: 80)])
        let response = await commit(f, [[3]])
        XCTAssertNil(response.error)
        try f.assertCounts(1, 0, 1)
    }

    /// One failing key stops the whole commit: no key of the request is written.
    func testErrorWritesNothing() async throws {
        let f = try Fixture()
        try f.load([.value([3], 100, [42]), .lock([3], primary: [3], ts: 100), .write([5], 100, .rollback, start: 100)])
        let response = await commit(f, [[3], [5]])
        XCTAssertNotNil(response.error)
        try f.assertCounts(1, 1, 1)
    }

    func testCommitTsMustFollowStartTs() async throws {
        let f = try Fixture()
        try f.load([.value([3], 100, [42]), .lock([3], primary: [3], ts: 100)])
        let response = await commit(f, [[3]], start: 100, commit: 100)
        XCTAssertFalse(response.error?.abort.isEmpty ?? true)
        try f.assertCounts(1, 1, 0)
    }
}
