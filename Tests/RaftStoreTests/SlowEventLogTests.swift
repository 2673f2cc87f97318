import XCTest
@testable import RaftStore

/// When slow raft rounds and writes are logged (``SlowEventLog``).
final class SlowEventLogTests: XCTestCase {
    func testOnlyEventsAtTheThresholdOrLongerAreLogged() {
        var log = SlowEventLog(threshold: .milliseconds(200))
        let start = ContinuousClock.now
        var warnings: [Int] = []
        log.record(.milliseconds(199), now: start) { warnings.append($0) }
        XCTAssertEqual(warnings, [])
        log.record(.milliseconds(200), now: start) { warnings.append($0) }
        XCTAssertEqual(warnings, [0])
    }

    func testAtMostOneWarningASecondCountingTheOnesLeftOut() {
        var log = SlowEventLog(threshold: .milliseconds(100))
        let start = ContinuousClock.now
        var warnings: [Int] = []
        log.record(.seconds(1), now: start) { warnings.append($0) }
        for step in 1...3 {
            log.record(.milliseconds(150), now: start + .milliseconds(250 * step)) { warnings.append($0) }
        }
        // A fast event in between is not slow, so it is not counted as left out.
        log.record(.milliseconds(10), now: start + .milliseconds(900)) { warnings.append($0) }
        XCTAssertEqual(warnings, [0])
        log.record(.milliseconds(150), now: start + .milliseconds(1_000)) { warnings.append($0) }
        XCTAssertEqual(warnings, [0, 3])
        log.record(.milliseconds(150), now: start + .milliseconds(2_100)) { warnings.append($0) }
        XCTAssertEqual(warnings, [0, 3, 0])
    }

    func testAZeroThresholdNeverLogs() {
        var log = SlowEventLog(threshold: .zero)
        var warned = false
        log.record(.seconds(10)) { _ in warned = true }
        XCTAssertFalse(warned)
    }

    func testMillisecondsText() {
        XCTAssertEqual(Duration.milliseconds(1234).millisecondsText, "1234.0")
        XCTAssertEqual(Duration.microseconds(12_345).millisecondsText, "12.3")
        XCTAssertEqual(Duration.zero.millisecondsText, "0.0")
    }
}
