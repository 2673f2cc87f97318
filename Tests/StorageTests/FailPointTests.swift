import Foundation
import Synchronization
import XCTest
@testable import Storage

final class FailPointTests: XCTestCase {
    private var directory: String!

    override func setUp() {
        directory = NSTemporaryDirectory() + "failpoints-\(UUID().uuidString)"
        FailPoints.reset()
    }

    override func tearDown() {
        FailPoints.reset()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func put(_ key: String) -> WriteBatch {
        var batch = WriteBatch()
        batch.put(.default, Array(key.utf8), Array("v-\(key)".utf8))
        return batch
    }

    func testParse() throws {
        XCTAssertEqual(try FailPoints.parse("engine.write=eio"), ["engine.write": .error(errno: EIO)])
        XCTAssertEqual(try FailPoints.parse(" engine.sync = after(50):enospc ; engine.write=off"),
                       ["engine.sync": .after(50, .error(errno: ENOSPC)), "engine.write": .off])
        XCTAssertEqual(try FailPoints.parse("a=times(2):after(1):eio"), ["a": .times(2, .after(1, .error(errno: EIO)))])
        XCTAssertEqual(try FailPoints.parse(""), [:])
        for bad in ["engine.write", "=eio", "x=boom", "x=after(-1):eio", "x=after(3)eio", "x=after(z):eio"] {
            XCTAssertThrowsError(try FailPoints.parse(bad), bad)
        }
    }

    func testAfterAndTimes() throws {
        try FailPoints.configure("a=after(2):eio;b=times(1):enospc")
        XCTAssertNil(FailPoints.evaluate("a"))
        XCTAssertNil(FailPoints.evaluate("a"))
        XCTAssertEqual(FailPoints.evaluate("a"), .injected(point: "a", errno: EIO))
        XCTAssertEqual(FailPoints.evaluate("a"), .injected(point: "a", errno: EIO))
        XCTAssertEqual(FailPoints.evaluate("b"), .injected(point: "b", errno: ENOSPC))
        XCTAssertNil(FailPoints.evaluate("b"))
        XCTAssertNil(FailPoints.evaluate("unknown"))
        XCTAssertTrue("\(StorageError.injected(point: "b", errno: ENOSPC))".contains("No space left on device"))
    }

    func testFailedWriteStopsWritesButNotReads() throws {
        let engine = try RocksEngine(path: directory)
        let reported = Mutex<[String]>([])
        engine.onWriteFailure { cause in reported.withLock { $0.append(cause) } }
        try FailPoints.configure("engine.write=after(3):enospc")
        for i in 0..<3 { try engine.write(put("k\(i)"), sync: true) }
        XCTAssertThrowsError(try engine.write(put("k3"), sync: true)) { error in
            XCTAssertEqual(error as? StorageError, .injected(point: "engine.write", errno: ENOSPC))
        }
        // Fail-stop: even with the fault gone, writes are refused with the original cause.
        FailPoints.reset()
        XCTAssertThrowsError(try engine.write(put("k4"), sync: false)) { error in
            guard case .writesStopped(let cause) = error as? StorageError else { return XCTFail("\(error)") }
            XCTAssertTrue(cause.contains("No space left on device"), cause)
        }
        XCTAssertEqual(reported.withLock { $0 }.count, 1)
        XCTAssertNotNil(engine.writeFailure)
        // Reads keep working; nothing of the failed writes is there.
        XCTAssertEqual(try engine.get(.default, Array("k2".utf8)), Array("v-k2".utf8))
        XCTAssertNil(try engine.get(.default, Array("k3".utf8)))
        XCTAssertNil(try engine.get(.default, Array("k4".utf8)))
        engine.close()

        // After a restart without the fault, everything acknowledged is there and writes work.
        let reopened = try RocksEngine(path: directory)
        for i in 0..<3 { XCTAssertEqual(try reopened.get(.default, Array("k\(i)".utf8)), Array("v-k\(i)".utf8)) }
        try reopened.write(put("k5"), sync: true)
        reopened.close()
    }

    func testFailedSyncThroughGroupCommit() async throws {
        let engine = try RocksEngine(path: directory)
        let storage = StandaloneStorage(engine: engine)
        try FailPoints.configure("engine.sync=after(1):eio")
        try await storage.write(.init(), put("a"))
        do {
            try await storage.write(.init(), put("b"))
            XCTFail("the synced write should fail")
        } catch {
            XCTAssertTrue("\(error)".contains("Input/output error"), "\(error)")
        }
        do {
            try await storage.write(.init(), put("c"))
            XCTFail("writes should stay stopped")
        } catch {
            XCTAssertTrue("\(error)".contains("stopped serving writes"), "\(error)")
        }
        do {
            let reader = try await storage.reader(.init())  // released before the engine closes
            XCTAssertEqual(try reader.get(.default, Array("a".utf8)), Array("v-a".utf8))
        }
        storage.stop()
        engine.close()
    }
}
