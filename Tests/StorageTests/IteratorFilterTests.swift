import Storage
import XCTest

/// `EngineIterator.skipKeys(where:)`: every move steps over the skipped keys, in both directions.
final class IteratorFilterTests: XCTestCase {
    func testSkippedKeysAreInvisibleToEveryMove() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("iterfilter-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let engine = try RocksEngine(path: path)
        defer { engine.close() }
        var batch = WriteBatch()
        for i in 0..<20 { batch.put(.default, [UInt8(i)], [UInt8(i)]) }
        try engine.write(batch, sync: false)
        let iterator = try engine.makeIterator(.default, lowerBound: nil, upperBound: nil)
        iterator.skipKeys { $0[0] % 3 != 0 }  // keep 0, 3, 6, ..., 18
        var forward: [UInt8] = []
        iterator.seekToFirst()
        while iterator.isValid { forward.append(iterator.key[0]); iterator.next() }
        XCTAssertEqual(forward, [0, 3, 6, 9, 12, 15, 18])
        var backward: [UInt8] = []
        iterator.seekToLast()
        while iterator.isValid { backward.append(iterator.key[0]); iterator.previous() }
        XCTAssertEqual(backward, [18, 15, 12, 9, 6, 3, 0])
        iterator.seek([4])
        XCTAssertEqual(iterator.key, [6])
        iterator.seekForPrev([8])
        XCTAssertEqual(iterator.key, [6])
        iterator.seek([19])
        XCTAssertFalse(iterator.isValid)
    }
}
