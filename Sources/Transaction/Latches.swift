import Synchronization

/// Serializes commands that touch the same keys; commands on disjoint keys run in parallel.
///
/// A command acquires a latch per key, in sorted order (so two commands never wait for each other in a
/// cycle), and holds them while it reads its snapshot, decides and writes. Nothing blocks: a command
/// whose latches are busy is queued on the first busy one and granted the rest in FIFO order as they
/// are released, by the releasing thread. ``acquire(_:then:)`` is the callback form (no Swift task:
/// the raft store's transactional RPCs run on it); ``withLatches(_:_:)`` is the async form on top of it.
public final class Latches: Sendable {
    /// A command waiting for the latch of `keys[position]`; it holds the latches of the keys before it.
    struct Waiter {
        let keys: [[UInt8]]
        let position: Int
        let grant: @Sendable (HeldLatches) -> Void
    }

    /// A key is present while its latch is held; the value holds its waiters, oldest first.
    private let table = Mutex<[[UInt8]: LatchQueue]>([:])

    public init() {}

    /// Acquires the latches of `keys` (duplicates allowed) and calls `grant` once they are all held:
    /// right away on the calling thread when they are free, otherwise later on the thread that
    /// releases the last one it waited for (after that release's own response is sent). `grant` must
    /// be quick and must not block, and the command must release the ``HeldLatches`` exactly once.
    public func acquire(_ keys: [[UInt8]], then grant: @escaping @Sendable (HeldLatches) -> Void) {
        let sorted = Self.normalize(keys)
        let held = table.withLock { Self.take(&$0, Waiter(keys: sorted, position: 0, grant: grant)) }
        if held { grant(HeldLatches(self, sorted)) }
    }

    /// Runs `body` while holding the latches of `keys` (duplicates allowed); a busy latch suspends the
    /// task, no thread blocks.
    public func withLatches<T>(_ keys: [[UInt8]], _ body: () async throws -> T) async rethrows -> T {
        let held = await withCheckedContinuation { (continuation: CheckedContinuation<HeldLatches, Never>) in
            acquire(keys) { continuation.resume(returning: $0) }
        }
        defer { held.release() }
        return try await body()
    }

    /// The distinct keys in the order they are latched.
    static func normalize(_ keys: [[UInt8]]) -> [[UInt8]] {
        if keys.count == 1 { return keys }
        var sorted = Array(Set(keys))
        sorted.sort { $0.lexicographicallyPrecedes($1) }
        return sorted
    }

    /// Takes the free latches of `waiter` from its position on, in order, and queues it on the first
    /// busy one. Whether it now holds all its latches.
    private static func take(_ table: inout [[UInt8]: LatchQueue], _ waiter: Waiter) -> Bool {
        for position in waiter.position..<waiter.keys.count {
            let key = waiter.keys[position]
            if table[key] == nil {
                table[key] = LatchQueue()
            } else {
                table[key]!.append(Waiter(keys: waiter.keys, position: position, grant: waiter.grant))
                return false
            }
        }
        return true
    }

    /// Hands each latch of `keys` to its oldest waiter, or frees it. The waiters that now hold all
    /// their latches, for the caller to grant outside the lock.
    func release(_ keys: [[UInt8]]) -> [Waiter] {
        table.withLock { table in
            var ready: [Waiter] = []
            for key in keys {
                // Only look at the queue here: a copy of it alive across the pop would copy its storage.
                guard let noWaiters = table[key]?.isEmpty else {
                    assertionFailure("released a latch that is not held")
                    continue
                }
                if noWaiters {
                    table[key] = nil
                    continue
                }
                // The latch stays held: it now belongs to the oldest waiter, which goes on to its next key.
                let next = table[key]!.popFirst()
                let advanced = Waiter(keys: next.keys, position: next.position + 1, grant: next.grant)
                if Self.take(&table, advanced) { ready.append(next) }
            }
            return ready
        }
    }

    /// How many latches are held (for tests and metrics).
    public var heldCount: Int { table.withLock { $0.count } }
}
