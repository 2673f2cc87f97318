import Foundation
import XCTest
@testable import Storage

final class RaftLogEngineTests: XCTestCase {
    private var directory: String!

    override func setUp() {
        directory = NSTemporaryDirectory() + "raftlog-\(UUID().uuidString)"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private var smallOptions: RaftLogEngine.Options {
        var options = RaftLogEngine.Options()
        options.segmentSize = 4096
        options.checkpointAfterBytes = 16 << 10
        return options
    }

    /// A raft-log-like key: region, then index.
    private func key(_ region: UInt64, _ index: UInt64) -> [UInt8] {
        var key: [UInt8] = [1, 2]
        for shift in stride(from: 56, through: 0, by: -8) { key.append(UInt8(truncatingIfNeeded: region >> UInt64(shift))) }
        key.append(1)
        for shift in stride(from: 56, through: 0, by: -8) { key.append(UInt8(truncatingIfNeeded: index >> UInt64(shift))) }
        return key
    }

    private func put(_ pairs: [([UInt8], [UInt8])]) -> WriteBatch {
        var batch = WriteBatch()
        for (key, value) in pairs { batch.put(.default, key, value) }
        return batch
    }

    private func contents(_ engine: RaftLogEngine) throws -> [KeyValue] {
        var pairs: [KeyValue] = []
        try engine.scan(from: [], to: [0xFF]) { pairs.append(KeyValue(key: $0, value: $1)); return true }
        return pairs
    }

    private func files(_ prefix: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(prefix) }.sorted()
    }

    func testWritesSurviveReopen() throws {
        var engine: RaftLogEngine? = try RaftLogEngine(directory: directory, options: smallOptions)
        try engine!.write(put([(key(1, 1), [1]), (key(1, 2), [2])]), sync: true)
        try engine!.write(put([(key(2, 1), [3])]), sync: false)
        var batch = WriteBatch()
        batch.delete(.default, key(1, 1))
        batch.put(.default, key(1, 3), [4])
        try engine!.write(batch, sync: true)
        engine!.close()
        engine = nil

        let reopened = try RaftLogEngine(directory: directory, options: smallOptions)
        XCTAssertEqual(try contents(reopened), [KeyValue(key: key(1, 2), value: [2]), KeyValue(key: key(1, 3), value: [4]),
                                               KeyValue(key: key(2, 1), value: [3])])
        XCTAssertNil(try reopened.get(key(1, 1)))
        XCTAssertEqual(try reopened.get(key(2, 1)), [3])
        reopened.close()
    }

    func testOtherColumnFamiliesAreRefused() throws {
        let engine = try RaftLogEngine(directory: directory, options: smallOptions)
        defer { engine.close() }
        var batch = WriteBatch()
        batch.put(.lock, [1], [1])
        XCTAssertThrowsError(try engine.write(batch, sync: true))
        XCTAssertEqual(try contents(engine), [])
    }

