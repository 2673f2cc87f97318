import Synchronization
import XCTest
@testable import Transaction

/// What a test saw happen, in order.
private final class Events: Sendable {
    let log = Mutex<[String]>([])
    func record(_ event: String) { log.withLock { $0.append(event) } }
    var all: [String] { log.withLock { $0 } }
}

/// The latches a test's commands hold, by name, to release them later.
private final class Holders: Sendable {
    let held = Mutex<[String: HeldLatches]>([:])
    func keep(_ name: String, _ latches: HeldLatches) { held.withLock { $0[name] = latches } }
    func take(_ name: String) -> HeldLatches? { held.withLock { $0.removeValue(forKey: name) } }
}

/// ``Latches/acquire(_:then:)``: grants run synchronously, on the acquiring thread when the latches
/// are free and on the releasing thread otherwise, in FIFO order per key.
final class LatchCallbackTests: XCTestCase {
    private func acquire(_ latches: Latches, _ keys: [[UInt8]], _ name: String, _ events: Events, _ holders: Holders) {
        latches.acquire(keys) { held in
            events.record("grant \(name)")
            holders.keep(name, held)
        }
    }

    func testFreeLatchesAreGrantedBeforeAcquireReturns() {
        let latches = Latches(), events = Events(), holders = Holders()
        acquire(latches, [[1], [2]], "a", events, holders)
        XCTAssertEqual(events.all, ["grant a"])
        XCTAssertEqual(latches.heldCount, 2)
        holders.take("a")?.release()
        XCTAssertEqual(latches.heldCount, 0)
    }

    func testWaitersAreGrantedInOrderOnTheReleasingThread() {
        let latches = Latches(), events = Events(), holders = Holders()
        acquire(latches, [[2]], "holder", events, holders)
        for index in 0..<4 { acquire(latches, [[2], [9]], "w\(index)", events, holders) }
        XCTAssertEqual(events.all, ["grant holder"])

        // Each release grants the next waiter before it returns, after the releaser's own response.
        holders.take("holder")?.release { events.record("holder answered") }
        XCTAssertEqual(events.all, ["grant holder", "holder answered", "grant w0"])
        for index in 0..<3 {
            holders.take("w\(index)")?.release()
            XCTAssertEqual(events.all.last, "grant w\(index + 1)")
        }
        holders.take("w3")?.release()
        XCTAssertEqual(events.all, ["grant holder", "holder answered", "grant w0", "grant w1", "grant w2", "grant w3"])
        XCTAssertEqual(latches.heldCount, 0)
    }

    func testDuplicateKeysAreLatchedOnce() {
        let latches = Latches(), events = Events(), holders = Holders()
        acquire(latches, [[1], [1], [2], [1]], "a", events, holders)
        XCTAssertEqual(latches.heldCount, 2)
        XCTAssertEqual(holders.held.withLock { $0["a"]?.keys }, [[1], [2]])
        acquire(latches, [[2], [2]], "b", events, holders)
        XCTAssertEqual(events.all, ["grant a"])
        holders.take("a")?.release()
        XCTAssertEqual(events.all, ["grant a", "grant b"])
        XCTAssertEqual(latches.heldCount, 1)
        holders.take("b")?.release()
        XCTAssertEqual(latches.heldCount, 0)
    }

    /// A waiter holds the keys before the one it waits for; keys after it stay free for others.
    func testMultiKeyWaiterTakesItsKeysInOrder() {
        let latches = Latches(), events = Events(), holders = Holders()
        acquire(latches, [[2]], "a", events, holders)
        acquire(latches, [[3], [1], [2]], "b", events, holders)  // holds [1], waits for [2]
        acquire(latches, [[3]], "c", events, holders)  // free: b has not reached it
        acquire(latches, [[1]], "d", events, holders)  // queued behind b
        XCTAssertEqual(events.all, ["grant a", "grant c"])
        holders.take("a")?.release()  // b takes [2], then waits for [3]
        XCTAssertEqual(events.all, ["grant a", "grant c"])
        holders.take("c")?.release()
        XCTAssertEqual(events.all, ["grant a", "grant c", "grant b"])
        holders.take("b")?.release()
        XCTAssertEqual(events.all, ["grant a", "grant c", "grant b", "grant d"])
        holders.take("d")?.release()
        XCTAssertEqual(latches.heldCount, 0)
    }

    /// Commands that finish inside their grant (nothing to write, an error) hand the latch straight
    /// on: the chain runs in order without nesting, however long the queue.
    func testLongChainOfSynchronousCommandsDoesNotNest() {
        let latches = Latches(), events = Events(), holders = Holders()
        acquire(latches, [[7]], "holder", events, holders)
        let count = 100_000
        let order = Mutex<[Int]>([])
        for index in 0..<count {
            latches.acquire([[7]]) { held in
                order.withLock { $0.append(index) }
                held.release()
            }
        }
        holders.take("holder")?.release()
        XCTAssertEqual(order.withLock { $0 }, Array(0..<count))
        XCTAssertEqual(latches.heldCount, 0)
    }

    /// The async form is the callback form underneath: both queue on the same table.
    func testAsyncWaiterIsGrantedByACallbackRelease() async {
        let latches = Latches(), events = Events(), holders = Holders()
        acquire(latches, [[5]], "a", events, holders)
        let waiter = Task { await latches.withLatches([[5]]) { events.record("async ran") } }
        try? await Task.sleep(for: .milliseconds(50))  // let the task queue up
        XCTAssertEqual(events.all, ["grant a"])
        holders.take("a")?.release()
        await waiter.value
        XCTAssertEqual(events.all, ["grant a", "async ran"])
        XCTAssertEqual(latches.heldCount, 0)
    }
}
