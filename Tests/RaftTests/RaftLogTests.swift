import TinyKVProto
import XCTest
@testable import Raft

/// The combined stable + unstable log (etcd's raftLog).
final class RaftLogTests: XCTestCase {
  private func entries(_ terms: [UInt64], from first: UInt64 = 1) -> [Eraftpb.Entry] {
    terms.enumerated().map { Eraftpb.Entry(term: $0.element, index: first + UInt64($0.offset)) }
  }

  func testFindConflict() throws {
    var log = try RaftLog(storage: MemoryRaftStorage())
    log.append(entries([1, 2, 3]))
    XCTAssertEqual(log.findConflict(entries([1, 2, 3])), 0)
    XCTAssertEqual(log.findConflict(entries([2, 3, 4, 4], from: 2)), 4, "new entries past the end")
    XCTAssertEqual(log.findConflict(entries([4, 4], from: 2)), 2)
    XCTAssertEqual(log.findConflict(entries([1, 4])), 2)
  }

  func testMaybeAppend() throws {
    var log = try RaftLog(storage: MemoryRaftStorage())
    log.append(entries([1, 2, 3]))
    XCTAssertNil(log.maybeAppend(index: 3, logTerm: 2, committed: 3, entries: []), "term mismatch")
    XCTAssertNil(log.maybeAppend(index: 4, logTerm: 3, committed: 3, entries: []), "beyond our log")
    XCTAssertEqual(log.maybeAppend(index: 3, logTerm: 3, committed: 5, entries: entries([4], from: 4)), 4)
    XCTAssertEqual(log.committed, 4, "commit limited to what the leader proved we share")
    XCTAssertEqual(log.maybeAppend(index: 1, logTerm: 1, committed: 2, entries: entries([2, 3], from: 2)), 3)
    XCTAssertEqual(log.lastIndex(), 4, "matching entries never truncate the log")
  }

  func testStableToAndUnstable() throws {
    let storage = MemoryRaftStorage()
    var log = try RaftLog(storage: storage)
    log.append(entries([1, 1, 2]))
    try storage.append(log.unstableEntries)
    log.stableTo(index: 3, term: 2)
    XCTAssertTrue(log.unstableEntries.isEmpty)
    XCTAssertEqual(log.stabled, 3)
    // A stale stableTo (different term) is ignored.
    log.append(entries([3], from: 3))
    log.stableTo(index: 3, term: 2)
    XCTAssertEqual(log.unstableEntries.map(\.index), [3])
    XCTAssertEqual(log.allEntries().map(\.term), [1, 1, 3])
  }

  func testFindConflictByTerm() throws {
    var log = try RaftLog(storage: MemoryRaftStorage())
    log.append(entries([1, 1, 2, 2, 5, 5]))
    XCTAssertEqual(log.findConflictByTerm(index: 6, term: 3), 4)
    XCTAssertEqual(log.findConflictByTerm(index: 6, term: 5), 6)
    XCTAssertEqual(log.findConflictByTerm(index: 6, term: 0), 0)
    XCTAssertEqual(log.findConflictByTerm(index: 9, term: 1), 9)
  }

  func testUpToDate() throws {
    var log = try RaftLog(storage: MemoryRaftStorage())
    log.append(entries([1, 2, 2]))
    XCTAssertTrue(log.isUpToDate(lastIndex: 1, lastTerm: 3))
    XCTAssertTrue(log.isUpToDate(lastIndex: 3, lastTerm: 2))
    XCTAssertFalse(log.isUpToDate(lastIndex: 2, lastTerm: 2))
    XCTAssertFalse(log.isUpToDate(lastIndex: 9, lastTerm: 1))
  }

  func testNextEntriesAndCompaction() throws {
    let storage = MemoryRaftStorage()
    try storage.append(entries([1, 1, 1, 1]))
    var log = try RaftLog(storage: storage)
    log.commitTo(3)
    XCTAssertEqual(log.nextEntries().map(\.index), [1, 2, 3])
    log.appliedTo(2)
    XCTAssertEqual(log.nextEntries().map(\.index), [3])
    try storage.compact(compactIndex: 2)
    XCTAssertThrowsError(try log.term(0))
    XCTAssertThrowsError(try log.slice(lo: 1, hi: 3, maxSize: .max))
    XCTAssertEqual(try log.slice(lo: 3, hi: 5, maxSize: .max).map(\.index), [3, 4])
  }

  func testRestoreSnapshot() throws {
    var log = try RaftLog(storage: MemoryRaftStorage())
    log.append(entries([1, 1]))
    log.restore(Eraftpb.Snapshot(metadata: Eraftpb.SnapshotMetadata(index: 10, term: 4)))
    XCTAssertEqual(log.firstIndex(), 11)
    XCTAssertEqual(log.lastIndex(), 10)
    XCTAssertEqual(log.committed, 10)
    XCTAssertEqual(try log.term(10), 4)
    log.append(entries([5], from: 11))
    XCTAssertEqual(log.lastTerm(), 5)
  }
}
