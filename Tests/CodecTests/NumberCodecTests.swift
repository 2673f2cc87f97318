import XCTest
@testable import Codec

final class NumberCodecTests: XCTestCase {
    static let ints: [Int64] = [.min, .min + 1, -1 << 40, -256, -1, 0, 1, 127, 128, 255, 256, 1 << 40, .max - 1, .max]

    func testComparableIntRoundTripAndOrder() throws {
        var encoded: [[UInt8]] = []
        for v in Self.ints {
            var out: [UInt8] = []
            NumberCodec.appendComparableInt(v, to: &out)
            XCTAssertEqual(out.count, 8)
            var b = out[...]
            XCTAssertEqual(try NumberCodec.decodeComparableInt(&b), v)
            XCTAssertTrue(b.isEmpty)
            encoded.append(out)
        }
        for i in 1..<encoded.count { XCTAssertTrue(encoded[i - 1].lexicographicallyPrecedes(encoded[i]), "\(Self.ints[i])") }
        var zero: [UInt8] = []
        NumberCodec.appendComparableInt(0, to: &zero)
        XCTAssertEqual(zero, [0x80, 0, 0, 0, 0, 0, 0, 0], "sign bit flipped")
    }

    func testComparableUint() throws {
        let values: [UInt64] = [0, 1, 255, 1 << 63, .max]
        var previous: [UInt8]?
        for v in values {
            var out: [UInt8] = []
            NumberCodec.appendComparableUint(v, to: &out)
            var b = out[...]
            XCTAssertEqual(try NumberCodec.decodeComparableUint(&b), v)
            if let previous { XCTAssertTrue(previous.lexicographicallyPrecedes(out)) }
            previous = out
        }
    }

    func testComparableFloatOrder() throws {
        let values: [Double] = [-.infinity, -1e300, -2.5, -1, -Double.leastNonzeroMagnitude, 0, Double.leastNonzeroMagnitude, 1, 2.5, 1e300, .infinity]
        var previous: [UInt8]?
        for v in values {
            var out: [UInt8] = []
            NumberCodec.appendComparableFloat(v, to: &out)
            var b = out[...]
            XCTAssertEqual(try NumberCodec.decodeComparableFloat(&b), v)
            if let previous { XCTAssertTrue(previous.lexicographicallyPrecedes(out), "\(v)") }
            previous = out
        }
    }

    func testVarints() throws {
        for v in Self.ints {
            var out: [UInt8] = []
            NumberCodec.appendVarint(v, to: &out)
            var b = out[...]
            XCTAssertEqual(try NumberCodec.decodeVarint(&b), v)
            XCTAssertTrue(b.isEmpty)
        }
        // Go's PutVarint: zig-zag.
        var out: [UInt8] = []
        NumberCodec.appendVarint(-1, to: &out)
        NumberCodec.appendVarint(1, to: &out)
        NumberCodec.appendVarint(64, to: &out)
        XCTAssertEqual(out, [0x01, 0x02, 0x80, 0x01])
        for v: UInt64 in [0, 127, 128, 300, .max] {
            var o: [UInt8] = []
            NumberCodec.appendUvarint(v, to: &o)
            var b = o[...]
            XCTAssertEqual(try NumberCodec.decodeUvarint(&b), v)
        }
        var truncated: ArraySlice<UInt8> = [0x80]
        XCTAssertThrowsError(try NumberCodec.decodeUvarint(&truncated))
        var short: ArraySlice<UInt8> = [1, 2, 3]
        XCTAssertThrowsError(try NumberCodec.decodeComparableInt(&short))
    }
}
