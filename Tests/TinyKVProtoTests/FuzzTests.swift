import Foundation
import XCTest
@testable import TinyKVProto

/// A seeded mutation fuzzer over the wire bridge.
///
/// Valid encodings of random values of every message type are mutated (bit flips,
/// interesting bytes, truncation, splicing with other encodings, inserted length
/// prefixes and huge or overlong varints, duplicated and deleted chunks) and decoded
/// as their own type and as a few others. Nothing may crash; whatever decodes must
/// re-encode stably: decode(encode(m)) encodes to the same bytes as m.
///
/// `TINYKV_FUZZ_ROUNDS` scales the run (default 1: a few seconds; `make fuzz` uses more),
/// `TINYKV_FUZZ_SEED` picks another seed.
final class FuzzTests: XCTestCase {
    static var rounds: Int { Int(ProcessInfo.processInfo.environment["TINYKV_FUZZ_ROUNDS"] ?? "") ?? 1 }
    static var seed: UInt64 { UInt64(ProcessInfo.processInfo.environment["TINYKV_FUZZ_SEED"] ?? "") ?? 0x5EED }

    func testMutatedEncodingsOfEveryTypeNeverCrashAndReencodeStably() throws {
        var stats = FuzzStats()
        let start = ContinuousClock.now
        for round in 0..<Self.rounds {
            var g = WireRandom(seed: Self.seed &+ UInt64(round) &* 1_000_003)
            // A pool of valid encodings to splice from.
            var corpus: [[UInt8]] = []
            for type in allRandomMessageTypes {
                corpus.append(Self.sample(type, using: &g))
            }
            for (index, type) in allRandomMessageTypes.enumerated() {
                // The type itself and a neighbour, so that bytes also meet an unexpected schema.
                let other = allRandomMessageTypes[(index + 1 + g.below(allRandomMessageTypes.count - 1)) % allRandomMessageTypes.count]
                for _ in 0..<16 {
                    let valid = Self.sample(type, using: &g)
                    for _ in 0..<32 {
                        var mutator = Mutator(random: g.next(), corpus: corpus)
                        let mutated = mutator.mutate(valid)
                        try Self.check(type, mutated, &stats)
                        if g.below(4) == 0 { try Self.check(other, mutated, &stats) }
                    }
                }
            }
        }
        let elapsed = ContinuousClock.now - start
        print("wire fuzz: \(stats.executions) executions, \(stats.decoded) decoded, \(stats.rejected) rejected, 0 crashes in \(elapsed)")
        XCTAssertGreaterThan(stats.executions, 100_000 * Self.rounds)
        XCTAssertGreaterThan(stats.decoded, 0)
        XCTAssertGreaterThan(stats.rejected, 0)
    }

    func testRandomBytesAsEveryType() throws {
        var stats = FuzzStats()
        var g = WireRandom(seed: Self.seed ^ 0xB17E5)
        for _ in 0..<(100 * Self.rounds) {
            for type in allRandomMessageTypes {
                let bytes = (0..<[0, 1, 2, 5, 17, 64, 300][g.below(7)]).map { _ in UInt8(truncatingIfNeeded: g.next()) }
                try Self.check(type, bytes, &stats)
            }
        }
        print("wire fuzz (random bytes): \(stats.executions) executions, \(stats.decoded) decoded")
    }

    /// Nesting far deeper than any real message is refused before protobuf-c's
    /// recursive unpacker (and the recursive Swift conversion) can run out of stack.
    func testDeepNestingIsRejectedNotACrash() throws {
        // tipb.Expr { children: tipb.Expr { children: ... } } as raw bytes, built inside out.
        func nested(_ depth: Int) -> [UInt8] {
            var reversed: [UInt8] = [0x01, 0x08]  // tp = 1, built back to front
            for _ in 0..<depth {
                reversed.append(contentsOf: Self.varint(UInt64(reversed.count)).reversed())
                reversed.append(0x1A)  // field 3 (children), length-delimited
            }
            return reversed.reversed()
        }
        XCTAssertNoThrow(try Tipb.Expr(decoding: nested(50)))
        XCTAssertNoThrow(try Tipb.Expr(decoding: nested(WireLimits.maxNestingDepth - 1)))
        for depth in [WireLimits.maxNestingDepth + 1, 5_000, 200_000] {
            XCTAssertThrowsError(try Tipb.Expr(decoding: nested(depth)), "depth \(depth)") { error in
                XCTAssertTrue("\(error)".contains("nest"), "\(error)")
            }
        }
        // The same bytes inside a coprocessor request are ordinary bytes to the outer type.
        let deep = nested(100_000)
        XCTAssertNoThrow(try Kvrpcpb.RawPutRequest(decoding: [0x12] + Self.varint(UInt64(deep.count)) + deep))
        // Long flat messages are not affected.
        let flat = Tipb.Expr(tp: .int64, val: [UInt8](repeating: 0x1A, count: 1 << 20))
        XCTAssertEqual(try Tipb.Expr(decoding: flat.encode()), flat)
    }

    // MARK: - Helpers

