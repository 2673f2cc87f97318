import Raft
import Storage
import XCTest

/// The memcomparable encoding, its decoding, and the raw bounds derived from encoded bounds.
final class KeySpaceTests: XCTestCase {
    /// Bytes that sit on the encoding's edges: padding, markers and their neighbours.
    private static let alphabet: [UInt8] = [0x00, 0x01, 0x61, 0xF6, 0xF7, 0xF8, 0xFE, 0xFF]

    private func randomBytes(_ rng: inout SeededGenerator, maxCount: Int) -> [UInt8] {
        (0..<Int.random(in: 0...maxCount, using: &rng)).map { _ in Self.alphabet.randomElement(using: &rng)! }
    }

    func testEncodeDecodeRoundTripAndOrder() {
        var rng = SeededGenerator(seed: 1)
        var keys: [[UInt8]] = [[], [0], [0, 0, 0, 0, 0, 0, 0, 0], Array("abcdefgh".utf8), Array("abcdefghi".utf8)]
        for _ in 0..<500 { keys.append(randomBytes(&rng, maxCount: 20)) }
        for key in keys {
            let encoded = MemComparable.encode(key)
            XCTAssertEqual(MemComparable.decode(encoded), key)
            XCTAssertEqual(encoded.count % 9, 0)
            XCTAssertNil(MemComparable.decode(encoded + [0]), "trailing bytes are not one encoded key")
            XCTAssertNil(MemComparable.decode(Array(encoded.dropLast())))
            XCTAssertEqual(MemComparable.decodePrefix(encoded + [1, 2, 3])?.length, encoded.count)
            XCTAssertEqual(MemComparable.encodedLength(encoded + [1, 2, 3]), encoded.count)
        }
        for _ in 0..<3000 {
            let junk = randomBytes(&rng, maxCount: 30)
            XCTAssertEqual(MemComparable.encodedLength(junk), MemComparable.decodePrefix(junk)?.length, "\(junk)")
        }
        for _ in 0..<2000 {
            let a = keys.randomElement(using: &rng)!, b = keys.randomElement(using: &rng)!
            XCTAssertEqual(a.lexicographicallyPrecedes(b), MemComparable.encode(a).lexicographicallyPrecedes(MemComparable.encode(b)))
        }
        // TiDB's EncodeBytes examples.
        XCTAssertEqual(MemComparable.encode([]), [0, 0, 0, 0, 0, 0, 0, 0, 0xF7])
        XCTAssertEqual(MemComparable.encode([1, 2, 3]), [1, 2, 3, 0, 0, 0, 0, 0, 0xFA])
        XCTAssertNil(MemComparable.decode([1, 2, 3, 0, 0, 0, 0, 1, 0xFA]), "non-zero padding")
        XCTAssertNil(MemComparable.decode([1, 2, 3, 0, 0, 0, 0, 0, 0xF0]), "marker below 0xF7")
        XCTAssertNil(MemComparable.decode(Array("k00005".utf8)))
    }

    /// `smallestKey(encodedAtLeast:)` is an exact bound: `encode(k) >= b` iff `k >= smallestKey(b)`,
    /// for bounds that are whole encoded keys, prefixes of them, and arbitrary bytes.
    func testSmallestKeyIsAnExactRawBound() {
        var rng = SeededGenerator(seed: 7)
        var bounds: [[UInt8]] = [[0xFF], [0xFF, 0xFF], Array("k00005".utf8), [0, 0, 0, 0, 0, 0, 0, 0, 0xF6]]
        for _ in 0..<300 {
            let key = randomBytes(&rng, maxCount: 18)
            let encoded = MemComparable.encode(key)
            bounds.append(encoded)
            bounds.append(Array(encoded.prefix(Int.random(in: 0...encoded.count, using: &rng))))
            var mutated = encoded
            mutated[Int.random(in: 0..<mutated.count, using: &rng)] = Self.alphabet.randomElement(using: &rng)!
            bounds.append(mutated)
            bounds.append(randomBytes(&rng, maxCount: 20))
        }
        var keys: [[UInt8]] = []
        for _ in 0..<400 { keys.append(randomBytes(&rng, maxCount: 18)) }
        for bound in bounds {
            let smallest = MemComparable.smallestKey(encodedAtLeast: bound)
            if let smallest {
                XCTAssertFalse(MemComparable.encode(smallest).lexicographicallyPrecedes(bound), "\(smallest) encodes below \(bound)")
            }
            var probes = keys
            if let smallest {
                probes.append(smallest)
                if !smallest.isEmpty { probes.append(Array(smallest.dropLast())) }
                probes.append(smallest + [0])
            }
            if let decoded = MemComparable.decode(bound) { XCTAssertEqual(smallest, decoded) }
            for key in probes {
                let reaches = !MemComparable.encode(key).lexicographicallyPrecedes(bound)
                let above = smallest.map { !key.lexicographicallyPrecedes($0) } ?? false
                XCTAssertEqual(reaches, above, "key \(key), bound \(bound), smallest \(String(describing: smallest))")
            }
        }
    }

    func testPrefixSuccessor() {
        XCTAssertEqual(prefixSuccessor([1, 2]), [1, 3])
        XCTAssertEqual(prefixSuccessor([1, 0xFF]), [2])
        XCTAssertNil(prefixSuccessor([0xFF, 0xFF]))
        XCTAssertNil(prefixSuccessor([]))
    }

    func testRequestKeysCheckInTheirSpace() {
        let start = MemComparable.encode(Array("b".utf8)), end = MemComparable.encode(Array("d".utf8))
        let txn = RequestKeys.transactional([Array("b".utf8), Array("c".utf8)])
        XCTAssertNil(txn.firstOutside(start: start, end: end, wholeRanges: true))
        XCTAssertEqual(RequestKeys.transactional([Array("c".utf8), Array("d".utf8)]).firstOutside(start: start, end: end, wholeRanges: false),
                       Array("d".utf8))
        // The raw key "b" sorts before EncodeBytes("b"): outside in the raw space, inside encoded.
        XCTAssertEqual(RequestKeys.raw(Array("b".utf8)).firstOutside(start: start, end: end, wholeRanges: false), Array("b".utf8))
        XCTAssertEqual(RequestKeys.raw(Array("c".utf8)).firstOutside(start: start, end: end, wholeRanges: false), nil)
        // Ranges: starts always, ends only for whole ranges (region id 0); an end equal to the region's is inside.
        let inside = RequestKeys(.transactional, ranges: [.init(start: Array("b".utf8), end: Array("d".utf8))])
        XCTAssertNil(inside.firstOutside(start: start, end: end, wholeRanges: true))
        let beyond = RequestKeys(.transactional, ranges: [.init(start: Array("c".utf8), end: Array("e".utf8))])
        XCTAssertNil(beyond.firstOutside(start: start, end: end, wholeRanges: false))
        XCTAssertEqual(beyond.firstOutside(start: start, end: end, wholeRanges: true), Array("e".utf8))
        let unbounded = RequestKeys(.transactional, ranges: [.init(start: Array("c".utf8), end: [])])
        XCTAssertEqual(unbounded.firstOutside(start: start, end: end, wholeRanges: true), [])
        XCTAssertNil(unbounded.firstOutside(start: start, end: [], wholeRanges: true))
        XCTAssertEqual(txn.firstRoutingKey, MemComparable.encode(Array("b".utf8)))
        XCTAssertNil(RequestKeys(.raw).firstRoutingKey)
    }
}
