import Foundation
import Raft
@testable import RaftStore
import Storage
import TinyKVProto
import XCTest

/// Routing keys, region membership and stored-key ranges (``RegionData``), the region-clamped
/// reader, and the streaming split checker.
final class RegionDataTests: XCTestCase {
    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    private func versioned(_ key: [UInt8], _ ts: UInt64) -> [UInt8] {
        var stored = MemComparable.encode(key)
        for shift in stride(from: 56, through: 0, by: -8) { stored.append(UInt8(truncatingIfNeeded: ~ts >> UInt64(shift))) }
        return stored
    }

    private func region(_ id: UInt64, _ start: [UInt8], _ end: [UInt8]) -> Metapb.Region {
        Metapb.Region(id: id, startKey: start, endKey: end, peers: [Metapb.Peer(id: id, storeId: 1)])
    }

    func testRoutingKeysOfEachFamily() {
        let enc = MemComparable.encode(bytes("x"))
        XCTAssertEqual(RegionData.routingKey(.write, versioned(bytes("x"), 3)), enc)
        XCTAssertEqual(RegionData.routingKey(.default, versioned(bytes("x"), 3)), enc)
        XCTAssertEqual(RegionData.routingKey(.default, versioned(bytes("abcdefghij"), 9)), MemComparable.encode(bytes("abcdefghij")))
        XCTAssertEqual(RegionData.routingKey(.lock, bytes("x")), enc, "locks are stored raw, routed encoded")
        XCTAssertEqual(RegionData.routingKey(.default, bytes("x")), bytes("x"), "raw-API keys route as they are")
        XCTAssertEqual(RegionData.routingKey(.write, bytes("a raw key of 17 b")), bytes("a raw key of 17 b"))
        XCTAssertEqual(RegionData.decodeVersioned(versioned([], 1)), [])
        XCTAssertEqual(RegionData.decodeVersioned(versioned(bytes("abcdefgh"), 1)), bytes("abcdefgh"))
        XCTAssertNil(RegionData.decodeVersioned(bytes("k00005")))
        XCTAssertNil(RegionData.decodeVersioned(MemComparable.encode(bytes("x"))), "no timestamp")
        XCTAssertNil(RegionData.decodeVersioned(MemComparable.encode(bytes("x")) + [1, 2, 3]))
    }

    func testStoredRangesAreExactOnlyForWholeEncodedBounds() {
        let m = MemComparable.encode(bytes("m")), t = MemComparable.encode(bytes("t"))
        let encoded = region(1, m, t)
        XCTAssertEqual(RegionData.storedRange(.write, encoded), .init(lower: m, upper: t, exact: true))
        XCTAssertEqual(RegionData.storedRange(.default, encoded), .init(lower: m, upper: t, exact: true))
        XCTAssertEqual(RegionData.storedRange(.lock, encoded), .init(lower: bytes("m"), upper: bytes("t"), exact: true))
        XCTAssertEqual(RegionData.storedRange(.write, region(1, [], [])), .init(lower: nil, upper: nil, exact: true))
        // A raw bound (a split of raw-API data): the families holding raw and versioned keys filter.
        let raw = region(2, bytes("k00005"), [])
        XCTAssertFalse(RegionData.storedRange(.default, raw).exact)
        XCTAssertFalse(RegionData.storedRange(.write, raw).exact)
        // Locks convert any bound exactly.
        XCTAssertTrue(RegionData.storedRange(.lock, raw).exact)
        XCTAssertEqual(RegionData.storedRange(.lock, raw).lower, MemComparable.smallestKey(encodedAtLeast: bytes("k00005")))
        // An end that starts with a whole encoded key: versions of that key sort past it.
        let tricky = region(3, [], m + [0x01])
        XCTAssertEqual(RegionData.storedRange(.write, tricky), .init(lower: nil, upper: prefixSuccessor(m), exact: false))
    }

