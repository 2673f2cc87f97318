import Foundation
import Logging
import Storage
import TinyKVProto
import XCTest
@testable import Transaction

/// One row of MVCC state: a raw CF entry addressed like TinyKV's command tests (user key + ts for
/// `default`/`write`, the raw key for `lock`).
struct Row {
    var cf: ColumnFamily
    var key: [UInt8]
    var ts: UInt64 = 0
    var value: [UInt8]? = nil

    static func value(_ key: [UInt8], _ ts: UInt64, _ value: [UInt8]) -> Row { Row(cf: .default, key: key, ts: ts, value: value) }
    static func write(_ key: [UInt8], _ commitTs: UInt64, _ kind: WriteKind, start: UInt64, shortValue: [UInt8]? = nil) -> Row {
        Row(cf: .write, key: key, ts: commitTs, value: Write(startTs: start, kind: kind, shortValue: shortValue).encode())
    }
    static func lock(_ key: [UInt8], primary: [UInt8], ts: UInt64, ttl: UInt64 = 0, kind: WriteKind = .put, shortValue: [UInt8]? = nil) -> Row {
        Row(cf: .lock, key: key, value: Lock(primary: primary, ts: ts, ttl: ttl, kind: kind, shortValue: shortValue).encode())
    }

    var engineKey: [UInt8] { cf == .lock ? key : MvccKey.encode(key, ts: ts) }
}

/// A TransactionService over a fresh RocksDB in a temporary directory.
final class Fixture: @unchecked Sendable {
    let directory = NSTemporaryDirectory() + "txn-\(UUID().uuidString)"
    let engine: RocksEngine
    let committer: GroupCommitter
    let service: TransactionService

    /// `shortValueMaxLength` -1 (the default) keeps every value in `default`: TinyKV's layout, which
    /// the row-level tests (ports of TinyKV's command tests) assert.
    init(latches: Latches = Latches(), shortValueMaxLength: Int = -1) throws {
        engine = try RocksEngine(path: directory)
        committer = GroupCommitter(engine: engine)
        var logger = Logger(label: "txn-test")
        logger.logLevel = .error
        service = TransactionService(storage: StandaloneStorage(engine: engine, committer: committer), latches: latches,
                                     logger: logger, shortValueMaxLength: shortValueMaxLength)
    }

    deinit {
        committer.stop()
        engine.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func load(_ rows: [Row]) throws {
        var batch = WriteBatch()
        for row in rows { batch.put(row.cf, row.engineKey, row.value ?? []) }
        try engine.write(batch, sync: false)
    }

    func count(_ cf: ColumnFamily) throws -> Int {
        try engine.scan(cf, from: [], limit: .max).count
    }

    /// Asserts the number of entries in default, lock and write.
    func assertCounts(_ defaults: Int, _ locks: Int, _ writes: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try count(.default), defaults, "default", file: file, line: line)
        XCTAssertEqual(try count(.lock), locks, "lock", file: file, line: line)
        XCTAssertEqual(try count(.write), writes, "write", file: file, line: line)
    }

    /// Asserts each row is stored with its value (a nil value: asserts the entry exists).
    func assertRows(_ rows: [Row], file: StaticString = #filePath, line: UInt = #line) throws {
        for row in rows {
            let stored = try engine.get(row.cf, row.engineKey)
            if let value = row.value {
                XCTAssertEqual(stored, value, "\(row.cf) \(row.key)@\(row.ts)", file: file, line: line)
            } else {
                XCTAssertNotNil(stored, "\(row.cf) \(row.key)@\(row.ts) missing", file: file, line: line)
            }
        }
    }

    func assertAbsent(_ rows: [Row], file: StaticString = #filePath, line: UInt = #line) throws {
        for row in rows {
            XCTAssertNil(try engine.get(row.cf, row.engineKey), "\(row.cf) \(row.key)@\(row.ts) present", file: file, line: line)
        }
    }
}

func put(_ key: UInt8, _ value: [UInt8]) -> Kvrpcpb.Mutation { Kvrpcpb.Mutation(op: .put, key: [key], value: value) }
func del(_ key: UInt8) -> Kvrpcpb.Mutation { Kvrpcpb.Mutation(op: .del, key: [key]) }
