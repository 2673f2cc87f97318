import XCTest
@testable import Codec

final class BytesCodecTests: XCTestCase {
    func testMemComparableLayout() {
        XCTAssertEqual(BytesCodec.encodeMemComparable([]), [0, 0, 0, 0, 0, 0, 0, 0, 0xF7])
        XCTAssertEqual(BytesCodec.encodeMemComparable([1, 2, 3]), [1, 2, 3, 0, 0, 0, 0, 0, 0xFA])
        XCTAssertEqual(BytesCodec.encodeMemComparable(Array(1...8)), Array(1...8) + [0xFF] + [0, 0, 0, 0, 0, 0, 0, 0, 0xF7])
        XCTAssertEqual(BytesCodec.encodeMemComparable(Array(1...9)), Array(1...8) + [0xFF, 9, 0, 0, 0, 0, 0, 0, 0, 0xF8])
    }

    func testMemComparableRoundTripAcrossGroups() throws {
        for n in [0, 1, 7, 8, 9, 15, 16, 17, 100] {
            let data = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 37) }
            var b = (BytesCodec.encodeMemComparable(data) + [42])[...]
            XCTAssertEqual(try BytesCodec.decodeMemComparable(&b), data, "length \(n)")
            XCTAssertEqual(Array(b), [42], "consumes exactly the encoding")
        }
    }

    func testMemComparableOrder() {
        let values: [[UInt8]] = [[], [0], [0, 0], [0, 1], [1], Array(repeating: 1, count: 8), Array(repeating: 1, count: 9), [1, 2], [0xFF], [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0]]
        for a in values {
            for b in values {
                XCTAssertEqual(a.lexicographicallyPrecedes(b), BytesCodec.encodeMemComparable(a).lexicographicallyPrecedes(BytesCodec.encodeMemComparable(b)), "\(a) vs \(b)")
            }
        }
    }

    func testMemComparableRejectsGarbage() {
        var truncated: ArraySlice<UInt8> = [1, 2, 3]
        XCTAssertThrowsError(try BytesCodec.decodeMemComparable(&truncated))
        var badMarker: ArraySlice<UInt8> = [0, 0, 0, 0, 0, 0, 0, 0, 0x10]
        XCTAssertThrowsError(try BytesCodec.decodeMemComparable(&badMarker))
        var badPadding: ArraySlice<UInt8> = [1, 2, 3, 0, 0, 0, 0, 9, 0xFA]
        XCTAssertThrowsError(try BytesCodec.decodeMemComparable(&badPadding))
    }

    func testCompactBytes() throws {
        for data in [[], [1], Array(repeating: UInt8(7), count: 300)] as [[UInt8]] {
            var out: [UInt8] = []
            BytesCodec.appendCompact(data, to: &out)
            var b = out[...]
            XCTAssertEqual(try BytesCodec.decodeCompact(&b), data)
        }
        var out: [UInt8] = []
        BytesCodec.appendCompact(Array("ab".utf8), to: &out)
        XCTAssertEqual(out, [4, 97, 98], "length as a zig-zag varint")
        var bad: ArraySlice<UInt8> = [10, 1]
        XCTAssertThrowsError(try BytesCodec.decodeCompact(&bad))
    }
}
