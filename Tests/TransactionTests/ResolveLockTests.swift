import TinyKVProto
import XCTest
@testable import Transaction

final class ResolveLockTests: XCTestCase {
    private func resolve(_ f: Fixture, start: UInt64, commit: UInt64) async -> Kvrpcpb.ResolveLockResponse {
        await f.service.resolveLock(Kvrpcpb.ResolveLockRequest(startVersion: start, commitVersion: commit))
    }

    private let locked: [Row] = [
        .value([3], 100, [42]), .lock([3], primary: [3], ts: 100),
        .value([7], 100, [43]), .lock([7], primary: [3], ts: 100),
        .value([200], 110, [44]), .lock([200], primary: [200], ts: 110),
    ]

    private let written: [Row] = [
        .value([3], 100, [42]), .write([201], 120, .put, start: 100),
        .value([7], 100, [43]), .write([201], 100, .rollback, start: 100),
        .value([200], 110, [44]), .lock([200], primary: [200], ts: 110),
    ]

    func testEmpty() async throws {
        let f = try Fixture()
        let response = await resolve(f, start: 0, commit: 0)
        XCTAssertNil(response.error)
        XCTAssertNil(response.regionError)
        try f.assertCounts(0, 0, 0)
    }

    func testCommit() async throws {
        let f = try Fixture()
        try f.load(locked)
        let response = await resolve(f, start: 100, commit: 120)
        XCTAssertNil(response.error)
        try f.assertCounts(3, 1, 2)
        try f.assertRows([.write([3], 120, .put, start: 100), .write([7], 120, .put, start: 100), .lock([200], primary: [200], ts: 110)])
    }

    func testRollback() async throws {
        let f = try Fixture()
        try f.load(locked)
        let response = await resolve(f, start: 100, commit: 0)
        XCTAssertNil(response.error)
        try f.assertCounts(1, 1, 2)
        try f.assertRows([.write([3], 100, .rollback, start: 100), .write([7], 100, .rollback, start: 100), .value([200], 110, [44])])
    }

    func testCommitWritten() async throws {
        let f = try Fixture()
        try f.load(written)
        let response = await resolve(f, start: 100, commit: 120)
        XCTAssertNil(response.error)
        try f.assertCounts(3, 1, 2)
    }

    func testRollbackWritten() async throws {
        let f = try Fixture()
        try f.load(written)
        let response = await resolve(f, start: 100, commit: 0)
        XCTAssertNil(response.error)
        try f.assertCounts(3, 1, 2)
    }
}
