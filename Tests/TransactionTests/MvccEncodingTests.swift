import XCTest
@testable import Transaction

final class MvccEncodingTests: XCTestCase {
    func testMemcomparableVectors() {
        XCTAssertEqual(MvccKey.encodeBytes([]), [0, 0, 0, 0, 0, 0, 0, 0, 0xF7])
        XCTAssertEqual(MvccKey.encodeBytes([1, 2, 3]), [1, 2, 3, 0, 0, 0, 0, 0, 0xFA])
        XCTAssertEqual(MvccKey.encodeBytes([1, 2, 3, 4, 5, 6, 7, 8]),
                       [1, 2, 3, 4, 5, 6, 7, 8, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0xF7])
        XCTAssertEqual(MvccKey.encodeBytes([1, 2, 3, 4, 5, 6, 7, 8, 9]),
                       [1, 2, 3, 4, 5, 6, 7, 8, 0xFF, 9, 0, 0, 0, 0, 0, 0, 0, 0xF8])
    }

    func testEncodeKeyAppendsInvertedBigEndianTs() {
        XCTAssertEqual(MvccKey.encode([3], ts: 1),
                       [3, 0, 0, 0, 0, 0, 0, 0, 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE])
    }

    func testRoundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let key = (0..<Int.random(in: 0...20, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let ts = UInt64.random(in: 0...UInt64.max, using: &generator)
            let (decodedKey, decodedTs) = try MvccKey.decode(MvccKey.encode(key, ts: ts))
            XCTAssertEqual(decodedKey, key)
            XCTAssertEqual(decodedTs, ts)
        }
        XCTAssertThrowsError(try MvccKey.decode([1, 2, 3]))
        XCTAssertThrowsError(try MvccKey.decode([1, 0, 0, 0, 0, 0, 0, 9, 0xF8, 0, 0, 0, 0, 0, 0, 0, 0]))  // nonzero padding
    }

    /// Encoded keys sort by user key ascending, then by ts descending.
    func testOrder() {
        let keys: [[UInt8]] = [[], [0], [0, 0], [1], [1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8, 0],
                               [1, 2, 3, 4, 5, 6, 7, 9], [1, 3], [2], [0xFF], [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]]
        let timestamps: [UInt64] = [UInt64.max, 1 << 40, 300, 2, 1, 0]
        var expected: [[UInt8]] = []
        for key in keys { for ts in timestamps { expected.append(MvccKey.encode(key, ts: ts)) } }
        let sorted = expected.shuffled().sorted { $0.lexicographicallyPrecedes($1) }
        XCTAssertEqual(sorted, expected)
        for key in keys {
            let end = MvccKey.versionsEnd(key)
            XCTAssertTrue(MvccKey.encode(key, ts: 0).lexicographicallyPrecedes(end))
            for other in keys where key.lexicographicallyPrecedes(other) {
                XCTAssertTrue(end.lexicographicallyPrecedes(MvccKey.encode(other, ts: .max)))
            }
        }
    }

    /// The byte layouts of TinyKV's tests.
    func testLockAndWriteBytes() throws {
        let lock = Lock(primary: [1], ts: 100, ttl: 1000, kind: .put)
        XCTAssertEqual(lock.encode(), [1, 1, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 3, 232])
        XCTAssertEqual(try Lock(decoding: lock.encode()), lock)
        let empty = Lock(primary: [], ts: 7, ttl: 0, kind: .delete)
        XCTAssertEqual(try Lock(decoding: empty.encode()), empty)
        XCTAssertThrowsError(try Lock(decoding: [1, 2, 3]))

        let write = Write(startTs: 50, kind: .put)
        XCTAssertEqual(write.encode(), [1, 0, 0, 0, 0, 0, 0, 0, 50])
        XCTAssertEqual(try Write(decoding: [3, 0, 0, 0, 0, 0, 0, 0, 99]), Write(startTs: 99, kind: .rollback))
        XCTAssertThrowsError(try Write(decoding: [9, 0, 0, 0, 0, 0, 0, 0, 1]))
        XCTAssertThrowsError(try Write(decoding: [1, 0]))
    }

    func testLockExpiryUsesPhysicalMilliseconds() {
        let lockTs = Timestamp.compose(physical: 1000, logical: 5)
        let lock = Lock(primary: [1], ts: lockTs, ttl: 10, kind: .put)
        XCTAssertFalse(lock.isExpired(at: Timestamp.compose(physical: 1009, logical: 200)))
        XCTAssertTrue(lock.isExpired(at: Timestamp.compose(physical: 1010, logical: 0)))
        XCTAssertFalse(Lock(primary: [1], ts: lockTs, ttl: .max, kind: .put).isExpired(at: .max))
        XCTAssertEqual(Timestamp.physical(lockTs), 1000)
    }
}
