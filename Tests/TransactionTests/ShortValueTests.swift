import TinyKVProto
import XCTest
@testable import Transaction

/// Values kept in lock and write records (``ShortValue``): the layout, every command's path, and
/// records written before short values existed.
final class ShortValueTests: XCTestCase {
    private func fixture() throws -> Fixture { try Fixture(shortValueMaxLength: ShortValue.maxLength) }

    private func prewrite(_ f: Fixture, _ mutations: [Kvrpcpb.Mutation], primary: UInt8 = 1, start: UInt64 = 100) async -> Kvrpcpb.PrewriteResponse {
        await f.service.prewrite(Kvrpcpb.PrewriteRequest(mutations: mutations, primaryLock: [primary], startVersion: start, lockTtl: 1000))
    }

    private func get(_ f: Fixture, _ key: UInt8, at ts: UInt64) async -> Kvrpcpb.GetResponse {
        await f.service.get(Kvrpcpb.GetRequest(key: [key], version: ts))
    }

    // MARK: Encoding

    func testRecordsRoundTripWithAndWithoutShortValues() throws {
        for value in [nil, [], [7], [UInt8](repeating: 9, count: ShortValue.maxLength)] as [[UInt8]?] {
            for primary in [[], [1], [UInt8](repeating: 2, count: 40)] as [[UInt8]] {
                let lock = Lock(primary: primary, ts: 1 << 40 | 5, ttl: 3000, kind: .put, shortValue: value)
                XCTAssertEqual(try Lock(decoding: lock.encode()), lock)
            }
            let write = Write(startTs: 77, kind: .put, shortValue: value)
            XCTAssertEqual(try Write(decoding: write.encode()), write)
        }
    }

    /// Records written before short values existed read as before; a flagged record whose length
    /// field overruns it is refused, not misread.
    func testOldRecordsDecodeAndMalformedOnesAreRefused() throws {
        let oldLock: [UInt8] = [1] + [1] + [0, 0, 0, 0, 0, 0, 0, 100] + [0, 0, 0, 0, 0, 0, 3, 232]
        XCTAssertEqual(try Lock(decoding: oldLock), Lock(primary: [1], ts: 100, ttl: 1000, kind: .put))
        XCTAssertEqual(try Write(decoding: [1, 0, 0, 0, 0, 0, 0, 0, 100]), Write(startTs: 100, kind: .put))

        let overrun: [UInt8] = [1, 2] + [0, 0, 0, 9] + [0x81] + [UInt8](repeating: 0, count: 16)
        XCTAssertThrowsError(try Lock(decoding: overrun))
        XCTAssertThrowsError(try Write(decoding: [1, 0, 0, 0, 0, 0, 0, 0, 100, 5]), "a value without the flag")
        XCTAssertThrowsError(try Write(decoding: [0x85, 0, 0, 0, 0, 0, 0, 0, 100]), "an unknown kind under the flag")
    }

    // MARK: Commands

    func testShortValueStaysOutOfDefaultThroughPrewriteCommitAndGet() async throws {
        let f = try fixture()
        let prewritten = await prewrite(f, [put(1, [42]), put(2, [43])])
        XCTAssertTrue(prewritten.errors.isEmpty)
        try f.assertCounts(0, 2, 0)
        try f.assertRows([.lock([2], primary: [1], ts: 100, ttl: 1000, shortValue: [43])])

        let committed = await f.service.commit(Kvrpcpb.CommitRequest(startVersion: 100, keys: [[1], [2]], commitVersion: 110))
        XCTAssertNil(committed.error)
        try f.assertCounts(0, 0, 2)
        try f.assertRows([.write([2], 110, .put, start: 100, shortValue: [43])])

        let read = await get(f, 2, at: 120)
        XCTAssertEqual(read.value, [43])
        XCTAssertFalse(read.notFound)
        let before = await get(f, 2, at: 105)
        XCTAssertTrue(before.notFound)
    }

    /// A value one byte over the limit goes to `default`; an empty value is short.
    func testTheLimitAndEmptyValues() async throws {
        let f = try fixture()
        let long = [UInt8](repeating: 5, count: ShortValue.maxLength + 1)
        _ = await prewrite(f, [put(1, []), put(2, long)])
        try f.assertCounts(1, 2, 0)
        try f.assertRows([.value([2], 100, long), .lock([1], primary: [1], ts: 100, ttl: 1000, shortValue: [])])
        _ = await f.service.commit(Kvrpcpb.CommitRequest(startVersion: 100, keys: [[1], [2]], commitVersion: 110))
        let empty = await get(f, 1, at: 120)
        XCTAssertEqual(empty.value, [])
        XCTAssertFalse(empty.notFound)
        let stored = await get(f, 2, at: 120)
        XCTAssertEqual(stored.value, long)
    }

    func testScanReadsShortAndLongValuesInOrder() async throws {
        let f = try fixture()
        let long = [UInt8](repeating: 6, count: 300)
        _ = await prewrite(f, [put(1, [1]), put(2, long), put(3, [3])])
        _ = await f.service.commit(Kvrpcpb.CommitRequest(startVersion: 100, keys: [[1], [2], [3]], commitVersion: 110))
        let scanned = await f.service.scan(Kvrpcpb.ScanRequest(startKey: [0], limit: 10, version: 120))
        XCTAssertEqual(scanned.pairs.map(\.key), [[1], [2], [3]])
        XCTAssertEqual(scanned.pairs.map(\.value), [[1], long, [3]])
    }

    /// Rolled back (by BatchRollback, or by CheckTxnStatus after the TTL) and resolved locks
    /// leave no value behind; a resolved commit carries the short value into the write record.
    func testRollbackAndResolveOfShortValueLocks() async throws {
        let f = try fixture()
        _ = await prewrite(f, [put(1, [1]), put(2, [2])])
        let rolledBack = await f.service.batchRollback(Kvrpcpb.BatchRollbackRequest(startVersion: 100, keys: [[2]]))
        XCTAssertNil(rolledBack.error)
        let resolved = await f.service.resolveLock(Kvrpcpb.ResolveLockRequest(startVersion: 100, commitVersion: 0))
        XCTAssertNil(resolved.error)
        try f.assertCounts(0, 0, 2)
        let gone = await get(f, 1, at: 200)
        XCTAssertTrue(gone.notFound)

        _ = await prewrite(f, [put(3, [33]), put(4, [44])], primary: 3, start: 300)
        let committed = await f.service.resolveLock(Kvrpcpb.ResolveLockRequest(startVersion: 300, commitVersion: 310))
        XCTAssertNil(committed.error)
        try f.assertRows([.write([4], 310, .put, start: 300, shortValue: [44])])
        let read = await get(f, 4, at: 320)
        XCTAssertEqual(read.value, [44])
    }

    /// Data written in TinyKV's layout (value in `default`) reads the same next to short values.
    func testOldLayoutAndShortValuesSideBySide() async throws {
        let f = try fixture()
        try f.load([.value([3], 80, [15]), .write([3], 84, .put, start: 80)])
        _ = await prewrite(f, [put(3, [16])], primary: 3, start: 100)
        let old = await get(f, 3, at: 90)
        XCTAssertEqual(old.value, [15])
        _ = await f.service.commit(Kvrpcpb.CommitRequest(startVersion: 100, keys: [[3]], commitVersion: 110))
        let new = await get(f, 3, at: 120)
        XCTAssertEqual(new.value, [16])
        let stillOld = await get(f, 3, at: 90)
        XCTAssertEqual(stillOld.value, [15])
    }
}
