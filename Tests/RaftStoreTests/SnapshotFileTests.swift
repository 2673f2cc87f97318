import Foundation
import Logging
import Raft
import Storage
import TinyKVProto
import XCTest
@testable import RaftStore

/// Snapshots on their own: generation into SST files, the chunked stream between two
/// stores' directories, checksum and broken-stream handling, apply and its crash recovery.
final class SnapshotFileTests: XCTestCase {
    private var source: Engines!
    private var target: Engines!
    private var sourceFiles: SnapshotManager!
    private var targetFiles: SnapshotManager!
    private let region = Metapb.Region(id: 2, startKey: Array("b".utf8), endKey: Array("y".utf8),
                                       regionEpoch: Metapb.RegionEpoch(confVer: 1, version: 1),
                                       peers: [Metapb.Peer(id: 3, storeId: 1), Metapb.Peer(id: 4, storeId: 2)])
    /// Pairs in `default` written by ``generate()`` (enough for several 1 MiB chunks).
    private let bulkKeys = 2500

    override func setUp() {
        FailPoints.reset()
        source = try! Engines()
        target = try! Engines()
        sourceFiles = try! SnapshotManager(directory: source.directory + "/snap")
        targetFiles = try! SnapshotManager(directory: target.directory + "/snap")
    }

    override func tearDown() {
        FailPoints.reset()
        source.close()
        target.close()
    }

    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    private func bulkKey(_ index: Int) -> [UInt8] { bytes(String(format: "c%05d", index)) }

