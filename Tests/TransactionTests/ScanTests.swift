import TinyKVProto
import XCTest
@testable import Transaction

final class ScanTests: XCTestCase {
    /// TinyKV's scan fixture.
    private func fixture() throws -> Fixture {
        let f = try Fixture()
        var rows: [Row] = []
        func committed(_ key: [UInt8], _ start: UInt64, _ commit: UInt64, _ value: [UInt8]) {
            rows.append(.value(key, start, value))
            rows.append(.write(key, commit, .put, start: start))
        }
        committed([1], 80, 99, [50]); committed([1, 23], 80, 99, [55]); committed([3], 80, 99, [51])
        committed([3, 45], 80, 99, [56]); committed([3, 46], 80, 99, [57]); committed([3, 47], 80, 99, [58])
        committed([3, 48], 80, 99, [59]); committed([4], 80, 99, [52]); committed([120], 80, 99, [53]); committed([199], 80, 99, [54])
        committed([4, 45], 110, 116, [58]); committed([4, 46], 110, 116, [57]); committed([4, 47], 110, 116, [58]); committed([4, 48], 110, 116, [59])
        committed([5, 45], 97, 101, [60]); committed([5, 46], 97, 101, [61]); committed([5, 47], 97, 101, [62]); committed([5, 48], 97, 101, [63])
        committed([150], 80, 99, [42])
        rows.append(.write([150], 101, .delete, start: 97))
        committed([150], 110, 116, [64])
        try f.load(rows)
        return f
    }

    private func scan(_ f: Fixture, _ start: [UInt8], _ limit: UInt32, _ version: UInt64) async -> Kvrpcpb.ScanResponse {
        await f.service.scan(Kvrpcpb.ScanRequest(startKey: start, limit: limit, version: version))
    }

    func testEmptyAndLimitZero() async throws {
        let f = try fixture()
        var response = await scan(f, [200], 10000, 100)
        XCTAssertNil(response.regionError)
        XCTAssertTrue(response.pairs.isEmpty)
        response = await scan(f, [3], 0, 100)
        XCTAssertTrue(response.pairs.isEmpty)
    }

    func testAll() async throws {
        let f = try fixture()
        let response = await scan(f, [0], 10000, 100)
        XCTAssertEqual(response.pairs.count, 11)
        XCTAssertEqual(response.pairs.first, Kvrpcpb.KvPair(key: [1], value: [50]))
        XCTAssertEqual(response.pairs.last, Kvrpcpb.KvPair(key: [199], value: [54]))
        XCTAssertEqual(response.pairs.map(\.key), [[1], [1, 23], [3], [3, 45], [3, 46], [3, 47], [3, 48], [4], [120], [150], [199]])
    }

    func testLimit() async throws {
        let f = try fixture()
        let response = await scan(f, [2], 6, 100)
        XCTAssertEqual(response.pairs.count, 6)
        XCTAssertEqual(response.pairs[0], Kvrpcpb.KvPair(key: [3], value: [51]))
        XCTAssertEqual(response.pairs[5], Kvrpcpb.KvPair(key: [4], value: [52]))
    }

    func testDeletedThenReplaced() async throws {
        let f = try fixture()
        var response = await scan(f, [100], 10000, 100)
        XCTAssertEqual(response.pairs.count, 3)
        XCTAssertEqual(response.pairs[1], Kvrpcpb.KvPair(key: [150], value: [42]))
        response = await scan(f, [100], 10000, 105)
        XCTAssertEqual(response.pairs.map(\.key), [[120], [199]])
        response = await scan(f, [100], 10000, 120)
        XCTAssertEqual(response.pairs.count, 3)
        XCTAssertEqual(response.pairs[1], Kvrpcpb.KvPair(key: [150], value: [64]))
    }

    func testLaterVersionsVisibleAtLaterTs() async throws {
        let f = try fixture()
        let response = await scan(f, [4], 10000, 200)
        XCTAssertEqual(response.pairs.map(\.key), [[4], [4, 45], [4, 46], [4, 47], [4, 48], [5, 45], [5, 46], [5, 47], [5, 48], [120], [150], [199]])
    }

    /// Locked keys (including ones with no committed version yet) come back as errors and count toward the limit;
    /// locks newer than the scan are ignored; rollback records are skipped.
    func testLocksAndRollbacks() async throws {
        let f = try fixture()
        try f.load([.lock([3], primary: [3], ts: 95), .lock([3, 10], primary: [3], ts: 95), .lock([3, 45], primary: [9], ts: 150),
                    .write([3, 46], 100, .rollback, start: 100)])
        let response = await scan(f, [3], 4, 120)
        XCTAssertEqual(response.pairs.count, 4)
        XCTAssertEqual(response.pairs[0].key, [3])
        XCTAssertEqual(response.pairs[0].error?.locked, Kvrpcpb.LockInfo(primaryLock: [3], lockVersion: 95, key: [3], lockTtl: 0))
        XCTAssertTrue(response.pairs[0].value.isEmpty)
        XCTAssertEqual(response.pairs[1].key, [3, 10])
        XCTAssertNotNil(response.pairs[1].error?.locked)
        XCTAssertEqual(response.pairs[2], Kvrpcpb.KvPair(key: [3, 45], value: [56]))
        XCTAssertEqual(response.pairs[3], Kvrpcpb.KvPair(key: [3, 46], value: [57]))
    }
}
