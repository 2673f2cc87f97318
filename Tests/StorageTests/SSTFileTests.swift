import Foundation
import XCTest
@testable import Storage

/// The SST writer and ingestion wrappers, and the CRC-32 used for snapshot files.
final class SSTFileTests: XCTestCase {
    private var directory: String!
    private var engine: RocksEngine!

    override func setUp() {
        directory = NSTemporaryDirectory() + "sst-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: directory + "/db", withIntermediateDirectories: true)
        engine = try! RocksEngine(path: directory + "/db")
    }

    override func tearDown() {
        engine.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    func testWriteAndIngestReplacesValuesAndKeepsOtherKeys() throws {
        var existing = WriteBatch()
        existing.put(.write, bytes("a"), bytes("old-a"))
        existing.put(.write, bytes("k1"), bytes("old-k1"))
        existing.put(.write, bytes("z"), bytes("old-z"))
        try engine.write(existing, sync: false)

        let path = directory + "/write.sst"
        let writer = try SSTFileWriter(path: path)
        for index in 0..<1000 { try writer.put(bytes(String(format: "k%04d", index)), bytes("v\(index)")) }
        try writer.put(bytes("k1"), bytes("new-k1"))  // "k1" sorts after "k0999"
        XCTAssertEqual(writer.count, 1001)
        let size = try writer.finish()
        XCTAssertGreaterThan(size, 0)
        XCTAssertEqual((try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.uint64Value, size)

        try engine.ingest(.write, files: [path])
        XCTAssertEqual(try engine.get(.write, bytes("k0000")), bytes("v0"))
        XCTAssertEqual(try engine.get(.write, bytes("k0999")), bytes("v999"))
        XCTAssertEqual(try engine.get(.write, bytes("k1")), bytes("new-k1"))
        XCTAssertEqual(try engine.get(.write, bytes("a")), bytes("old-a"))
        XCTAssertEqual(try engine.get(.write, bytes("z")), bytes("old-z"))
        XCTAssertNil(try engine.get(.default, bytes("k0000")), "ingested into its own column family only")
        // The file was copied: it is still there for a redo after a crash.
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
        // Ingested data survives a reopen.
        engine.close()
        engine = try RocksEngine(path: directory + "/db")
        XCTAssertEqual(try engine.get(.write, bytes("k0500")), bytes("v500"))
    }

    func testIngestAfterDeletesWins() throws {
        var batch = WriteBatch()
        batch.put(.default, bytes("b"), bytes("stale"))
        try engine.write(batch, sync: false)
        var clear = WriteBatch()
        clear.deleteRange(.default, from: bytes("a"), to: bytes("c"))
        try engine.write(clear, sync: false)
        let path = directory + "/d.sst"
        let writer = try SSTFileWriter(path: path)
        try writer.put(bytes("b"), bytes("fresh"))
        try writer.finish()
        try engine.ingest(.default, files: [path])
        XCTAssertEqual(try engine.get(.default, bytes("b")), bytes("fresh"))
    }

    func testOutOfOrderKeysAndBadFilesAreErrors() throws {
        let writer = try SSTFileWriter(path: directory + "/bad.sst")
        try writer.put(bytes("b"), bytes("1"))
        XCTAssertThrowsError(try writer.put(bytes("a"), bytes("2")))
        XCTAssertThrowsError(try writer.put(bytes("b"), bytes("2")), "duplicate keys are refused too")
        XCTAssertThrowsError(try engine.ingest(.default, files: [directory + "/missing.sst"]))
        let garbage = directory + "/garbage.sst"
        FileManager.default.createFile(atPath: garbage, contents: Data(repeating: 7, count: 4096))
        XCTAssertThrowsError(try engine.ingest(.default, files: [garbage]))
        XCTAssertThrowsError(try SSTFileWriter(path: directory + "/no/such/dir/x.sst"))
    }

    func testCRC32() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum([]), 0)
        var incremental = CRC32()
        incremental.update(Array("1234".utf8))
        incremental.update(Array("56789".utf8))
        XCTAssertEqual(incremental.value, 0xCBF4_3926)
    }
}
