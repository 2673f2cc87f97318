import XCTest
@testable import Codec

final class DatumCodecTests: XCTestCase {
    static let samples: [Datum] = [
        .null, .int(.min), .int(-1), .int(0), .int(.max), .uint(0), .uint(.max), .float(-1.5), .float(0), .float(3.25),
        .bytes([]), .string("hello"), .string("a string longer than eight bytes"), .decimal(SQLDecimal("-12.345")!),
        .decimal(SQLDecimal("0")!), .duration(-5_000_000_000), .time(1_234_567),
    ]

    func testValueRoundTrip() throws {
        for d in Self.samples {
            let encoded = try DatumCodec.encodeValue([d])
            var expected = d
            if case .time(let v) = d { expected = .uint(v) }  // packed times travel as uints
            XCTAssertEqual(try DatumCodec.decodeAll(encoded), [expected], "\(d)")
        }
        XCTAssertEqual(try DatumCodec.decodeAll(try DatumCodec.encodeValue(Self.samples)).count, Self.samples.count)
    }

    func testKeyRoundTrip() throws {
        for d in Self.samples {
            var expected = d
            if case .time(let v) = d { expected = .uint(v) }
            XCTAssertEqual(try DatumCodec.decodeAll(try DatumCodec.encodeKey([d])), [expected], "\(d)")
        }
    }

    func testValueFlags() throws {
        XCTAssertEqual(try DatumCodec.encodeValue([.null]), [0])
        XCTAssertEqual(try DatumCodec.encodeValue([.int(-1)]), [8, 1])
        XCTAssertEqual(try DatumCodec.encodeValue([.uint(300)]), [9, 0xAC, 0x02])
        XCTAssertEqual(try DatumCodec.encodeValue([.string("ab")]), [2, 4, 97, 98])
        XCTAssertEqual(try DatumCodec.encodeValue([.float(1)]).first, 5)
        XCTAssertEqual(try DatumCodec.encodeValue([.decimal(SQLDecimal("1.5")!)]), [6, 2, 1, 0x81, 0x05])
        XCTAssertEqual(try DatumCodec.encodeKey([.int(1)]), [3, 0x80, 0, 0, 0, 0, 0, 0, 1])
        XCTAssertEqual(try DatumCodec.encodeKey([.string("a")]), [1, 97, 0, 0, 0, 0, 0, 0, 0, 0xF8])
    }

    /// Comparable encodings of a column's values sort like the values, NULL first.
    func testKeyOrder() throws {
        let columns: [[Datum]] = [
            [.null, .int(.min), .int(-100), .int(0), .int(7), .int(.max)],
            [.null, .string(""), .string("a"), .string("aaaaaaaa"), .string("aaaaaaaaa"), .string("b")],
            [.null, .float(-10), .float(-0.5), .float(0), .float(2)],
            [.null, .uint(0), .uint(1 << 63), .uint(.max)],
        ]
        for values in columns {
            let keys = try values.map { try DatumCodec.encodeKey([$0]) }
            for i in 1..<keys.count { XCTAssertTrue(keys[i - 1].lexicographicallyPrecedes(keys[i]), "\(values[i - 1]) < \(values[i])") }
            for i in 1..<values.count { XCTAssertEqual(Datum.compare(values[i - 1], values[i]), -1) }
        }
    }

    func testCutOneAndErrors() throws {
        var b = try (DatumCodec.encodeKey([.string("abcdefghij"), .int(5)]))[...]
        let first = try DatumCodec.cutOne(&b)
        XCTAssertEqual(try DatumCodec.decodeAll(first), [.string("abcdefghij")])
        XCTAssertEqual(try DatumCodec.decodeAll(b), [.int(5)])
        XCTAssertThrowsError(try DatumCodec.decodeAll([10, 1]))
        XCTAssertThrowsError(try DatumCodec.decodeAll([3, 1, 2]))
    }

    func testCompareAcrossKinds() {
        XCTAssertEqual(Datum.compare(.int(-1), .uint(0)), -1)
        XCTAssertEqual(Datum.compare(.uint(.max), .int(.max)), 1)
        XCTAssertEqual(Datum.compare(.int(2), .float(2.0)), 0)
        XCTAssertEqual(Datum.compare(.int(2), .decimal(SQLDecimal("2.5")!)), -1)
        XCTAssertEqual(Datum.compare(.string("10"), .int(9)), 1)
        XCTAssertEqual(Datum.compare(.null, .int(.min)), -1)
        XCTAssertEqual(Datum.compare(.null, .null), 0)
    }
}
