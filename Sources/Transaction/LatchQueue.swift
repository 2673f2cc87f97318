/// The commands waiting for one latch, oldest first: a FIFO with amortized O(1) pops, because a hot
/// key can queue thousands of commands and `Array.removeFirst` would make draining them quadratic.
struct LatchQueue {
    private var items: [Latches.Waiter?] = []
    /// Items before this index were popped (and cleared, so their closures are freed at once).
    private var head = 0

    var isEmpty: Bool { head == items.count }

    mutating func append(_ waiter: Latches.Waiter) { items.append(waiter) }

    /// The oldest waiter; the queue must not be empty.
    mutating func popFirst() -> Latches.Waiter {
        let first = items[head].take()!
        head += 1
        if head == items.count {
            items.removeAll()
            head = 0
        } else if head >= 64, head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return first
    }
}
