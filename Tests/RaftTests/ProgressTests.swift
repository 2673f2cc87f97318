import TinyKVProto
import XCTest
@testable import Raft

final class ProgressTests: XCTestCase {
  func testInflightsFreeTo() {
    var inflights = Inflights(capacity: 3)
    inflights.add(5)
    inflights.add(7)
    inflights.add(9)
    XCTAssertTrue(inflights.isFull)
    inflights.freeTo(7)
    XCTAssertEqual(inflights.count, 1)
    inflights.freeFirstOne()
    XCTAssertEqual(inflights.count, 0)
    for index in 0..<200 {
      inflights.add(UInt64(index))
      inflights.freeTo(UInt64(index))
    }
    XCTAssertEqual(inflights.count, 0)
  }

  func testProbeDecrementUsesHintAndIgnoresStaleRejections() {
    var progress = Progress(next: 10, maxInflight: 4)
    XCTAssertFalse(progress.maybeDecrementTo(rejected: 5, matchHint: 3), "not the last probe")
    XCTAssertTrue(progress.maybeDecrementTo(rejected: 9, matchHint: 3))
    XCTAssertEqual(progress.next, 4)
    XCTAssertTrue(progress.maybeDecrementTo(rejected: 3, matchHint: 0))
    XCTAssertEqual(progress.next, 1)
  }

  func testReplicateStateFallsBackToMatch() {
    var progress = Progress(match: 5, next: 6, maxInflight: 4)
    progress.becomeReplicate()
    progress.optimisticUpdate(9)
    XCTAssertFalse(progress.maybeDecrementTo(rejected: 5, matchHint: 5), "already matched")
    XCTAssertTrue(progress.maybeDecrementTo(rejected: 8, matchHint: 2))
    XCTAssertEqual(progress.next, 6)
  }

  func testPausing() {
    var progress = Progress(next: 1, maxInflight: 1)
    XCTAssertFalse(progress.isPaused)
    progress.pauseProbe()
    XCTAssertTrue(progress.isPaused)
    XCTAssertTrue(progress.maybeUpdate(3))
    XCTAssertFalse(progress.isPaused)
    progress.becomeReplicate()
    progress.inflights.add(4)
    XCTAssertTrue(progress.isPaused)
    progress.becomeSnapshot(10)
    XCTAssertTrue(progress.isPaused)
    progress.becomeProbe()
    XCTAssertEqual(progress.next, 11, "after a snapshot, probe past it")
  }

  func testStaleAckIsIgnored() {
    var progress = Progress(match: 5, next: 8, maxInflight: 4)
    XCTAssertFalse(progress.maybeUpdate(4))
    XCTAssertEqual(progress.next, 8)
  }
}
