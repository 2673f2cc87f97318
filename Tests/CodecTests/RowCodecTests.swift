import XCTest
@testable import Codec

final class RowCodecTests: XCTestCase {
    func testSmallRowLayout() throws {
        // Column 1 = 1 (int), column 2 = NULL, column 3 = "ab".
        let row = try RowCodec.encode([(3, .string("ab")), (1, .int(1)), (2, .null)])
        XCTAssertEqual(row, [128, 0, 2, 0, 1, 0, 1, 3, 2, 1, 0, 3, 0, 1, 97, 98])
        let decoded = try RowCodec.decode(row)
        XCTAssertEqual(try decoded.datum(columnID: 1, as: .int), .int(1))
        XCTAssertEqual(try decoded.datum(columnID: 2, as: .int), .null)
        XCTAssertEqual(try decoded.datum(columnID: 3, as: .string), .string("ab"))
        XCTAssertNil(try decoded.datum(columnID: 4, as: .int), "absent column: caller uses the default")
    }

    func testValueKindsRoundTrip() throws {
        let columns: [(Int64, Datum, ValueClass)] = [
            (1, .int(-1), .int), (2, .int(-129), .int), (3, .int(40000), .int), (4, .int(.min), .int), (5, .int(.max), .int),
            (6, .uint(.max), .uint), (7, .uint(200), .uint), (8, .float(-2.5), .real), (9, .decimal(SQLDecimal("-123.45")!), .decimal),
            (10, .bytes([]), .string), (11, .string(String(repeating: "x", count: 100)), .string), (12, .time(123456789), .time),
            (13, .duration(-7), .duration),
        ]
        let row = try RowCodec.encode(columns.map { ($0.0, $0.1) })
        let decoded = try RowCodec.decode(row)
        for (id, value, cls) in columns { XCTAssertEqual(try decoded.datum(columnID: id, as: cls), value, "column \(id)") }
    }

    func testLargeRow() throws {
        let long = Array(repeating: UInt8(ascii: "z"), count: 70_000)
        let row = try RowCodec.encode([(300, .int(5)), (1, .bytes(long)), (2, .null)])
        XCTAssertEqual(row[1] & 1, 1, "large flag")
        let decoded = try RowCodec.decode(row)
        XCTAssertEqual(try decoded.datum(columnID: 300, as: .int), .int(5))
        XCTAssertEqual(try decoded.datum(columnID: 1, as: .string), .bytes(long))
        XCTAssertEqual(try decoded.datum(columnID: 2, as: .string), .null)
    }

    func testOldFormatAndEmpty() throws {
        let old = try DatumCodec.encodeValue([.int(1), .int(7), .int(2), .string("x"), .int(3), .null])
        let decoded = try RowCodec.decode(old)
        XCTAssertEqual(try decoded.datum(columnID: 1, as: .int), .int(7))
        XCTAssertEqual(try decoded.datum(columnID: 2, as: .string), .string("x"))
        XCTAssertEqual(try decoded.datum(columnID: 3, as: .int), .null)
        XCTAssertNil(try RowCodec.decode([0]).datum(columnID: 1, as: .int))
        XCTAssertNil(try RowCodec.decode([]).datum(columnID: 1, as: .int))
    }

    func testMalformedRows() {
        XCTAssertThrowsError(try RowCodec.decode([128, 0, 5, 0]))
        XCTAssertThrowsError(try RowCodec.decode([128, 0, 1, 0, 0, 0, 1, 9, 0]))
        XCTAssertThrowsError(try RowCodec.decode([128, 0, 1, 0, 0, 0, 1, 3, 0, 1, 2, 3]).datum(columnID: 1, as: .int))
    }
}
