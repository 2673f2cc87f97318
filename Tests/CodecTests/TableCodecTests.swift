import XCTest
@testable import Codec

final class TableCodecTests: XCTestCase {
    func testRowKey() throws {
        let key = TableCodec.rowKey(tableID: 45, handle: -3)
        XCTAssertEqual(key.count, 19)
        XCTAssertEqual(key[0], UInt8(ascii: "t"))
        XCTAssertEqual(Array(key[9..<11]), Array("_r".utf8))
        XCTAssertEqual(try TableCodec.decodeRowKey(key), -3)
        XCTAssertTrue(key.starts(with: TableCodec.recordPrefix(tableID: 45)))
        XCTAssertThrowsError(try TableCodec.decodeRowKey(Array(key.dropLast())))
        XCTAssertThrowsError(try TableCodec.decodeRowKey(TableCodec.indexPrefix(tableID: 45, indexID: 1)))
        // Handles sort numerically, negatives first.
        let keys = [Int64.min, -1, 0, 1, .max].map { TableCodec.rowKey(tableID: 45, handle: $0) }
        for i in 1..<keys.count { XCTAssertTrue(keys[i - 1].lexicographicallyPrecedes(keys[i])) }
    }

    func testIndexKeys() throws {
        let unique = try TableCodec.indexKey(tableID: 7, indexID: 2, values: [.string("bob")], handle: nil)
        var (values, rest) = try TableCodec.cutIndexKey(unique, columnCount: 1)
        XCTAssertEqual(try DatumCodec.decodeAll(values[0]), [.string("bob")])
        XCTAssertTrue(rest.isEmpty)
        XCTAssertEqual(TableCodec.uniqueIndexValue(handle: 9), [0, 0, 0, 0, 0, 0, 0, 9])

        let nonUnique = try TableCodec.indexKey(tableID: 7, indexID: 3, values: [.int(10), .null], handle: 42)
        (values, rest) = try TableCodec.cutIndexKey(nonUnique, columnCount: 2)
        XCTAssertEqual(try values.map { try DatumCodec.decodeAll($0) }, [[.int(10)], [.null]])
        XCTAssertEqual(try DatumCodec.decodeAll(rest), [.int(42)])
        XCTAssertThrowsError(try TableCodec.cutIndexKey(TableCodec.rowKey(tableID: 7, handle: 1), columnCount: 1))
    }

    func testPrefixNext() {
        XCTAssertEqual(TableCodec.prefixNext([1, 2]), [1, 3])
        XCTAssertEqual(TableCodec.prefixNext([1, 0xFF]), [2, 0])
        XCTAssertEqual(TableCodec.prefixNext([0xFF]), [0xFF, 0])
    }
}
