import TinyKVProto
import XCTest
@testable import Raft

final class StorageTests: XCTestCase {
  private func makeStorage() -> MemoryRaftStorage {
    // Entries 3...5 after a snapshot at index 3 (term 3).
    let storage = MemoryRaftStorage(peers: [1, 2, 3])
    try! storage.applySnapshot(Eraftpb.Snapshot(metadata: Eraftpb.SnapshotMetadata(confState: Eraftpb.ConfState(nodes: [1, 2, 3]), index: 3, term: 3)))
    try! storage.append([Eraftpb.Entry(term: 4, index: 4), Eraftpb.Entry(term: 5, index: 5)])
    return storage
  }

  func testTermAndBounds() throws {
    let storage = makeStorage()
    XCTAssertEqual(try storage.firstIndex(), 4)
    XCTAssertEqual(try storage.lastIndex(), 5)
    XCTAssertEqual(try storage.term(3), 3)
    XCTAssertEqual(try storage.term(5), 5)
    XCTAssertThrowsError(try storage.term(2)) { XCTAssertEqual($0 as? RaftStorageError, .compacted) }
    XCTAssertThrowsError(try storage.term(6)) { XCTAssertEqual($0 as? RaftStorageError, .unavailable) }
  }

  func testEntriesRangeAndSizeLimit() throws {
    let storage = makeStorage()
    XCTAssertEqual(try storage.entries(lo: 4, hi: 6, maxSize: .max).map(\.index), [4, 5])
    XCTAssertEqual(try storage.entries(lo: 4, hi: 6, maxSize: 1).map(\.index), [4], "always at least one entry")
    XCTAssertThrowsError(try storage.entries(lo: 3, hi: 5, maxSize: .max)) { XCTAssertEqual($0 as? RaftStorageError, .compacted) }
    XCTAssertThrowsError(try storage.entries(lo: 4, hi: 7, maxSize: .max)) { XCTAssertEqual($0 as? RaftStorageError, .unavailable) }
  }

  func testAppendTruncatesConflictsAndIgnoresCompacted() throws {
    let storage = makeStorage()
    try storage.append([Eraftpb.Entry(term: 6, index: 5), Eraftpb.Entry(term: 6, index: 6)])
    XCTAssertEqual(try storage.term(5), 6)
    XCTAssertEqual(try storage.lastIndex(), 6)
    try storage.append([Eraftpb.Entry(term: 1, index: 2), Eraftpb.Entry(term: 3, index: 3), Eraftpb.Entry(term: 4, index: 4)])
    XCTAssertEqual(try storage.lastIndex(), 4)
  }

  func testCompactAndSnapshots() throws {
    let storage = makeStorage()
    let snapshot = try storage.createSnapshot(index: 4, confState: nil, data: [42])
    XCTAssertEqual(snapshot.metadata?.term, 4)
    XCTAssertEqual(snapshot.metadata?.confState?.nodes, [1, 2, 3])
    XCTAssertThrowsError(try storage.createSnapshot(index: 4, confState: nil, data: [])) {
      XCTAssertEqual($0 as? RaftStorageError, .snapshotOutOfDate)
    }
    try storage.compact(compactIndex: 4)
    XCTAssertEqual(try storage.firstIndex(), 5)
    XCTAssertEqual(try storage.term(4), 4)
    XCTAssertThrowsError(try storage.compact(compactIndex: 4)) { XCTAssertEqual($0 as? RaftStorageError, .compacted) }
    XCTAssertThrowsError(try storage.applySnapshot(snapshot)) { XCTAssertEqual($0 as? RaftStorageError, .snapshotOutOfDate) }
    XCTAssertEqual(try storage.snapshot().data, [42])
  }
}
