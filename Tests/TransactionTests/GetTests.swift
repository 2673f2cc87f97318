import TinyKVProto
import XCTest
@testable import Transaction

final class GetTests: XCTestCase {
    private func get(_ f: Fixture, _ key: [UInt8], _ version: UInt64) async -> Kvrpcpb.GetResponse {
        await f.service.get(Kvrpcpb.GetRequest(key: key, version: version))
    }

    func testValueAndEmpty() async throws {
        let f = try Fixture()
        var response = await get(f, [99], Timestamp.max)
        XCTAssertNil(response.regionError)
        XCTAssertNil(response.error)
        XCTAssertTrue(response.notFound)

        try f.load([.value([99], 50, [42]), .write([99], 54, .put, start: 50), .value([101], 50, [42]), .write([101], 54, .put, start: 50)])
        response = await get(f, [99], Timestamp.max)
        XCTAssertEqual(response.value, [42])
        XCTAssertFalse(response.notFound)
        response = await get(f, [100], Timestamp.max)
        XCTAssertTrue(response.notFound)
    }

    func testVersions() async throws {
        let f = try Fixture()
        try f.load([.value([99], 50, [42]), .write([99], 54, .put, start: 50),
                    .value([99], 60, [43]), .write([99], 66, .put, start: 60),
                    .value([99], 120, [44]), .write([99], 122, .put, start: 120)])
        let expected: [(UInt64, [UInt8]?)] = [(40, nil), (56, [42]), (60, [42]), (65, [42]), (66, [43]), (100, [43]), (122, [44])]
        for (version, value) in expected {
            let response = await get(f, [99], version)
            XCTAssertNil(response.error)
            XCTAssertEqual(response.notFound, value == nil, "at \(version)")
            if let value { XCTAssertEqual(response.value, value, "at \(version)") }
        }
    }

    func testDeletedAndRolledBackVersions() async throws {
        let f = try Fixture()
        try f.load([.value([99], 50, [42]), .write([99], 54, .put, start: 50),
                    .write([99], 66, .delete, start: 60),
                    .value([99], 120, [44]), .write([99], 122, .put, start: 120),
                    .write([99], 130, .rollback, start: 130)])
        let expected: [(UInt64, [UInt8]?)] = [(54, [42]), (60, [42]), (65, [42]), (66, nil), (67, nil), (122, [44]), (130, [44]), (200, [44])]
        for (version, value) in expected {
            let response = await get(f, [99], version)
            XCTAssertNil(response.error)
            XCTAssertEqual(response.notFound, value == nil, "at \(version)")
            if let value { XCTAssertEqual(response.value, value, "at \(version)") }
        }
    }

    func testLocked() async throws {
        let f = try Fixture()
        try f.load([.value([99], 50, [42]), .write([99], 54, .put, start: 50), .lock([99], primary: [99], ts: 200)])
        var response = await get(f, [99], 55)
        XCTAssertNil(response.error)
        XCTAssertEqual(response.value, [42])

        response = await get(f, [99], 300)
        XCTAssertNil(response.regionError)
        XCTAssertEqual(response.error?.locked, Kvrpcpb.LockInfo(primaryLock: [99], lockVersion: 200, key: [99], lockTtl: 0))

        response = await get(f, [99], 200)
        XCTAssertNotNil(response.error?.locked, "a lock at the read ts blocks")
    }

    /// A read at TsMax is only blocked by primary locks (TinyKV's IsLockedFor).
    func testMaxTsIgnoresSecondaryLocks() async throws {
        let f = try Fixture()
        try f.load([.value([7], 50, [1]), .write([7], 54, .put, start: 50), .lock([7], primary: [1], ts: 200),
                    .lock([1], primary: [1], ts: 200)])
        var response = await get(f, [7], Timestamp.max)
        XCTAssertNil(response.error)
        XCTAssertEqual(response.value, [1])
        response = await get(f, [1], Timestamp.max)
        XCTAssertNotNil(response.error?.locked)
    }
}