    private func bulkValue(_ index: Int) -> [UInt8] {
        var generator = SeededGenerator(seed: UInt64(index))
        return (0..<1000).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    private func sstFiles(_ manager: SnapshotManager) -> [String] {
        manager.listing().map { ($0 as NSString).lastPathComponent }.sorted()
    }

    /// Writes region data on the source store and generates its snapshot the way Raft asks
    /// for it: unavailable first, then ready once the background worker is done.
    private func generate() throws -> RaftServerpb.RaftMessage {
        try StoreBootstrap.writeFirstRegion(region, kvEngine: source.kv, raftEngine: source.raft)
        let generated = Locked<Result<Eraftpb.Snapshot, any Error>?>(nil)
        let finished = DispatchSemaphore(value: 0)
        var logger = Logger(label: "snapshot-test")
        logger.logLevel = .critical
        let worker = SnapshotWorker(manager: sourceFiles, logger: logger) { _, result in
            generated.withLock { $0 = result }
            finished.signal()
        }
        let storage = try PeerStorage(region: region, raftEngine: source.raft, kvEngine: source.kv, snapshotWorker: worker)
        var log = WriteBatch()
        storage.append((6...9).map { Eraftpb.Entry(term: 6, index: $0, data: bytes("e\($0)")) }, into: &log)
        try source.raft.write(log, sync: true)
        var data = WriteBatch()
        data.put(.default, bytes("a"), bytes("outside"))
        for index in 0..<bulkKeys { data.put(.default, bulkKey(index), bulkValue(index)) }
        data.put(.lock, bytes("d"), bytes("2"))
        data.put(.write, bytes("e"), bytes("3"))
        data.put(.default, bytes("z"), bytes("outside"))
        data.put(.raft, Keys.applyStateKey(2), RaftServerpb.RaftApplyState(
            appliedIndex: 8, truncatedState: RaftServerpb.RaftTruncatedState(index: 5, term: 5)).encode())
        try source.kv.write(data, sync: true)

        XCTAssertThrowsError(try storage.snapshot()) { XCTAssertEqual($0 as? RaftStorageError, .snapshotTemporarilyUnavailable) }
        XCTAssertThrowsError(try storage.snapshot(), "still generating") { XCTAssertEqual($0 as? RaftStorageError, .snapshotTemporarilyUnavailable) }
        // Writes after the view was taken are not in the snapshot.
        var later = WriteBatch()
        later.put(.default, bytes("c99999"), bytes("later"))
        try source.kv.write(later, sync: false)
        finished.wait()
        storage.snapshotGenerated(generated.withLock { $0! })
        let snapshot = try storage.snapshot()
        XCTAssertEqual(snapshot.metadata?.index, 8)
        XCTAssertEqual(snapshot.metadata?.term, 6)
        XCTAssertEqual(snapshot.metadata?.confState?.nodes, [3, 4])
        let decoded = try RaftServerpb.RaftSnapshotData(decoding: snapshot.data)
        XCTAssertEqual(decoded.region, region)
        XCTAssertEqual(decoded.data, [], "no key/values in the message")
        XCTAssertEqual(decoded.meta?.cfFiles.map(\.cf), ["default", "lock", "write"])
        XCTAssertGreaterThan(decoded.fileSize, 2 << 20)
        XCTAssertEqual(decoded.fileSize, decoded.meta!.cfFiles.reduce(0) { $0 + $1.size })
        XCTAssertLessThan(snapshot.data.count, 200)
        XCTAssertEqual(sstFiles(sourceFiles), decoded.meta!.cfFiles.map { "gen_2_6_8_\($0.cf)_\(String($0.checksum, radix: 16)).sst" }.sorted())
        // Handed out once: the next request starts a new generation.
        XCTAssertThrowsError(try storage.snapshot()) { XCTAssertEqual($0 as? RaftStorageError, .snapshotTemporarilyUnavailable) }
        finished.wait()
        return RaftServerpb.RaftMessage(regionId: 2, fromPeer: region.peers[0], toPeer: region.peers[1],
                                        message: Eraftpb.Message(msgType: .msgSnapshot, to: 4, from: 3, snapshot: snapshot),
                                        regionEpoch: region.regionEpoch)
    }

    /// Streams `message` from the source's files into a receiver on the target, through the
    /// wire encoding; `mangle` may alter chunk `n`, `stopAfter` breaks the stream.
    private func stream(_ message: RaftServerpb.RaftMessage, mangle: ((Int, inout RaftServerpb.SnapshotChunk) -> Void)? = nil,
                        stopAfter: Int? = nil) async throws -> RaftServerpb.RaftMessage {
        struct Broken: Error {}
        let receiver = try SnapshotReceiver(manager: targetFiles)
        var count = 0
        do {
            try await SnapshotSender.send(message, manager: sourceFiles) { chunk in
                var chunk = try RaftServerpb.SnapshotChunk(decoding: chunk.encode())
                XCTAssertLessThanOrEqual(chunk.data.count, SnapshotSender.chunkSize)
                mangle?(count, &chunk)
                if let stopAfter, count == stopAfter { throw Broken() }
                count += 1
                try receiver.accept(chunk)
            }
            return try receiver.finish()
        } catch {
            receiver.abort()
            throw error
        }
    }

    func testGenerateStreamAndApply() async throws {
        let message = try generate()
        var stale = WriteBatch()
        stale.put(.default, bytes("x"), bytes("stale"))
        stale.put(.default, bytes("zz"), bytes("other region"))
        try target.kv.write(stale, sync: true)

        let received = try await stream(message)
        XCTAssertEqual(received, message)
        let sent = try RaftServerpb.RaftSnapshotData(decoding: message.message!.snapshot!.data).meta!.cfFiles
        for file in sent {
            XCTAssertFalse(FileManager.default.fileExists(atPath: sourceFiles.generatedPath(SnapshotKey(message), file: file)),
                           "generated files go once their send finished")
        }
        XCTAssertEqual(sstFiles(targetFiles), (sent.map { "rev_2_6_8_\($0.cf)_\(String($0.checksum, radix: 16)).sst" } + ["rev_2_6_8_meta"]).sorted())

        let key = SnapshotKey(received)
        let data = try targetFiles.loadReceived(key, verifyChecksums: true)
        try SnapshotApplier.apply(data, key: key, oldRegion: nil, kvEngine: target.kv, manager: targetFiles)
        for index in stride(from: 0, to: bulkKeys, by: 97) {
            XCTAssertEqual(try target.kv.get(.default, bulkKey(index)), bulkValue(index))
        }
        XCTAssertEqual(try target.kv.get(.lock, bytes("d")), bytes("2"))
        XCTAssertEqual(try target.kv.get(.write, bytes("e")), bytes("3"))
        XCTAssertNil(try target.kv.get(.default, bytes("x")), "stale data in the range is cleared")
        XCTAssertNil(try target.kv.get(.default, bytes("c99999")), "written after the snapshot's view")
        XCTAssertNil(try target.kv.get(.default, bytes("a")))
        XCTAssertEqual(try target.kv.get(.default, bytes("zz")), bytes("other region"))
        let state = try RaftServerpb.RegionLocalState(decoding: try target.kv.get(.raft, Keys.regionStateKey(2))!)
        XCTAssertEqual(state.state, .normal)
        XCTAssertEqual(state.region, region)
        let applyState = try RaftServerpb.RaftApplyState(decoding: try target.kv.get(.raft, Keys.applyStateKey(2))!)
        XCTAssertEqual(applyState.appliedIndex, 8)
        XCTAssertEqual(applyState.truncatedState, RaftServerpb.RaftTruncatedState(index: 8, term: 6))
        XCTAssertEqual(sstFiles(targetFiles), [], "received files go once applied")

        // The raft half, as the poller does it; a restart sees the same.
        let installed = try PeerStorage(region: Metapb.Region(id: 2), raftEngine: target.raft, kvEngine: target.kv)
        var raftBatch = WriteBatch()
        installed.installSnapshot(index: 8, term: 6, region: region, into: &raftBatch)
        try target.raft.write(raftBatch, sync: true)
        XCTAssertEqual(try installed.firstIndex(), 9)
        XCTAssertEqual(try installed.term(8), 6)
        let reopened = try PeerStorage(region: region, raftEngine: target.raft, kvEngine: target.kv)
        XCTAssertEqual(try reopened.lastIndex(), 8)
        XCTAssertEqual(reopened.appliedIndexAtStart, 8)
    }

    func testChecksumMismatchDropsTheFilesAndTheMessage() async throws {
        let message = try generate()
        do {
            _ = try await stream(message) { index, chunk in
                if index == 2 { chunk.data[100] ^= 0x01 }
            }
            XCTFail("a corrupted chunk was accepted")
        } catch let error as SnapshotFileError {
            XCTAssertTrue(error.description.contains("checksum mismatch"), error.description)
        }
        XCTAssertEqual(sstFiles(targetFiles), [])
        let sent = try RaftServerpb.RaftSnapshotData(decoding: message.message!.snapshot!.data).meta!.cfFiles
        XCTAssertFalse(sent.contains { FileManager.default.fileExists(atPath: sourceFiles.generatedPath(SnapshotKey(message), file: $0)) },
                       "the send finished (failed): its files go")
    }

    func testBrokenStreamDropsTheFiles() async throws {
        let message = try generate()
        struct Broken: Error {}
        do {
            _ = try await stream(message, stopAfter: 2)
            XCTFail("a broken stream delivered its message")
        } catch {}
        XCTAssertEqual(sstFiles(targetFiles), [])
        // A stream that simply ends early is refused at finish.
        let receiver = try SnapshotReceiver(manager: targetFiles)
        try receiver.accept(RaftServerpb.SnapshotChunk(message: message))
        try receiver.accept(RaftServerpb.SnapshotChunk(data: [1, 2, 3]))
        XCTAssertThrowsError(try receiver.finish())
        receiver.abort()
        XCTAssertEqual(sstFiles(targetFiles), [])
        // Data before the message, or a message without a snapshot, are refused.
        let second = try SnapshotReceiver(manager: targetFiles)
        XCTAssertThrowsError(try second.accept(RaftServerpb.SnapshotChunk(data: [1])))
        XCTAssertThrowsError(try second.accept(RaftServerpb.SnapshotChunk(message: RaftServerpb.RaftMessage(regionId: 2))))
        second.abort()
    }

    func testUnsentSnapshotIsDiscarded() throws {
        let message = try generate()
        let files = try RaftServerpb.RaftSnapshotData(decoding: message.message!.snapshot!.data).meta!.cfFiles
        let key = SnapshotKey(message)
        // A send in progress keeps its files; the discard of another copy of the message leaves them.
        XCTAssertTrue(sourceFiles.beginSend(key, files: files))
        SnapshotSender.discard(message, manager: sourceFiles)
        XCTAssertTrue(files.allSatisfy { FileManager.default.fileExists(atPath: sourceFiles.generatedPath(key, file: $0)) })
        sourceFiles.endSend(key, files: files)
        XCTAssertFalse(files.contains { FileManager.default.fileExists(atPath: sourceFiles.generatedPath(key, file: $0)) })
        XCTAssertFalse(sourceFiles.beginSend(key, files: files), "a send of deleted files fails (Raft asks again)")
    }

    func testConcurrentReceivesAreCapped() throws {
        let files = try SnapshotManager(directory: target.directory + "/capped", maxReceiving: 2)
        let first = try SnapshotReceiver(manager: files)
        let second = try SnapshotReceiver(manager: files)
        XCTAssertThrowsError(try SnapshotReceiver(manager: files))
        first.abort()
        let third = try SnapshotReceiver(manager: files)
        second.abort()
        third.abort()
    }

    func testCrashInTheMiddleOfApplyIsFinishedAtRecovery() async throws {
        let message = try generate()
        var stale = WriteBatch()
        stale.put(.default, bytes("x"), bytes("stale"))
        try target.kv.write(stale, sync: true)
        let key = SnapshotKey(try await stream(message))
        let data = try targetFiles.loadReceived(key, verifyChecksums: true)

        try FailPoints.configure("snapshot.apply=times(1):eio")
        XCTAssertThrowsError(try SnapshotApplier.apply(data, key: key, oldRegion: nil, kvEngine: target.kv, manager: targetFiles))
        // "Crashed" after clearing, before ingesting: Applying, old data gone, new data not there, files kept.
        let state = try RaftServerpb.RegionLocalState(decoding: try target.kv.get(.raft, Keys.regionStateKey(2))!)
        XCTAssertEqual(state.state, .applying)
        XCTAssertNil(try target.kv.get(.default, bytes("x")))
        XCTAssertNil(try target.kv.get(.default, bulkKey(0)))
        XCTAssertEqual(sstFiles(targetFiles).count, 4)

        // Restart: reopen the engine and finish the apply before anything serves.
        target.kv.close()
        let reopened = try RocksEngine(path: target.directory + "/kv", columnFamilies: ColumnFamily.kvEngineFamilies)
        defer { reopened.close() }
        XCTAssertEqual(try SnapshotApplier.interruptedKey(regionID: 2, kvEngine: reopened), key)
        try SnapshotApplier.recover(regionID: 2, kvEngine: reopened, manager: targetFiles)
        XCTAssertEqual(try reopened.get(.default, bulkKey(7)), bulkValue(7))
        XCTAssertEqual(try reopened.get(.lock, bytes("d")), bytes("2"))
        let finished = try RaftServerpb.RegionLocalState(decoding: try reopened.get(.raft, Keys.regionStateKey(2))!)
        XCTAssertEqual(finished.state, .normal)
        XCTAssertEqual(sstFiles(targetFiles), [])
    }

    func testRecoveryRefusesDamagedFiles() async throws {
        let key = SnapshotKey(try await stream(try generate()))
        let file = try targetFiles.loadReceived(key, verifyChecksums: true).meta!.cfFiles[0]
        let path = targetFiles.receivedPath(key, file: file)
        let handle = FileHandle(forUpdatingAtPath: path)!
        try handle.seek(toOffset: 10)
        try handle.write(contentsOf: Data([0xAB, 0xCD]))
        try handle.close()
        XCTAssertThrowsError(try targetFiles.loadReceived(key, verifyChecksums: true))
    }

    func testApplyWithMissingFilesTouchesNothing() async throws {
        let key = SnapshotKey(try await stream(try generate()))
        let data = try targetFiles.loadReceived(key, verifyChecksums: false)
        var old = WriteBatch()
        old.put(.default, bytes("c00001"), bytes("old"))
        try target.kv.write(old, sync: true)
        try FileManager.default.removeItem(atPath: targetFiles.receivedPath(key, file: data.meta!.cfFiles[1]))
        XCTAssertThrowsError(try SnapshotApplier.apply(data, key: key, oldRegion: nil, kvEngine: target.kv, manager: targetFiles))
        XCTAssertNil(try target.kv.get(.raft, Keys.regionStateKey(2)), "not marked Applying")
        XCTAssertEqual(try target.kv.get(.default, bytes("c00001")), bytes("old"), "old data untouched")
    }

    func testStartupCleanupAndSweep() throws {
        let keep = SnapshotKey(regionID: 5, term: 2, index: 30)
        for name in ["gen_1_1_10_default_a.sst", "rev_3_1_9_lock_b.sst", "rev_5_2_30_write_c.sst", "rev_5_2_30_meta",
                     "rev_5_2_30_lock_d.sst.1234.tmp", "rev_5_2_300_meta"] {
            _ = FileManager.default.createFile(atPath: targetFiles.directory + "/" + name, contents: Data([1]))
        }
        targetFiles.cleanUp(keeping: [keep])
        XCTAssertEqual(sstFiles(targetFiles), ["rev_5_2_30_meta", "rev_5_2_30_write_c.sst"])
        targetFiles.sweep(now: Date())
        XCTAssertEqual(sstFiles(targetFiles).count, 2, "young files stay")
        targetFiles.sweep(now: Date().addingTimeInterval(targetFiles.staleAfter + 1))
        XCTAssertEqual(sstFiles(targetFiles), [])
    }
}