    /// Random data in every family, random tilings of the key space with bounds of every kind:
    /// each stored key is in exactly the region holding its routing key, and snapshots
    /// (`forEach`), the clamped reader and `deleteAll` see exactly that.
    func testMembershipIsByRoutingKeyForAnyBounds() throws {
        var rng = SeededGenerator(seed: 42)
        let alphabet: [UInt8] = [0x00, 0x01, 0x61, 0x62, 0xF7, 0xF8, 0xFE, 0xFF]
        func randomKey(_ maxCount: Int = 12) -> [UInt8] {
            (0..<Int.random(in: 0...maxCount, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
        }
        for round in 0..<6 {
            let engines = try Engines()
            defer { engines.close() }
            var stored: [(ColumnFamily, [UInt8])] = []
            var batch = WriteBatch()
            for _ in 0..<300 {
                let user = randomKey()
                let entries: [(ColumnFamily, [UInt8])] = [
                    (.write, versioned(user, UInt64.random(in: 1...50, using: &rng))),
                    (.default, versioned(user, UInt64.random(in: 1...50, using: &rng))),
                    (.lock, user.isEmpty ? [0] : user),
                    (.default, randomKey(20).isEmpty ? [1] : randomKey(20)),  // raw-API keys
                ]
                for (cf, key) in entries where !key.isEmpty {
                    batch.put(cf, key, [UInt8(round)])
                    stored.append((cf, key))
                }
            }
            try engines.kv.write(batch, sync: false)
            var unique: [String: (ColumnFamily, [UInt8])] = [:]
            for (cf, key) in stored { unique["\(cf.name)/\(key)"] = (cf, key) }
            // Bounds: whole encodings, prefixes of them, raw keys, encodings with junk after them.
            var bounds: Set<[UInt8]> = []
            while bounds.count < 5 {
                let user = randomKey()
                let encoded = MemComparable.encode(user)
                let candidates = [encoded, Array(encoded.prefix(Int.random(in: 1...encoded.count, using: &rng))), user, encoded + randomKey(3)]
                let bound = candidates.randomElement(using: &rng)!
                if !bound.isEmpty { bounds.insert(bound) }
            }
            let edges = [[]] + bounds.sorted { $0.lexicographicallyPrecedes($1) } + [[]]
            let regions = (0..<(edges.count - 1)).map { region(UInt64($0 + 1), edges[$0], edges[$0 + 1]) }
            var seen: [String: Int] = [:]
            for r in regions {
                var got = Set<String>()
                try RegionData.forEach(r, in: engines.kv) { cf, key, _ in
                    got.insert("\(cf.name)/\(key)")
                    seen["\(cf.name)/\(key)", default: 0] += 1
                }
                let expected = Set(unique.filter { RegionData.contains(r, $0.value.0, $0.value.1) }.keys)
                XCTAssertEqual(got, expected, "region \(r.startKey)..\(r.endKey)")
                // The clamped reader with request bounds inside and outside the region.
                let reader = RegionReader(inner: try engines.kv.snapshot(), region: r)
                for cf in ColumnFamily.dataFamilies {
                    let lower = randomKey(), upper = randomKey()
                    let iterator = try reader.makeIterator(cf, lowerBound: lower, upperBound: upper.isEmpty ? nil : upper)
                    iterator.seekToFirst()
                    var keys: [[UInt8]] = []
                    while iterator.isValid { keys.append(iterator.key); iterator.next() }
                    let want = unique.values.filter { $0.0 == cf && RegionData.contains(r, cf, $0.1)
                        && !$0.1.lexicographicallyPrecedes(lower) && (upper.isEmpty || $0.1.lexicographicallyPrecedes(upper)) }
                        .map(\.1).sorted { $0.lexicographicallyPrecedes($1) }
                    XCTAssertEqual(keys, want)
                }
                for (cf, key) in unique.values.prefix(50) {
                    if RegionData.contains(r, cf, key) {
                        XCTAssertNotNil(try reader.get(cf, key))
                    } else {
                        XCTAssertThrowsError(try reader.get(cf, key)) { error in
                            XCTAssertEqual((error as? RegionError)?.error.keyNotInRegion?.regionId, r.id)
                        }
                    }
                }
            }
            XCTAssertEqual(seen.count, unique.count, "every key is in some region")
            XCTAssertTrue(seen.values.allSatisfy { $0 == 1 }, "no key is in two regions")
            // Destroying one region deletes exactly its keys.
            let victim = regions[Int.random(in: 0..<regions.count, using: &rng)]
            var delete = WriteBatch()
            try RegionData.deleteAll(victim, in: engines.kv, into: &delete)
            try engines.kv.write(delete, sync: false)
            for (cf, key) in unique.values {
                let present = try engines.kv.get(cf, key) != nil
                XCTAssertEqual(present, !RegionData.contains(victim, cf, key))
            }
        }
    }

    /// Transactional data split at an encoded user key: every version, value and lock of a
    /// user key is on one side; raw keys are compared as they are.
    func testEncodedSplitKeySeparatesWholeUserKeys() throws {
        let engines = try Engines()
        defer { engines.close() }
        let split = MemComparable.encode(bytes("m"))
        let left = region(1, [], split), right = region(2, split, [])
        var batch = WriteBatch()
        for key in ["a", "l", "m", "m\u{0}", "z"] {
            batch.put(.lock, bytes(key), [1])
            batch.put(.write, versioned(bytes(key), 5), [1])
            batch.put(.default, versioned(bytes(key), 4), [1])
        }
        batch.put(.default, bytes("m"), [1])  // raw "m" sorts before EncodeBytes("m")
        batch.put(.default, bytes("n"), [1])
        try engines.kv.write(batch, sync: false)
        var leftKeys: [String] = [], rightKeys: [String] = []
        func describe(_ cf: ColumnFamily, _ key: [UInt8]) -> String {
            let user = cf == .lock ? key : (RegionData.decodeVersioned(key) ?? key)
            return "\(cf.name):\(String(decoding: user, as: UTF8.self))\(RegionData.decodeVersioned(key) == nil && cf != .lock ? "(raw)" : "")"
        }
        try RegionData.forEach(left, in: engines.kv) { cf, key, _ in leftKeys.append(describe(cf, key)) }
        try RegionData.forEach(right, in: engines.kv) { cf, key, _ in rightKeys.append(describe(cf, key)) }
        XCTAssertEqual(Set(leftKeys), ["default:a", "default:l", "default:m(raw)", "lock:a", "lock:l", "write:a", "write:l"])
        XCTAssertEqual(rightKeys.count, 3 * 3 + 1)
        XCTAssertTrue(rightKeys.contains("lock:m\u{0}") && rightKeys.contains("write:m") && rightKeys.contains("default:n(raw)"))
    }

    // MARK: - Split check

    private func splitCheck(_ region: Metapb.Region, _ engines: Engines, max: UInt64, split: UInt64) throws -> (UInt64, [UInt8]?, Int) {
        var checker = SplitChecker(maxSize: max, splitSize: split)
        let (size, key) = try checker.check(region, in: engines.kv)
        return (size, key, checker.peakRetainedKeys)
    }

    /// The bytes (keys + values) of the region's keys whose routing key is below `key`.
    private func sizeBefore(_ key: [UInt8], in region: Metapb.Region, _ engines: Engines) throws -> UInt64 {
        var total: UInt64 = 0
        try RegionData.forEach(region, in: engines.kv) { cf, stored, value in
            if RegionData.routingKey(cf, stored).lexicographicallyPrecedes(key) { total += UInt64(stored.count + value.count) }
        }
        return total
    }

    func testSplitCheckOfTransactionalDataPicksAnEncodedUserKey() throws {
        let engines = try Engines()
        defer { engines.close() }
        let whole = region(1, [], [])
        var batch = WriteBatch()
        for i in 0..<200 {
            let user = bytes(String(format: "key%04d", i))
            for ts in 1...3 {
                batch.put(.write, versioned(user, UInt64(ts * 10 + 1)), [UInt8](repeating: 1, count: 10))
                batch.put(.default, versioned(user, UInt64(ts * 10)), [UInt8](repeating: 2, count: 30))
            }
            if i % 7 == 0 { batch.put(.lock, user, [UInt8](repeating: 3, count: 20)) }
        }
        try engines.kv.write(batch, sync: false)
        let (size, key, peak) = try splitCheck(whole, engines, max: 20_000, split: 10_000)
        XCTAssertGreaterThan(size, 20_000)
        let splitKey = try XCTUnwrap(key)
        let user = try XCTUnwrap(MemComparable.decode(splitKey), "the split key is EncodeBytes(user key)")
        XCTAssertTrue(String(decoding: user, as: UTF8.self).hasPrefix("key"))
        let before = try sizeBefore(splitKey, in: whole, engines)
        XCTAssertGreaterThanOrEqual(before, 10_000)
        XCTAssertLessThan(before, 10_000 + 400, "the split lands at the first user key after region-split-size")
        XCTAssertLessThanOrEqual(peak, 5)
        // Small enough: no split.
        XCTAssertNil(try splitCheck(whole, engines, max: 1 << 20, split: 1 << 19).1)
    }

    func testSplitCheckOfRawDataPicksARawKey() throws {
        let engines = try Engines()
        defer { engines.close() }
        var batch = WriteBatch()
        for i in 0..<300 { batch.put(.default, bytes(String(format: "raw%05d", i)), [UInt8](repeating: 0, count: 50)) }
        try engines.kv.write(batch, sync: false)
        let start = bytes("raw00100")
        let inner = region(1, start, [])
        let (_, key, _) = try splitCheck(inner, engines, max: 6_000, split: 3_000)
        let splitKey = try XCTUnwrap(key)
        XCTAssertEqual(splitKey.count, 8)
        XCTAssertTrue(start.lexicographicallyPrecedes(splitKey), "strictly inside the region")
        XCTAssertEqual(String(decoding: splitKey, as: UTF8.self), "raw00152", "the first key after 3000 bytes of 58-byte entries from raw00100")
    }

    /// Raw and transactional data in one region: the split key is a whole routing key of one
    /// or the other, never inside a user key's versions, and strictly inside the region.
    func testSplitCheckOfMixedData() throws {
        let engines = try Engines()
        defer { engines.close() }
        var batch = WriteBatch()
        for i in 0..<150 {
            let user = bytes(String(format: "t%04d", i))
            batch.put(.write, versioned(user, 5), [UInt8](repeating: 1, count: 20))
            batch.put(.default, versioned(user, 4), [UInt8](repeating: 1, count: 20))
            batch.put(.default, bytes(String(format: "t%04d-raw", i)), [UInt8](repeating: 1, count: 20))
        }
        try engines.kv.write(batch, sync: false)
        let start = MemComparable.encode(bytes("t0010"))
        let r = region(1, start, [])
        let (_, key, peak) = try splitCheck(r, engines, max: 8_000, split: 4_000)
        let splitKey = try XCTUnwrap(key)
        XCTAssertTrue(start.lexicographicallyPrecedes(splitKey))
        var routingKeys = Set<[UInt8]>()
        try RegionData.forEach(r, in: engines.kv) { cf, stored, _ in routingKeys.insert(RegionData.routingKey(cf, stored)) }
        XCTAssertTrue(routingKeys.contains(splitKey), "a whole routing key of the region")
        XCTAssertLessThanOrEqual(peak, 5)
    }

    func testSplitCheckNeverSplitsOneUserKey() throws {
        let engines = try Engines()
        defer { engines.close() }
        var batch = WriteBatch()
        for ts in 1...200 { batch.put(.write, versioned(bytes("hot"), UInt64(ts)), [UInt8](repeating: 0, count: 100)) }
        try engines.kv.write(batch, sync: false)
        let (size, key, _) = try splitCheck(region(1, [], []), engines, max: 5_000, split: 2_000)
        XCTAssertGreaterThan(size, 5_000)
        XCTAssertNil(key, "all versions of one key stay in one region")
    }

    /// The checker's state does not grow with the region: tens of thousands of keys, a
    /// handful held at once.
    func testSplitCheckStreams() throws {
        let engines = try Engines()
        defer { engines.close() }
        for chunk in 0..<10 {
            var batch = WriteBatch()
            for i in 0..<3_000 {
                let user = bytes(String(format: "s%02d%05d", chunk, i))
                batch.put(.write, versioned(user, 9), [0])
                batch.put(.lock, user, [0])
                batch.put(.default, user, [0])
            }
            try engines.kv.write(batch, sync: false)
        }
        let (size, key, peak) = try splitCheck(region(1, [], []), engines, max: 600_000, split: 300_000)
        XCTAssertGreaterThan(size, 600_000)
        XCTAssertNotNil(key)
        XCTAssertLessThanOrEqual(peak, 5, "three iterator keys, the current group and the candidate")
    }

    /// A region of at least four times the maximum is split near its middle (log2 rounds to
    /// shrink a huge region, e.g. after a bulk load); a smaller one loses its first `splitSize` bytes.
    func testSplitCheckHalvesHugeRegionsAndPeelsSmallerOnes() throws {
        let engines = try Engines()
        defer { engines.close() }
        var batch = WriteBatch()
        for i in 0..<100 { batch.put(.default, bytes(String(format: "key%03d", i)), [UInt8](repeating: 1, count: 94)) }
        try engines.kv.write(batch, sync: false)   // 100 raw pairs of 100 bytes
        let whole = region(1, [], [])
        let (size, middle, peak) = try splitCheck(whole, engines, max: 2_000, split: 1_000)
        XCTAssertEqual(size, 10_000, "the full size, not the scan limit")
        XCTAssertEqual(middle.map { String(decoding: $0, as: UTF8.self) }, "key050")
        XCTAssertLessThanOrEqual(peak, 5, "halving streams too")
        let (_, peel, _) = try splitCheck(whole, engines, max: 3_000, split: 1_500)
        XCTAssertEqual(peel.map { String(decoding: $0, as: UTF8.self) }, "key015")
    }

    // MARK: - When to scan

    func testScanOnlyWhenTheRegionMayHaveOutgrownItsMaximumOrGrownByHalf() {
        let max: UInt64 = 144 << 20, min: UInt64 = 6 << 20
        // Too little written since the last scan: never.
        XCTAssertFalse(SplitChecker.needsScan(lastMeasured: 0, writtenSince: min - 1, maxSize: max, minWritten: min))
        // A small region: every `minWritten` bytes (the half-size rule).
        XCTAssertTrue(SplitChecker.needsScan(lastMeasured: 4 << 20, writtenSince: min, maxSize: max, minWritten: min))
        // 50 MiB measured: not for 6 or 24 MiB more, but for 25 MiB (half) ...
        XCTAssertFalse(SplitChecker.needsScan(lastMeasured: 50 << 20, writtenSince: min, maxSize: max, minWritten: min))
        XCTAssertFalse(SplitChecker.needsScan(lastMeasured: 50 << 20, writtenSince: 24 << 20, maxSize: max, minWritten: min))
        XCTAssertTrue(SplitChecker.needsScan(lastMeasured: 50 << 20, writtenSince: 25 << 20, maxSize: max, minWritten: min))
        // ... and 130 MiB measured: once the writes could carry it past 144 MiB.
        XCTAssertFalse(SplitChecker.needsScan(lastMeasured: 130 << 20, writtenSince: 14 << 20, maxSize: max, minWritten: min))
        XCTAssertTrue(SplitChecker.needsScan(lastMeasured: 130 << 20, writtenSince: (14 << 20) + 1, maxSize: max, minWritten: min))
        // Measured above the maximum (a split that did not happen): at the next chance.
        XCTAssertTrue(SplitChecker.needsScan(lastMeasured: 200 << 20, writtenSince: min, maxSize: max, minWritten: min))
        // Unknown size (a new or restarted peer, a failed scan).
        XCTAssertTrue(SplitChecker.needsScan(lastMeasured: 0, writtenSince: Peer.sizeUnknown, maxSize: max, minWritten: min))
    }

    /// What ``SplitChecker/needsScan(lastMeasured:writtenSince:maxSize:minWritten:)`` relies on:
    /// after puts of `n` key and value bytes (new keys, overwrites, new versions), a scan
    /// measures at most `n` more than before.
    func testPutsGrowTheMeasuredSizeByAtMostTheirKeysAndValues() throws {
        let engines = try Engines()
        defer { engines.close() }
        let whole = region(1, [], [])
        func put(_ pairs: [(ColumnFamily, [UInt8], [UInt8])]) throws -> UInt64 {
            var batch = WriteBatch()
            for (cf, key, value) in pairs { batch.put(cf, key, value) }
            try engines.kv.write(batch, sync: false)
            return pairs.reduce(0) { $0 + UInt64($1.1.count + $1.2.count) }
        }
        var (measured, _, _) = try splitCheck(whole, engines, max: 1 << 30, split: 1 << 29)
        XCTAssertEqual(measured, 0)
        let rounds: [[(ColumnFamily, [UInt8], [UInt8])]] = [
            (0..<50).map { (.default, bytes("raw\($0)"), [UInt8](repeating: 1, count: 40)) },
            (0..<50).map { (.default, bytes("raw\($0)"), [UInt8](repeating: 2, count: 10)) },  // shorter overwrites
            (0..<50).map { (.default, bytes("raw\($0)"), [UInt8](repeating: 3, count: 90)) },  // longer overwrites
            (0..<30).flatMap { i in [(ColumnFamily.lock, bytes("t\(i)"), [UInt8](repeating: 4, count: 20)),
                                     (.default, versioned(bytes("t\(i)"), 10), [UInt8](repeating: 5, count: 60)),
                                     (.write, versioned(bytes("t\(i)"), 11), [UInt8](repeating: 6, count: 9))] },
        ]
        for pairs in rounds {
            let written = try put(pairs)
            let (now, _, _) = try splitCheck(whole, engines, max: 1 << 30, split: 1 << 29)
            XCTAssertLessThanOrEqual(now, measured + written)
            measured = now
        }
        XCTAssertGreaterThan(measured, 0)
    }
}
