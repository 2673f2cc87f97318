import Foundation
import Logging
import Storage
import XCTest
@testable import RaftStore

final class RaftEngineDirectoryTests: XCTestCase {
    private let directory = NSTemporaryDirectory() + "raft-engine-dir-\(UUID().uuidString)"
    private let logger = Logger(label: "test")

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func write(_ engine: any RaftLogStore, count: Int, region: UInt64) throws {
        var batch = WriteBatch()
        for index in 1...count { batch.put(.default, Keys.raftLogKey(region, UInt64(index)), Array("entry \(index)".utf8)) }
        batch.put(.default, Keys.raftStateKey(region), [7])
        try engine.write(batch, sync: true)
    }

    private func contents(_ engine: any RaftLogStore) throws -> [KeyValue] {
        var pairs: [KeyValue] = []
        try engine.scan(from: [], to: [0xFF]) { pairs.append(KeyValue(key: $0, value: $1)); return true }
        return pairs
    }

    /// A store written with one raft engine and restarted with the other keeps its logs, and
    /// the old engine's directory goes.
    func testLogsMoveToTheConfiguredEngineBothWays() throws {
        let rocks = try RaftEngineDirectory.open(.rocksdb, dataPath: directory, logger: logger)
        try write(rocks, count: 300, region: 2)
        try write(rocks, count: 5, region: 9)
        let written = try contents(rocks)
        rocks.close()
        XCTAssertEqual(written.count, 307)

        let log = try RaftEngineDirectory.open(.raftLog, dataPath: directory, logger: logger)
        XCTAssertEqual(try contents(log), written)
        XCTAssertEqual(try log.get(Keys.raftLogKey(2, 300)), Array("entry 300".utf8))
        log.close()
        XCTAssertFalse(FileManager.default.fileExists(atPath: RaftEngineDirectory.path(.rocksdb, directory)))

        let back = try RaftEngineDirectory.open(.rocksdb, dataPath: directory, logger: logger)
        XCTAssertEqual(try contents(back), written)
        back.close()
        XCTAssertFalse(FileManager.default.fileExists(atPath: RaftEngineDirectory.path(.raftLog, directory)))
    }

    /// A copy interrupted before its rename leaves the old engine in charge; the next start copies again.
    func testInterruptedMoveStartsOver() throws {
        let rocks = try RaftEngineDirectory.open(.rocksdb, dataPath: directory, logger: logger)
        try write(rocks, count: 10, region: 3)
        let written = try contents(rocks)
        rocks.close()
        let partial = try RaftLogEngine(directory: RaftEngineDirectory.path(.raftLog, directory) + ".partial")
        var batch = WriteBatch()
        batch.put(.default, Keys.raftLogKey(3, 99), [1])
        try partial.write(batch, sync: true)
        partial.close()

        let log = try RaftEngineDirectory.open(.raftLog, dataPath: directory, logger: logger)
        XCTAssertEqual(try contents(log), written)
        log.close()
    }

    /// A crash after the copy was renamed into place but before the old engine was removed.
    func testLeftoverOldEngineAfterACompletedMoveIsRemoved() throws {
        let log = try RaftEngineDirectory.open(.raftLog, dataPath: directory, logger: logger)
        try write(log, count: 4, region: 5)
        let written = try contents(log)
        log.close()
        let stale = try RaftEngineDirectory.open(.rocksdb, dataPath: directory + "/elsewhere", logger: logger)
        stale.close()
        try FileManager.default.moveItem(atPath: RaftEngineDirectory.path(.rocksdb, directory + "/elsewhere"),
                                         toPath: RaftEngineDirectory.path(.rocksdb, directory))
        let reopened = try RaftEngineDirectory.open(.raftLog, dataPath: directory, logger: logger)
        XCTAssertEqual(try contents(reopened), written)
        reopened.close()
        XCTAssertFalse(FileManager.default.fileExists(atPath: RaftEngineDirectory.path(.rocksdb, directory)))
    }
}
