import XCTest
@testable import Codec

final class DecimalTests: XCTestCase {
    func d(_ s: String) -> SQLDecimal { SQLDecimal(s)! }

    func testParseAndPrint() {
        for s in ["0", "1", "-1", "12.34", "-0.05", "1234567890.1234", "0.000000001", "99999999999999999999999999999999999999"] {
            XCTAssertEqual(d(s).description, s)
        }
        XCTAssertEqual(d("+.5").description, "0.5")
        XCTAssertNil(SQLDecimal("abc"))
        XCTAssertNil(SQLDecimal("1.2.3"))
        XCTAssertNil(SQLDecimal(""))
    }

    /// The example of MySQL's manual (decimal storage): DECIMAL(14,4) 1234567890.1234.
    func testBinaryMatchesMySQL() throws {
        var out: [UInt8] = []
        try DecimalBinary.append(d("1234567890.1234"), precision: 14, frac: 4, to: &out)
        XCTAssertEqual(out, [0x81, 0x0D, 0xFB, 0x38, 0xD2, 0x04, 0xD2])
        out = []
        try DecimalBinary.append(d("-1234567890.1234"), precision: 14, frac: 4, to: &out)
        XCTAssertEqual(out, [0x7E, 0xF2, 0x04, 0xC7, 0x2D, 0xFB, 0x2D])
        XCTAssertEqual(DecimalBinary.size(precision: 14, frac: 4), 7)
    }

    func testBinaryRoundTripAndOrder() throws {
        let values = ["-99999.999", "-1.5", "-0.001", "0", "0.001", "1", "1.5", "12345.678", "99999.999"].map(d)
        var encoded: [[UInt8]] = []
        for v in values {
            var out: [UInt8] = []
            try DecimalBinary.append(v, precision: 8, frac: 3, to: &out)
            var b = out[...]
            XCTAssertEqual(try DecimalBinary.decode(&b, precision: 8, frac: 3), v)
            encoded.append(out)
        }
        for i in 1..<encoded.count { XCTAssertTrue(encoded[i - 1].lexicographicallyPrecedes(encoded[i]), "\(values[i])") }
        // Wide columns with small values, and many fraction words.
        for (s, p, f) in [("123", 65, 0), ("-0.123456789012", 30, 20), ("18446744073709551615", 20, 0)] {
            var out: [UInt8] = []
            try DecimalBinary.append(d(s), precision: p, frac: f, to: &out)
            var b = out[...]
            XCTAssertEqual(try DecimalBinary.decode(&b, precision: p, frac: f), d(s))
        }
        var out: [UInt8] = []
        XCTAssertThrowsError(try DecimalBinary.append(d("1000"), precision: 3, frac: 0, to: &out))
    }

    func testArithmetic() throws {
        XCTAssertEqual(try d("1.5").adding(d("2.25")), d("3.75"))
        XCTAssertEqual(try d("1.5").subtracting(d("2.25")), d("-0.75"))
        XCTAssertEqual(try d("1.5").multiplied(by: d("-2")), d("-3.0"))
        XCTAssertEqual(try d("1").divided(by: d("3")), d("0.3333"))
        XCTAssertEqual(try d("2").divided(by: d("3")), d("0.6667"))
        XCTAssertNil(try d("2").divided(by: .zero))
        XCTAssertEqual(try d("2.5").rescaled(to: 0), d("3"))
        XCTAssertEqual(try d("-2.5").rescaled(to: 0), d("-3"))
        XCTAssertEqual(d("-2.5").integral(roundingUp: false), d("-3"))
        XCTAssertEqual(d("-2.5").integral(roundingUp: true), d("-2"))
        XCTAssertEqual(d("1.0"), d("1.00"))
        XCTAssertEqual(d("1.0").hashValue, d("1.00").hashValue)
        XCTAssertLessThan(d("-1"), d("0.5"))
        XCTAssertThrowsError(try d("99999999999999999999999999999999999999").adding(d("99999999999999999999999999999999999999")))
        XCTAssertEqual(SQLDecimal(0.5), d("0.5"))
        XCTAssertEqual(SQLDecimal(1e20)?.description, "100000000000000000000")
        XCTAssertEqual(d("12.30").precisionAndFrac.precision, 4)
        XCTAssertEqual(d("0.5").precisionAndFrac.precision, 1)
        XCTAssertEqual(SQLDecimal.zero.precisionAndFrac.precision, 1)
    }
}