    /// A crash in the middle of a write leaves part of a record: it was never acknowledged and
    /// is dropped; writes after the restart continue the log and survive the next one.
    func testTornLastRecordIsDropped() throws {
        // No spare segments: the engine switches to a spare as soon as one is ready, and one
        // made in the background between the two writes put the second record at the start of
        // another segment, where the damage below missed it (a rare failure of this test).
        var options = smallOptions
        options.spareSegments = 0
        var engine: RaftLogEngine? = try RaftLogEngine(directory: directory, options: options)
        try engine!.write(put([(key(1, 1), [1])]), sync: true)
        try engine!.write(put([(key(1, 2), Array(repeating: 7, count: 200))]), sync: true)
        engine!.close()
        engine = nil
        // Damage the second record's payload (the segment in use is the highest numbered).
        let segment = directory + "/" + (try files("wal-")).last!
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: segment))
        let data = try handle.readToEnd()!
        let second = 16 + ((data[0] == 0 ? 0 : Int(data[0])) + 7) / 8 * 8
        handle.seek(toFileOffset: UInt64(second + 100))
        handle.write(Data([0xAB, 0xCD]))
        handle.closeFile()

        engine = try RaftLogEngine(directory: directory, options: options)
        XCTAssertEqual(try contents(engine!), [KeyValue(key: key(1, 1), value: [1])])
        try engine!.write(put([(key(1, 2), [9])]), sync: true)
        engine!.close()
        engine = nil
        let reopened = try RaftLogEngine(directory: directory, options: options)
        XCTAssertEqual(try contents(reopened), [KeyValue(key: key(1, 1), value: [1]), KeyValue(key: key(1, 2), value: [9])])
        reopened.close()
    }

    /// Damage before the end of the log (a later segment goes on past it) is not a torn write.
    func testMissingRecordsBeforeLaterSegmentsAreReported() throws {
        var engine: RaftLogEngine? = try RaftLogEngine(directory: directory, options: smallOptions)
        for index in 1...40 { try engine!.write(put([(key(1, UInt64(index)), Array(repeating: 1, count: 300))]), sync: true) }
        engine!.close()
        engine = nil
        let segments = try files("wal-")
        XCTAssertGreaterThan(segments.count, 2)
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: directory + "/" + segments[segments.count - 2]))
        handle.seek(toFileOffset: 20)
        handle.write(Data([0xAB, 0xCD]))
        handle.closeFile()
        XCTAssertThrowsError(try RaftLogEngine(directory: directory, options: smallOptions)) { error in
            XCTAssertTrue("\(error)".contains("missing or damaged"), "\(error)")
        }
    }

    /// Log GC deletes old entries; checkpoints then retire the segments that held them, keeping
    /// a few as spares, and a reopened engine has exactly what was left.
    func testCheckpointsRetireSegments() throws {
        var engine: RaftLogEngine? = try RaftLogEngine(directory: directory, options: smallOptions)
        var model: [[UInt8]: [UInt8]] = [:]
        for index in 1...600 {
            let value = Array(repeating: UInt8(index & 0xFF), count: 100)
            try engine!.write(put([(key(7, UInt64(index)), value)]), sync: index % 10 == 0)
            model[key(7, UInt64(index))] = value
            if index % 50 == 0 {
                var batch = WriteBatch()
                batch.deleteRange(.default, from: key(7, 0), to: key(7, UInt64(index - 20)))
                try engine!.write(batch, sync: false)
                for stale in model.keys where OrderedKeyMap.compare(stale, key(7, UInt64(index - 20))) < 0 { model[stale] = nil }
            }
        }
        engine!.close()
        engine = nil
        XCTAssertFalse(try files("checkpoint-").isEmpty)
        XCTAssertLessThan(try files("wal-").count, 20, "checkpointed segments are retired")
        XCTAssertLessThanOrEqual(try files("spare-").count, smallOptions.spareSegments + 1)
        let reopened = try RaftLogEngine(directory: directory, options: smallOptions)
        let expected = model.map { KeyValue(key: $0.key, value: $0.value) }.sorted { OrderedKeyMap.compare($0.key, $1.key) < 0 }
        XCTAssertEqual(try contents(reopened), expected)
        reopened.close()
    }

    /// Random batches with reopenings in between always read back as a dictionary would.
    func testRandomWritesAndReopensMatchAModel() throws {
        var generator = SystemRandomNumberGenerator()
        var engine = try RaftLogEngine(directory: directory, options: smallOptions)
        var model: [[UInt8]: [UInt8]] = [:]
        for round in 0..<300 {
            var batch = WriteBatch()
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let region = UInt64.random(in: 1...5, using: &generator)
                let index = UInt64.random(in: 1...60, using: &generator)
                if Bool.random(using: &generator) || round % 7 != 0 {
                    let value = (0..<Int.random(in: 1...200, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                    batch.put(.default, key(region, index), value)
                } else {
                    batch.deleteRange(.default, from: key(region, 0), to: key(region, index))
                }
            }
            try engine.write(batch, sync: Bool.random(using: &generator))
            for operation in batch.operations {
                switch operation {
                case .put(_, let key, let value): model[key] = value
                case .delete(_, let key): model[key] = nil
                case .deleteRange(_, let start, let end):
                    for existing in model.keys where OrderedKeyMap.compare(existing, start) >= 0 && OrderedKeyMap.compare(existing, end) < 0 {
                        model[existing] = nil
                    }
                }
            }
            if round % 37 == 0 {
                engine.close()
                engine = try RaftLogEngine(directory: directory, options: smallOptions)
            }
            let region = UInt64.random(in: 1...5, using: &generator)
            var scanned: [KeyValue] = []
            try engine.scan(from: key(region, 0), to: key(region, 100)) { scanned.append(KeyValue(key: $0, value: $1)); return true }
            let expected = model.filter { OrderedKeyMap.compare($0.key, key(region, 0)) >= 0 && OrderedKeyMap.compare($0.key, key(region, 100)) < 0 }
                .map { KeyValue(key: $0.key, value: $0.value) }.sorted { OrderedKeyMap.compare($0.key, $1.key) < 0 }
            XCTAssertEqual(scanned, expected, "round \(round)")
        }
        engine.close()
    }
}
