import Foundation
import XCTest
@testable import Storage

final class RocksEngineTests: XCTestCase {
    private var directory: String!

    override func setUp() {
        directory = NSTemporaryDirectory() + "rocks-\(UUID().uuidString)"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testPutGetDeleteAcrossColumnFamilies() throws {
        let engine = try RocksEngine(path: directory)
        var batch = WriteBatch()
        batch.put(.default, bytes("k"), bytes("v-default"))
        batch.put(.lock, bytes("k"), bytes("v-lock"))
        try engine.write(batch, sync: true)
        XCTAssertEqual(try engine.get(.default, bytes("k")), bytes("v-default"))
        XCTAssertEqual(try engine.get(.lock, bytes("k")), bytes("v-lock"))
        XCTAssertNil(try engine.get(.write, bytes("k")))

        var delete = WriteBatch()
        delete.delete(.default, bytes("k"))
        try engine.write(delete, sync: false)
        XCTAssertNil(try engine.get(.default, bytes("k")))
        XCTAssertEqual(try engine.get(.lock, bytes("k")), bytes("v-lock"))
    }

    func testTheLockFamilyFlushesItsTombstonesSoonerThanTheOthers() throws {
        // Locks come and go (prewrite puts, commit deletes): ~12 MiB of them, in both families.
        let engine = try RocksEngine(path: directory)
        let value = [UInt8](repeating: 7, count: 64)
        for round in 0..<1_000 {
            var batch = WriteBatch()
            for i in 0..<50 {
                let key = bytes(String(format: "key-%06d-%02d-padding-to-fifty-bytes-of-key", round, i))
                for cf in [ColumnFamily.lock, .default] {
                    batch.put(cf, key, value)
                    batch.delete(cf, key)
                }
            }
            try engine.write(batch, sync: false)
        }
        let written: UInt64 = 1_000 * 50 * 2
        let inDefault = try XCTUnwrap(try engine.integerProperty("rocksdb.num-entries-active-mem-table", of: .default))
        let inLock = try XCTUnwrap(try engine.integerProperty("rocksdb.num-entries-active-mem-table", of: .lock))
        XCTAssertEqual(inDefault, written, "the default family keeps its 64 MiB memtable")
        XCTAssertLessThan(inLock, written / 8, "the lock family's memtable is switched at 1 MiB")
        XCTAssertNil(try engine.integerProperty("rocksdb.no-such-property", of: .lock))
    }

    func testTheLockAndWriteFamiliesHaveTheirOwnBloomFilters() throws {
        // RocksDB writes the options it opened with to OPTIONS-<n>; the newest holds every family's.
        _ = try RocksEngine(path: directory)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("OPTIONS-") }
        let newest = try XCTUnwrap(names.max { Int($0.dropFirst(8)) ?? 0 < Int($1.dropFirst(8)) ?? 0 })
        let text = try String(contentsOfFile: directory + "/" + newest, encoding: .utf8)
        var families: [String: [String: String]] = [:]
        var current: String?
        for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if line.hasPrefix("["), line.contains("CFOptions") || line.contains("TableOptions") {
                // [CFOptions "lock"] and [TableOptions/BlockBasedTable "lock"] both belong to "lock".
                current = line.split(separator: "\"").dropFirst().first.map(String.init)
            } else if line.hasPrefix("[") {
                current = nil
            } else if let family = current, let equals = line.firstIndex(of: "=") {
                families[family, default: [:]][String(line[..<equals])] = String(line[line.index(after: equals)...])
            }
        }
        let lock = try XCTUnwrap(families["lock"])
        XCTAssertEqual(lock["write_buffer_size"], "1048576")
        XCTAssertEqual(lock["memtable_whole_key_filtering"], "true")
        XCTAssertEqual(lock["filter_policy"], "bloomfilter")
        XCTAssertEqual(lock["prefix_extractor"], "nullptr")
        let write = try XCTUnwrap(families["write"])
        XCTAssertEqual(write["prefix_extractor"], "tinykv.MvccKeyWithoutTimestamp")
        XCTAssertEqual(write["memtable_prefix_bloom_size_ratio"], "0.020000")
        XCTAssertEqual(write["filter_policy"], "bloomfilter")
        XCTAssertEqual(write["whole_key_filtering"], "false")
        for family in ["default", "write"] {
            XCTAssertEqual(families[family]?["write_buffer_size"], String(64 << 20), family)
        }
        let plain = try XCTUnwrap(families["default"])
        XCTAssertEqual(plain["filter_policy"], "nullptr")
        XCTAssertEqual(plain["prefix_extractor"], "nullptr")
    }

    /// A write-family key: `user` followed by an 8-byte timestamp, as MVCC keys are.
    private func versioned(_ user: [UInt8], _ ts: UInt64) -> [UInt8] {
        user + (0..<8).map { UInt8(truncatingIfNeeded: ts >> (56 - 8 * UInt64($0))) }
    }

    func testWriteFamilySeeksSeeEveryKeyInTotalOrderAndExactlyOneKeysVersionsByPrefix() throws {
        // Keys of varying length and shared leading bytes, so a prefix-mode seek that leaked past
        // its key, or a total-order scan that skipped by prefix, would show. Three versions of
        // each; even keys reach a file (flushed), odd ones stay in the memtable, and every third
        // key gets a newer version after the flush.
        let engine = try RocksEngine(path: directory)
        let users = (0..<300).map { i in bytes("k\(i)") + [UInt8](repeating: UInt8(i % 7), count: i % 5) }
        func write(_ filter: (Int) -> Bool, versions: [UInt64]) throws {
            var batch = WriteBatch()
            for (i, user) in users.enumerated() where filter(i) {
                for ts in versions { batch.put(.write, versioned(user, ts), bytes("\(i)@\(ts)")) }
            }
            try engine.write(batch, sync: false)
        }
        try write({ $0 % 2 == 0 }, versions: [10, 20, 30])
        try engine.flush(.write)
        try write({ $0 % 2 == 1 }, versions: [10, 20, 30])
        try write({ $0 % 3 == 0 }, versions: [40])
        let snapshot = try engine.snapshot()

        for reader in [engine as any KVReader, snapshot] {
            let all = try reader.scan(.write, from: [], limit: .max)
            let expected = users.enumerated().reduce(0) { $0 + ($1.offset % 3 == 0 ? 4 : 3) }
            XCTAssertEqual(all.count, expected)
            XCTAssertEqual(all.map(\.key), all.map(\.key).sorted { $0.lexicographicallyPrecedes($1) })
            // Scans that start at a whole MVCC key (as MVCC scans do) of a key with no versions,
            // or with versions only in the file or only in the memtable, still see every later key.
            for start in [versioned(bytes("k"), 5), versioned(bytes("k15"), 5), versioned(users[2], 5), versioned(users[3], 5)] {
                let later = try reader.scan(.write, from: start, limit: .max).map(\.key)
                let expected = all.map(\.key).filter { !$0.lexicographicallyPrecedes(start) }
                XCTAssertTrue(later == expected, "from \(start): \(later.count) keys, expected \(expected.count)")
            }

            for (i, user) in users.enumerated() {
                let iterator = try reader.makeIterator(.write, lowerBound: user, upperBound: user + [UInt8](repeating: 0xFF, count: 9),
                                                       scope: .versionsOfOneKey)
                iterator.seek(versioned(user, 25))
                var seen: [[UInt8]] = []
                while iterator.isValid { seen.append(iterator.value); iterator.next() }
                try iterator.checkError()
                XCTAssertEqual(seen, [bytes("\(i)@30")] + (i % 3 == 0 ? [bytes("\(i)@40")] : []), "key \(i)")
            }
            for absent in [bytes("k"), bytes("k1000"), bytes("k2") + [1], bytes("zzz")] {
                let iterator = try reader.makeIterator(.write, lowerBound: absent, upperBound: absent + [UInt8](repeating: 0xFF, count: 9),
                                                       scope: .versionsOfOneKey)
                iterator.seek(versioned(absent, 0))
                XCTAssertFalse(iterator.isValid, "\(absent)")
            }
        }
    }

    func testEmptyValueIsNotMissing() throws {
        let engine = try RocksEngine(path: directory)
        var batch = WriteBatch()
        batch.put(.default, bytes("empty"), [])
        try engine.write(batch, sync: false)
        XCTAssertEqual(try engine.get(.default, bytes("empty")), [])
    }

    func testUnknownColumnFamilyThrows() throws {
        let engine = try RocksEngine(path: directory)
        XCTAssertThrowsError(try engine.get(ColumnFamily("nope"), bytes("k"))) { error in
            XCTAssertEqual(error as? StorageError, .unknownColumnFamily("nope"))
        }
        XCTAssertNil(ColumnFamily.named("nope"))
        XCTAssertEqual(ColumnFamily.named(""), .default)
    }

    func testScanIsOrderedBoundedAndLimited() throws {
        let engine = try RocksEngine(path: directory)
        var batch = WriteBatch()
        for key in ["a", "b", "c", "d", "e"] { batch.put(.write, bytes(key), bytes(key.uppercased())) }
        batch.put(.default, bytes("c2"), bytes("other cf"))
        try engine.write(batch, sync: false)
        XCTAssertEqual(try engine.scan(.write, from: bytes("b"), limit: 10).map(\.key), ["b", "c", "d", "e"].map(bytes))
        XCTAssertEqual(try engine.scan(.write, from: bytes("b"), to: bytes("d"), limit: 10).map(\.key), ["b", "c"].map(bytes))
        XCTAssertEqual(try engine.scan(.write, from: [], limit: 2).map(\.value), ["A", "B"].map(bytes))
        XCTAssertEqual(try engine.scan(.write, from: bytes("bb"), limit: 0), [])
    }

    func testReverseIteration() throws {
        let engine = try RocksEngine(path: directory)
        var batch = WriteBatch()
        for key in ["a", "b", "c"] { batch.put(.default, bytes(key), []) }
        try engine.write(batch, sync: false)
        let iterator = try engine.makeIterator(.default, lowerBound: nil, upperBound: bytes("c"))
        iterator.seekToLast()
        XCTAssertEqual(iterator.key, bytes("b"))
        iterator.seekForPrev(bytes("bz"))
        XCTAssertEqual(iterator.key, bytes("b"))
        iterator.previous()
        XCTAssertEqual(iterator.key, bytes("a"))
        iterator.previous()
        XCTAssertFalse(iterator.isValid)
    }

    func testSnapshotIsConsistent() throws {
        let engine = try RocksEngine(path: directory)
        var batch = WriteBatch()
        batch.put(.default, bytes("k"), bytes("old"))
        try engine.write(batch, sync: false)
        let snapshot = try engine.snapshot()
        var update = WriteBatch()
        update.put(.default, bytes("k"), bytes("new"))
        update.put(.default, bytes("k2"), bytes("new"))
        try engine.write(update, sync: false)
        XCTAssertEqual(try snapshot.get(.default, bytes("k")), bytes("old"))
        XCTAssertEqual(try snapshot.scan(.default, from: [], limit: 10).count, 1)
        XCTAssertEqual(try engine.get(.default, bytes("k")), bytes("new"))
    }

    func testReadersOutliveCloseSafely() throws {
        var engine: RocksEngine? = try RocksEngine(path: directory)
        var batch = WriteBatch()
        batch.put(.default, bytes("k"), bytes("v"))
        try engine!.write(batch, sync: true)
        var snapshot: (any KVReader)? = try engine!.snapshot()
        var iterator: EngineIterator? = try engine!.makeIterator(.default, lowerBound: nil, upperBound: nil)
        engine!.close()
        XCTAssertThrowsError(try engine!.get(.default, bytes("k")))
        XCTAssertThrowsError(try engine!.snapshot())
        // The snapshot and the iterator opened before close still read the database.
        XCTAssertEqual(try snapshot!.get(.default, bytes("k")), bytes("v"))
        XCTAssertEqual(try snapshot!.scan(.default, from: [], limit: 10).count, 1)
        iterator!.seekToFirst()
        XCTAssertEqual(iterator!.key, bytes("k"))
        engine = nil
        snapshot = nil
        iterator = nil
        // The last reader gone, the database is released and can be opened again.
        let reopened = try RocksEngine(path: directory)
        XCTAssertEqual(try reopened.get(.default, bytes("k")), bytes("v"))
    }

    func testDeleteRange() throws {
        let engine = try RocksEngine(path: directory)
        var batch = WriteBatch()
        for key in ["a", "b", "c", "d"] { batch.put(.default, bytes(key), []) }
        batch.deleteRange(.default, from: bytes("b"), to: bytes("d"))
        try engine.write(batch, sync: false)
        XCTAssertEqual(try engine.scan(.default, from: [], limit: 10).map(\.key), ["a", "d"].map(bytes))
    }

    func testDataSurvivesReopen() throws {
        do {
            let engine = try RocksEngine(path: directory)
            var batch = WriteBatch()
            batch.put(.write, bytes("durable"), bytes("yes"))
            try engine.write(batch, sync: true)
            engine.close()
            XCTAssertThrowsError(try engine.get(.write, bytes("durable")))
        }
        let reopened = try RocksEngine(path: directory)
        XCTAssertEqual(try reopened.get(.write, bytes("durable")), bytes("yes"))
    }

    func testGroupCommitterAppliesConcurrentBatches() async throws {
        let engine = try RocksEngine(path: directory)
        let committer = GroupCommitter(engine: engine)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask {
                    var batch = WriteBatch()
                    batch.put(.default, Array("key-\(index)".utf8), Array("\(index)".utf8))
                    try await committer.commit(batch)
                }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(try engine.scan(.default, from: [], limit: 1000).count, 200)
        committer.stop()
        var late = WriteBatch()
        late.put(.default, bytes("late"), [])
        do {
            try await committer.commit(late)
            XCTFail("commit after stop must fail")
        } catch {
            XCTAssertEqual(error as? StorageError, .closed)
        }
    }
}
