import Synchronization

/// Allocates cluster-unique IDs (stores, regions, peers) in persisted batches.
///
/// Like PD, only the end of the current batch is persisted. A restart continues
/// after the persisted end, so IDs are unique and increasing across restarts at the
/// cost of skipping the unused rest of a batch. One fsync per `batch` IDs.
final class IDAllocator: Sendable {
    private struct State {
        var base: UInt64
        var end: UInt64
    }

    private let state: Mutex<State>
    private let batch: UInt64
    private let save: @Sendable (UInt64) throws -> Void

    /// - Parameters:
    ///   - persistedEnd: the end persisted by the previous run (0 for a new data dir).
    ///   - save: persists a new end durably before IDs below it are handed out.
    init(persistedEnd: UInt64, batch: UInt64, save: @escaping @Sendable (UInt64) throws -> Void) {
        state = Mutex(State(base: persistedEnd, end: persistedEnd))
        self.batch = max(batch, 1)
        self.save = save
    }

    /// One new ID.
    func alloc() throws -> UInt64 { try alloc(count: 1).lowerBound }

    /// `count` consecutive new IDs.
    ///
    /// The save runs under the lock on purpose: it happens once per batch, and holding
    /// the lock is what guarantees no ID is handed out above the persisted end.
    func alloc(count: Int) throws -> ClosedRange<UInt64> {
        precondition(count > 0)
        let n = UInt64(count)
        return try state.withLock { s throws -> ClosedRange<UInt64> in
            if s.base + n > s.end {
                let newEnd = s.base + n + batch
                try save(newEnd)
                s.end = newEnd
            }
            let first = s.base + 1
            s.base += n
            return first...s.base
        }
    }
}
