import Foundation

/// A multi-producer, single-consumer queue for a dedicated thread.
///
/// Producers (gRPC tasks, the other thread) push without blocking; the owner thread
/// takes everything queued at once, which is what batches a round's work.
final class Inbox<Element: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []
    private var closed = false

    /// Queues `item`; returns false once the inbox is closed.
    @discardableResult
    func push(_ item: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if closed { return false }
        items.append(item)
        if items.count == 1 { condition.signal() }
        return true
    }

    func push(contentsOf newItems: [Element]) {
        guard !newItems.isEmpty else { return }
        condition.lock()
        defer { condition.unlock() }
        if closed { return }
        items.append(contentsOf: newItems)
        condition.signal()
    }

    /// Everything queued; waits until something arrives or `deadline` passes (then may be empty).
    /// Returns nil once closed and drained.
    func drain(until deadline: Date) -> [Element]? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed {
            // Linux's NSCondition overflows on `.distantFuture`: wait without a deadline then.
            if deadline == .distantFuture {
                condition.wait()
            } else if !condition.wait(until: deadline) {
                break
            }
        }
        if items.isEmpty && closed { return nil }
        let taken = items
        items = []
        return taken
    }

    /// Waits until something is queued; false once closed and drained.
    func waitForItems() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed { condition.wait() }
        return !items.isEmpty
    }

    /// Everything queued now, without waiting.
    func takeAll() -> [Element] {
        condition.lock()
        defer { condition.unlock() }
        let taken = items
        items = []
        return taken
    }

    /// Whether nothing is queued (and the inbox still takes items).
    var isIdle: Bool {
        condition.lock()
        defer { condition.unlock() }
        return items.isEmpty && !closed
    }

    /// Everything queued; waits at most `timeout` for something to arrive (then may be empty).
    /// Returns nil once closed and drained.
    func drain(timeout: Duration) -> [Element]? {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        return drain(until: Date().addingTimeInterval(max(0, seconds)))
    }

    /// How many of the items queued now match `predicate` (for tests).
    func count(where predicate: (Element) -> Bool) -> Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count(where: predicate)
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}
