import Foundation
import Logging
import Raft
import Storage
import Synchronization
import TinyKVProto
import XCTest
@testable import RaftStore

/// Temp-dir engines shaped like a store's.
final class Engines {
    let directory = NSTemporaryDirectory() + "raftstore-unit-\(UUID().uuidString)"
    let raft: any RaftLogStore
    let kv: RocksEngine

    init(raftEngine: RaftEngineKind = .raftLog) throws {
        try FileManager.default.createDirectory(atPath: directory + "/kv", withIntermediateDirectories: true)
        raft = try RaftEngineDirectory.open(raftEngine, dataPath: directory, logger: Logger(label: "test"))
        kv = try RocksEngine(path: directory + "/kv", columnFamilies: ColumnFamily.kvEngineFamilies)
    }

    func close() {
        raft.close()
        kv.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

final class KeysTests: XCTestCase {
    func testLayoutMatchesTinyKV() {
        XCTAssertEqual(Keys.storeIdentKey, [0x01, 0x01])
        XCTAssertEqual(Keys.raftLogKey(1, 2), [0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0, 0, 0, 0, 0, 0, 0, 2])
        XCTAssertEqual(Keys.raftStateKey(1), [0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 1, 0x02])
        XCTAssertEqual(Keys.applyStateKey(1), [0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 1, 0x03])
        XCTAssertEqual(Keys.regionStateKey(1), [0x01, 0x03, 0, 0, 0, 0, 0, 0, 0, 1, 0x01])
    }

    func testLogKeysOrderByIndexAndRoundTrip() {
        let keys = [1, 2, 255, 256, 70_000, UInt64.max - 1].map { Keys.raftLogKey(7, $0) }
        XCTAssertEqual(keys, keys.sorted { $0.lexicographicallyPrecedes($1) })
        XCTAssertEqual(Keys.raftLogIndex(Keys.raftLogKey(7, 70_000)), 70_000)
        XCTAssertNil(Keys.raftLogIndex(Keys.raftStateKey(7)))
        // One region's log sorts before its raft state, and before the next region's keys.
        XCTAssertTrue(Keys.raftLogKey(7, .max).lexicographicallyPrecedes(Keys.raftStateKey(7)))
        XCTAssertTrue(Keys.applyStateKey(7).lexicographicallyPrecedes(Keys.raftLogKey(8, 0)))
        XCTAssertEqual(Keys.regionID(fromStateKey: Keys.regionStateKey(0x0102_0304)), 0x0102_0304)
        XCTAssertTrue(Keys.regionMetaRange.start.lexicographicallyPrecedes(Keys.regionStateKey(1)))
        XCTAssertTrue(Keys.regionStateKey(.max).lexicographicallyPrecedes(Keys.regionMetaRange.end))
    }

    func testRegionRange() {
        let region = Metapb.Region(id: 1, startKey: Array("b".utf8), endKey: Array("d".utf8))
        XCTAssertFalse(RegionRange.contains(region, Array("a".utf8)))
        XCTAssertTrue(RegionRange.contains(region, Array("b".utf8)))
        XCTAssertTrue(RegionRange.contains(region, Array("cz".utf8)))
        XCTAssertFalse(RegionRange.contains(region, Array("d".utf8)))
        XCTAssertTrue(RegionRange.contains(Metapb.Region(id: 1), [0xFF, 0xFF]))
    }
}

final class PeerStorageTests: XCTestCase {
    private var engines: Engines!
    private let region = Metapb.Region(id: 2, regionEpoch: Metapb.RegionEpoch(confVer: 1, version: 1),
                                       peers: [Metapb.Peer(id: 3, storeId: 1)])

    override func setUp() { engines = try! Engines() }
    override func tearDown() { engines.close() }

    private func entries(_ range: ClosedRange<UInt64>, term: UInt64) -> [Eraftpb.Entry] {
        range.map { Eraftpb.Entry(term: term, index: $0, data: Array("e\($0)".utf8)) }
    }

    private func write(_ body: (inout WriteBatch) -> Void) throws {
        var batch = WriteBatch()
        body(&batch)
        try engines.raft.write(batch, sync: true)
    }

    func testNewPeerIsEmpty() throws {
        let storage = try PeerStorage(region: Metapb.Region(id: 9), raftEngine: engines.raft, kvEngine: engines.kv)
        XCTAssertFalse(storage.isInitialized)
        XCTAssertEqual(try storage.firstIndex(), 1)
        XCTAssertEqual(try storage.lastIndex(), 0)
        XCTAssertEqual(try storage.term(0), 0)
        XCTAssertEqual(try storage.initialState().confState.nodes, [])
    }

    func testAppendConflictTruncateAndRestart() throws {
        try StoreBootstrap.writeFirstRegion(region, kvEngine: engines.kv, raftEngine: engines.raft)
        let storage = try PeerStorage(region: region, raftEngine: engines.raft, kvEngine: engines.kv, maxCachedEntries: 3)
        XCTAssertEqual(try storage.firstIndex(), 6)
        XCTAssertEqual(try storage.lastIndex(), 5)
        XCTAssertEqual(try storage.term(5), 5)
        XCTAssertEqual(try storage.initialState().confState.nodes, [3])
        XCTAssertEqual(try storage.initialState().hardState.commit, 5)
        XCTAssertThrowsError(try storage.entries(lo: 5, hi: 6, maxSize: .max)) { XCTAssertEqual($0 as? RaftStorageError, .compacted) }

        try write { storage.append(entries(6...12, term: 6), into: &$0) }
        XCTAssertEqual(try storage.lastIndex(), 12)
        // Entries 6...9 come from the engine (the cache holds the last 3), the rest from the cache.
        XCTAssertEqual(try storage.entries(lo: 6, hi: 13, maxSize: .max).map(\.index), Array(6...12))
        XCTAssertEqual(try storage.term(8), 6)
        XCTAssertEqual(try storage.entries(lo: 6, hi: 13, maxSize: 30).count, 1, "size limit keeps at least one entry")
        XCTAssertThrowsError(try storage.entries(lo: 6, hi: 14, maxSize: .max)) { XCTAssertEqual($0 as? RaftStorageError, .unavailable) }

        // A new leader's log replaces 9...12 with 9...10 of term 7.
        try write { storage.append(entries(9...10, term: 7), into: &$0) }
        XCTAssertEqual(try storage.lastIndex(), 10)
        XCTAssertEqual(try storage.entries(lo: 8, hi: 11, maxSize: .max).map(\.term), [6, 7, 7])
        XCTAssertNil(try engines.raft.get(Keys.raftLogKey(2, 11)), "conflicting suffix deleted")
        try write { storage.setHardState(Eraftpb.HardState(term: 7, vote: 3, commit: 10), into: &$0) }

        // Truncation.
        try write { storage.compact(to: RaftServerpb.RaftTruncatedState(index: 8, term: 6), into: &$0) }
        XCTAssertEqual(try storage.firstIndex(), 9)
        XCTAssertEqual(try storage.term(8), 6)
        XCTAssertThrowsError(try storage.term(7)) { XCTAssertEqual($0 as? RaftStorageError, .compacted) }
        XCTAssertNil(try engines.raft.get(Keys.raftLogKey(2, 8)))
        XCTAssertNotNil(try engines.raft.get(Keys.raftLogKey(2, 9)))

        // Restart: the log and hard state come back from the engine.
        let reopened = try PeerStorage(region: region, raftEngine: engines.raft, kvEngine: engines.kv)
        XCTAssertEqual(try reopened.lastIndex(), 10)
        XCTAssertEqual(try reopened.initialState().hardState, Eraftpb.HardState(term: 7, vote: 3, commit: 10))
        XCTAssertEqual(try reopened.entries(lo: 9, hi: 11, maxSize: .max).map(\.data), [Array("e9".utf8), Array("e10".utf8)])
    }

    func testRestartAfterSnapshotDataButBeforeRaftState() throws {
        // The kv half of a snapshot install is written first; a crash before the raft half
        // must restart from the snapshot.
        var kvBatch = WriteBatch()
        kvBatch.put(.raft, Keys.applyStateKey(2), RaftServerpb.RaftApplyState(
            appliedIndex: 20, truncatedState: RaftServerpb.RaftTruncatedState(index: 20, term: 4)).encode())
        try engines.kv.write(kvBatch, sync: true)
        let storage = try PeerStorage(region: region, raftEngine: engines.raft, kvEngine: engines.kv)
        XCTAssertEqual(try storage.lastIndex(), 20)
        XCTAssertEqual(try storage.firstIndex(), 21)
        XCTAssertEqual(try storage.initialState().hardState.commit, 20)
        XCTAssertNoThrow(try RawNode(config: RaftConfig(id: 3, applied: 20), storage: storage))
    }

    func testRestartWithAppliedEntriesAheadOfTheStoredCommitIndex() throws {
        // Entries already on disk are applied before the round that learned of their commit
        // writes the new commit index; a crash in between must not leave applied > commit.
        try StoreBootstrap.writeFirstRegion(region, kvEngine: engines.kv, raftEngine: engines.raft)
        let storage = try PeerStorage(region: region, raftEngine: engines.raft, kvEngine: engines.kv)
        try write { storage.append(entries(6...9, term: 6), into: &$0) }
        try write { storage.setHardState(Eraftpb.HardState(term: 6, vote: 3, commit: 6), into: &$0) }
        var kvBatch = WriteBatch()
        kvBatch.put(.raft, Keys.applyStateKey(2), RaftServerpb.RaftApplyState(
            appliedIndex: 8, truncatedState: RaftServerpb.RaftTruncatedState(index: 5, term: 5)).encode())
        try engines.kv.write(kvBatch, sync: true)

        let reopened = try PeerStorage(region: region, raftEngine: engines.raft, kvEngine: engines.kv)
        XCTAssertEqual(try reopened.initialState().hardState, Eraftpb.HardState(term: 6, vote: 3, commit: 8))
        XCTAssertEqual(try reopened.lastIndex(), 9)
        XCTAssertNoThrow(try RawNode(config: RaftConfig(id: 3, applied: 8), storage: reopened))
    }
}

/// Which committed entries the poller may hand to the apply thread before its round's fsync.
final class EarlyApplyTests: XCTestCase {
    private func ready(entries: ClosedRange<UInt64>?, committed: ClosedRange<UInt64>?, snapshot: Bool = false) -> Ready {
        var ready = Ready()
        ready.entries = entries.map { $0.map { Eraftpb.Entry(term: 2, index: $0) } } ?? []
        ready.committedEntries = committed.map { $0.map { Eraftpb.Entry(term: 2, index: $0) } } ?? []
        if snapshot { ready.snapshot = Eraftpb.Snapshot(metadata: Eraftpb.SnapshotMetadata(index: 9, term: 2)) }
        return ready
    }

    func testEntriesOnDiskBeforeTheRoundApplyEarly() {
        XCTAssertTrue(RaftPoller.committedAreOnDisk(ready(entries: nil, committed: 5...7), persistedLast: 7))
        XCTAssertTrue(RaftPoller.committedAreOnDisk(ready(entries: 8...9, committed: 5...7), persistedLast: 7),
                      "new entries after the committed ones do not hold them back")
    }

    func testEntriesThisRoundWritesWaitForItsSync() {
        XCTAssertFalse(RaftPoller.committedAreOnDisk(ready(entries: 8...9, committed: 7...8), persistedLast: 7),
                       "a single voter commits what it appends in the same round")
        XCTAssertFalse(RaftPoller.committedAreOnDisk(ready(entries: 6...9, committed: 5...7), persistedLast: 9),
                       "a rewritten suffix is not on disk until the round syncs")
        XCTAssertFalse(RaftPoller.committedAreOnDisk(ready(entries: nil, committed: 5...9, snapshot: true), persistedLast: 9))
        XCTAssertFalse(RaftPoller.committedAreOnDisk(ready(entries: 8...9, committed: nil), persistedLast: 7),
                       "nothing to apply")
    }
}

/// The apply worker on its own: commands, epochs, key ranges, proposals' terms.
final class ApplyTests: XCTestCase {
    private var engines: Engines!
    private var worker: ApplyWorker!
    private let reports = Locked<[ApplyResult]>([])
    private let region = Metapb.Region(id: 2, startKey: Array("b".utf8), endKey: Array("y".utf8),
                                       regionEpoch: Metapb.RegionEpoch(confVer: 1, version: 1),
                                       peers: [Metapb.Peer(id: 3, storeId: 1)])

    override func setUp() {
        engines = try! Engines()
        try! StoreBootstrap.writeFirstRegion(region, kvEngine: engines.kv, raftEngine: engines.raft)
        var logger = Logger(label: "apply-test")
        logger.logLevel = .critical
        worker = ApplyWorker(kvEngine: engines.kv, storeID: 1, logger: logger) { [reports] results in
            reports.withLock { $0.append(contentsOf: results) }
        }
        worker.start()
    }

    override func tearDown() {
        worker.stop()
        engines.close()
    }

    private func put(_ key: String, epoch: Metapb.RegionEpoch? = nil) -> [UInt8] {
        var request = RaftCmdpb.Request(cmdType: .put)
        request.put = RaftCmdpb.PutRequest(cf: "default", key: Array(key.utf8), value: Array("v".utf8))
        return RaftCmdpb.RaftCmdRequest(header: RaftCmdpb.RaftRequestHeader(regionId: 2, regionEpoch: epoch ?? region.regionEpoch),
                                        requests: [request]).encode()
    }

    /// Applies entries with one proposal per entry (proposed in `proposedTerm`), returns the answers.
    private func apply(_ entries: [Eraftpb.Entry], proposedTerm: UInt64? = nil) async -> [Errorpb.Error?] {
        let answers = Locked<[UInt64: Errorpb.Error?]>([:])
        let group = DispatchGroup()
        var proposals: [Proposal] = []
        for entry in entries {
            group.enter()
            let index = entry.index
            proposals.append(Proposal(index: entry.index, term: proposedTerm ?? entry.term) { error in
                answers.withLock { $0[index] = error }
                group.leave()
            })
        }
        worker.inbox.push(.apply(regionID: 2, peerID: 3, entries: entries, proposals: proposals))
        await withCheckedContinuation { continuation in group.notify(queue: .global()) { continuation.resume() } }
        return entries.map { entry in answers.withLock { $0[entry.index] ?? nil } }
    }

    func testAppliesInlineOnTheCallersThreadWhenIdle() throws {
        let answered = Locked<Int>(0)
        let proposal = Proposal(index: 6, term: 6) { error in
            XCTAssertNil(error)
            answered.withLock { $0 += 1 }
        }
        let task = ApplyTask.apply(regionID: 2, peerID: 3, entries: [Eraftpb.Entry(term: 6, index: 6, data: put("c"))], proposals: [proposal])
        XCTAssertTrue(worker.applyInline(task))
        // Applied and answered before applyInline returned.
        XCTAssertEqual(answered.withLock { $0 }, 1)
        XCTAssertEqual(try engines.kv.get(.default, Array("c".utf8)), Array("v".utf8))
        XCTAssertEqual(reports.withLock { $0.last?.appliedIndex }, 6)
    }

    func testDoesNotApplyInlineAheadOfQueuedTasks() async throws {
        // A worker whose thread has not started yet keeps what is queued.
        var logger = Logger(label: "apply-test")
        logger.logLevel = .critical
        let queued = ApplyWorker(kvEngine: engines.kv, storeID: 1, logger: logger) { _ in }
        let order = Locked<[UInt64]>([])
        let group = DispatchGroup()
        func task(_ index: UInt64, _ key: String) -> ApplyTask {
            group.enter()
            let proposal = Proposal(index: index, term: 6) { _ in
                order.withLock { $0.append(index) }
                group.leave()
            }
            return .apply(regionID: 2, peerID: 3, entries: [Eraftpb.Entry(term: 6, index: index, data: put(key))], proposals: [proposal])
        }
        queued.inbox.push(task(6, "c"))
        let later = task(7, "d")
        XCTAssertFalse(queued.applyInline(later), "entry 6 is queued: 7 must not be applied before it")
        XCTAssertEqual(order.withLock { $0 }, [])
        queued.inbox.push(later)
        queued.start()
        await withCheckedContinuation { continuation in group.notify(queue: .global()) { continuation.resume() } }
        queued.stop()
        XCTAssertEqual(order.withLock { $0 }, [6, 7])
        let state = try RaftServerpb.RaftApplyState(decoding: try engines.kv.get(.raft, Keys.applyStateKey(2))!)
        XCTAssertEqual(state.appliedIndex, 7)
    }

    func testAppliesPutsAndRecordsAppliedIndex() async throws {
        let answers = await apply([Eraftpb.Entry(term: 6, index: 6, data: put("c")), Eraftpb.Entry(term: 6, index: 7, data: put("d"))])
        XCTAssertEqual(answers.compactMap { $0 }.count, 0)
        XCTAssertEqual(try engines.kv.get(.default, Array("c".utf8)), Array("v".utf8))
        let state = try RaftServerpb.RaftApplyState(decoding: try engines.kv.get(.raft, Keys.applyStateKey(2))!)
        XCTAssertEqual(state.appliedIndex, 7)
        XCTAssertEqual(reports.withLock { $0.last?.appliedIndex }, 7)
    }

    func testRejectsWrongEpochKeyOutsideRegionAndStaleTerm() async throws {
        let staleEpoch = Metapb.RegionEpoch(confVer: 1, version: 0)
        let answers = await apply([
            Eraftpb.Entry(term: 6, index: 6, data: put("c", epoch: staleEpoch)),
            Eraftpb.Entry(term: 6, index: 7, data: put("z")),
        ])
        XCTAssertNotNil(answers[0]?.epochNotMatch)
        XCTAssertEqual(answers[0]?.epochNotMatch?.currentRegions, [region])
        XCTAssertEqual(answers[1]?.keyNotInRegion?.key, Array("z".utf8))
        XCTAssertNil(try engines.kv.get(.default, Array("c".utf8)))
        XCTAssertNil(try engines.kv.get(.default, Array("z".utf8)))

        // Proposed in term 5 but the entry at that index was written by term 6's leader.
        let stale = await apply([Eraftpb.Entry(term: 6, index: 8, data: put("e"))], proposedTerm: 5)
        XCTAssertNotNil(stale[0]?.staleCommand)
        XCTAssertEqual(try engines.kv.get(.default, Array("e".utf8)), Array("v".utf8), "the entry itself still applies")
    }

    func testCompactLogAndConfChange() async throws {
        var admin = RaftCmdpb.AdminRequest(cmdType: .compactLog)
        admin.compactLog = RaftCmdpb.CompactLogRequest(compactIndex: 6, compactTerm: 6)
        var compact = RaftCmdpb.RaftCmdRequest(header: RaftCmdpb.RaftRequestHeader(regionId: 2, regionEpoch: region.regionEpoch))
        compact.adminRequest = admin
        var changeAdmin = RaftCmdpb.AdminRequest(cmdType: .changePeer)
        let newPeer = Metapb.Peer(id: 10, storeId: 4)
        changeAdmin.changePeer = RaftCmdpb.ChangePeerRequest(changeType: .addNode, peer: newPeer)
        var change = RaftCmdpb.RaftCmdRequest(header: RaftCmdpb.RaftRequestHeader(regionId: 2, regionEpoch: region.regionEpoch))
        change.adminRequest = changeAdmin
        let confChange = Eraftpb.ConfChange(changeType: .addNode, nodeId: 10, context: change.encode())
        _ = await apply([
            Eraftpb.Entry(term: 6, index: 6, data: put("c")),
            Eraftpb.Entry(entryType: .entryNormal, term: 6, index: 7, data: compact.encode()),
            Eraftpb.Entry(entryType: .entryConfChange, term: 6, index: 8, data: confChange.encode()),
        ])
        let result = reports.withLock { $0.last! }
        XCTAssertEqual(result.truncatedState, RaftServerpb.RaftTruncatedState(index: 6, term: 6))
        XCTAssertEqual(result.confChanges.map(\.nodeId), [10])
        XCTAssertEqual(result.region?.peers, region.peers + [newPeer])
        XCTAssertEqual(result.region?.regionEpoch?.confVer, 2)
        let state = try RaftServerpb.RegionLocalState(decoding: try engines.kv.get(.raft, Keys.regionStateKey(2))!)
        XCTAssertEqual(state.region?.peers.count, 2)

        // The same change again with the old epoch is rejected (and Raft told it is over).
        let again = await apply([Eraftpb.Entry(entryType: .entryConfChange, term: 6, index: 9, data: confChange.encode())])
        XCTAssertNotNil(again[0]?.epochNotMatch)
        XCTAssertEqual(reports.withLock { $0.last!.confChanges.map(\.nodeId) }, [0])
    }
}

extension ApplyTests {
    /// A store restarting with a committed split not yet applied: the worker applies it, and the
    /// parent is destroyed (it was removed while the store was down) before the poller has seen
    /// the split's result, so the destroy carries the pre-split range. Only the parent's range as
    /// applied may be cleared: the new region's keys stay with it.
    func testDestroyClearsTheRangeAsAppliedNotTheRangeBeforeASplit() async throws {
        _ = await apply([Eraftpb.Entry(term: 6, index: 6, data: put("c")), Eraftpb.Entry(term: 6, index: 7, data: put("p"))])
        var admin = RaftCmdpb.AdminRequest(cmdType: .split)
        admin.split = RaftCmdpb.SplitRequest(splitKey: Array("m".utf8), newRegionId: 20, newPeerIds: [21])
        var split = RaftCmdpb.RaftCmdRequest(header: RaftCmdpb.RaftRequestHeader(regionId: 2, regionEpoch: region.regionEpoch))
        split.adminRequest = admin
        let answers = await apply([Eraftpb.Entry(term: 6, index: 8, data: split.encode())])
        XCTAssertNil(answers[0] ?? nil)
        XCTAssertEqual(reports.withLock { $0.last?.splits.map(\.new.id) }, [20])

        let done = Completion()
        worker.inbox.push(.destroy(region: region, done: done))  // the poller's view: still [b, y)
        try await Task.detached { try done.wait() }.value
        XCTAssertNil(try engines.kv.get(.default, Array("c".utf8)), "the parent's own keys are cleared")
        XCTAssertEqual(try engines.kv.get(.default, Array("p".utf8)), Array("v".utf8), "the new region's keys stay")
        let tombstone = try RaftServerpb.RegionLocalState(decoding: try engines.kv.get(.raft, Keys.regionStateKey(2))!)
        XCTAssertEqual(tombstone.state, .tombstone)
        XCTAssertEqual(tombstone.region?.endKey, Array("m".utf8))
    }
}

/// A lock-protected value that closures can capture (unlike the non-copyable `Mutex`).
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
