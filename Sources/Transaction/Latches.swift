import Synchronization

/// Serializes commands that touch the same keys; commands on disjoint keys run in parallel.
///
/// A command acquires a latch per key, in sorted order (so two commands never wait for each other in a
/// cycle), and holds them while it reads its snapshot, decides and writes. A busy latch suspends the
/// task (no thread blocks); waiters are granted the latch in FIFO order on release.
public final class Latches: Sendable {
    private typealias Waiters = [CheckedContinuation<Void, Never>]
    /// A key is present while its latch is held; the value holds its waiters, oldest first.
    private let table = Mutex<[[UInt8]: Waiters]>([:])

    public init() {}

    /// Runs `body` while holding the latches of `keys` (duplicates allowed).
    public func withLatches<T>(_ keys: [[UInt8]], _ body: () async throws -> T) async rethrows -> T {
        let sorted = Self.normalize(keys)
        for key in sorted { await acquire(key) }
        defer { for key in sorted { release(key) } }
        return try await body()
    }

    /// The distinct keys in the order they are latched.
    static func normalize(_ keys: [[UInt8]]) -> [[UInt8]] {
        var sorted = Array(Set(keys))
        sorted.sort { $0.lexicographicallyPrecedes($1) }
        return sorted
    }

    /// Waits until the latch of `key` is this caller's.
    func acquire(_ key: [UInt8]) async {
        let free = table.withLock { table -> Bool in
            if table[key] == nil {
                table[key] = []
                return true
            }
            return false
        }
        if free { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = table.withLock { table -> Bool in
                if table[key] == nil {
                    table[key] = []
                    return true
                }
                table[key]!.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    /// Hands the latch of `key` to its oldest waiter, or frees it.
    func release(_ key: [UInt8]) {
        let next = table.withLock { table -> CheckedContinuation<Void, Never>? in
            guard let hasWaiters = table[key].map({ !$0.isEmpty }) else { return nil }
            if !hasWaiters {
                table[key] = nil
                return nil
            }
            return table[key]!.removeFirst()
        }
        next?.resume()
    }

    /// How many latches are held (for tests and metrics).
    public var heldCount: Int { table.withLock { $0.count } }
}