    static func varint(_ value: UInt64) -> [UInt8] {
        var v = value
        var out: [UInt8] = []
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        out.append(UInt8(v))
        return out
    }

    static func sample<M: RandomMessage>(_ type: M.Type, using g: inout WireRandom) -> [UInt8] {
        M.random(using: &g, depth: 0).encode()
    }

    static func check<M: RandomMessage>(_ type: M.Type, _ bytes: [UInt8], _ stats: inout FuzzStats) throws {
        stats.executions += 1
        guard let message = try? M(decoding: bytes) else {
            stats.rejected += 1
            return
        }
        stats.decoded += 1
        let once = message.encode()
        let again: M
        do {
            again = try M(decoding: once)
        } catch {
            XCTFail("\(M.protoName): a decoded message does not decode after re-encoding: \(bytes)")
            return
        }
        if again.encode() != once {
            XCTFail("\(M.protoName): re-encoding is not stable for input \(bytes)")
        }
    }
}

struct FuzzStats {
    var executions = 0
    var decoded = 0
    var rejected = 0
}

/// Byte-level mutations in the style of libFuzzer's, aware of the protobuf wire format.
struct Mutator {
    var g: WireRandom
    let corpus: [[UInt8]]

    init(random: UInt64, corpus: [[UInt8]]) {
        g = WireRandom(seed: random)
        self.corpus = corpus
    }

    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0..<(1 + g.below(4)) { mutateOnce(&bytes) }
        return bytes
    }

    private mutating func position(_ bytes: [UInt8]) -> Int { bytes.isEmpty ? 0 : g.below(bytes.count + 1) }

    private mutating func mutateOnce(_ bytes: inout [UInt8]) {
        switch g.below(11) {
        case 0:  // flip a bit
            guard !bytes.isEmpty else { fallthrough }
            let i = g.below(bytes.count)
            bytes[i] ^= 1 << UInt8(g.below(8))
        case 1:  // an interesting byte
            guard !bytes.isEmpty else { fallthrough }
            bytes[g.below(bytes.count)] = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x0A, 0x12, 0x08, 0x0F, 0x07][g.below(10)]
        case 2:  // truncate
            bytes = Array(bytes.prefix(position(bytes)))
        case 3:  // splice: our prefix, another encoding's suffix
            let other = corpus[g.below(corpus.count)]
            let cut = other.isEmpty ? 0 : g.below(other.count)
            bytes = Array(bytes.prefix(position(bytes))) + other[cut...]
        case 4:  // a length-delimited field with a random (often wrong) length
            let field = UInt64(1 + g.below(40))
            let length: UInt64 = [0, 1, 5, 127, 128, 1 << 20, UInt64(Int32.max), UInt64.max, g.next()][g.below(9)]
            let payload = (0..<g.below(8)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            bytes.insert(contentsOf: FuzzTests.varint(field << 3 | 2) + FuzzTests.varint(length) + payload, at: position(bytes))
        case 5:  // a huge or overlong varint field
            let field = UInt64(1 + g.below(40))
            let varints: [[UInt8]] = [
                FuzzTests.varint(.max),
                [UInt8](repeating: 0xFF, count: 10) + [0x01],
                [UInt8](repeating: 0x80, count: 11) + [0x00],
                [UInt8](repeating: 0xFF, count: 9),
                FuzzTests.varint(UInt64(UInt32.max)),
            ]
            bytes.insert(contentsOf: FuzzTests.varint(field << 3) + varints[g.below(varints.count)], at: position(bytes))
        case 6:  // a random wire type and field number, including invalid ones
            let tag = UInt64(g.below(1 << 20)) << 3 | UInt64(g.below(8))
            bytes.insert(contentsOf: FuzzTests.varint(tag), at: position(bytes))
        case 7:  // duplicate a chunk (repeated fields, last-one-wins scalars, merged messages)
            guard !bytes.isEmpty else { fallthrough }
            let start = g.below(bytes.count)
            let end = start + g.below(bytes.count - start + 1)
            bytes.insert(contentsOf: bytes[start..<end], at: position(bytes))
        case 8:  // delete a chunk
            guard !bytes.isEmpty else { fallthrough }
            let start = g.below(bytes.count)
            let end = start + g.below(min(16, bytes.count - start) + 1)
            bytes.removeSubrange(start..<end)
        case 9:  // random bytes
            let count = g.below(12)
            bytes.insert(contentsOf: (0..<count).map { _ in UInt8(truncatingIfNeeded: g.next()) }, at: position(bytes))
        default:  // a fixed32/fixed64 field with too few bytes, or a group
            let field = UInt64(1 + g.below(40))
            let kinds: [[UInt8]] = [
                FuzzTests.varint(field << 3 | 5) + [0x01, 0x02],
                FuzzTests.varint(field << 3 | 1) + [0x01],
                FuzzTests.varint(field << 3 | 3),
                FuzzTests.varint(field << 3 | 4),
            ]
            bytes.insert(contentsOf: kinds[g.below(kinds.count)], at: position(bytes))
        }
    }
}
