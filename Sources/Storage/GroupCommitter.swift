import Foundation

/// Applies synced writes from many callers with one fsync per group.
///
/// A synced RocksDB write blocks its thread until the disk confirms it. Callers
/// on Swift's small cooperative pool must not block, and one fsync per request
/// would cap throughput at the disk's sync rate. The committer owns one thread
/// that takes every batch queued since its last write, merges them into one
/// atomic write, syncs once, then resumes all their callers.
public final class GroupCommitter: @unchecked Sendable {
    private struct Pending {
        var batch: WriteBatch
        var continuation: CheckedContinuation<Void, any Error>
    }

    private let engine: any KVEngine
    private let condition = NSCondition()
    private var queue: [Pending] = []
    private var stopped = false
    private var thread: Thread?
    /// The most bytes merged into one write; later batches wait for the next round.
    private let maxGroupBytes: Int

    public init(engine: any KVEngine, maxGroupBytes: Int = 8 << 20, name: String = "group-commit") {
        self.engine = engine
        self.maxGroupBytes = maxGroupBytes
        let thread = Thread { [weak self] in self?.run() }
        thread.name = name
        self.thread = thread
        thread.start()
    }

    deinit { stop() }

    /// Writes `batch` durably; returns once it is synced to disk.
    public func commit(_ batch: WriteBatch) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            condition.lock()
            if stopped {
                condition.unlock()
                continuation.resume(throwing: StorageError.closed)
                return
            }
            queue.append(Pending(batch: batch, continuation: continuation))
            condition.signal()
            condition.unlock()
        }
    }

    /// Stops the thread after the queued writes are done.
    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopped { condition.wait() }
            if queue.isEmpty && stopped {
                condition.unlock()
                return
            }
            var group: [Pending] = []
            var bytes = 0
            while let first = queue.first, group.isEmpty || bytes + first.batch.byteSize <= maxGroupBytes {
                bytes += first.batch.byteSize
                group.append(queue.removeFirst())
            }
            condition.unlock()
            write(group)
        }
    }

    private func write(_ group: [Pending]) {
        var merged = WriteBatch()
        for pending in group { merged.append(contentsOf: pending.batch) }
        do {
            try engine.write(merged, sync: true)
            for pending in group { pending.continuation.resume() }
        } catch {
            for pending in group { pending.continuation.resume(throwing: error) }
        }
    }
}
