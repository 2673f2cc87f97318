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

    func testOnlyTheLockFamilyHasBloomFilters() throws {
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
        for family in ["default", "write"] {
            XCTAssertEqual(families[family]?["write_buffer_size"], String(64 << 20), family)
            XCTAssertEqual(families[family]?["filter_policy"], "nullptr", family)
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
