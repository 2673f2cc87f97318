import Synchronization
import TinyKVProto
import Transport
import Transaction

/// Timestamps from the scheduler's TSO, batched as PD's client does: callers that ask while a
/// request is in flight wait for the next one, which asks for all of them at once (`count` = the
/// number of waiters) on one long-lived `Tso` stream; each caller gets its own timestamp of the
/// returned range. Under load this turns N stream round trips into one; alone it costs one.
public final class SchedulerTimestampOracle: TimestampOracle {
    private typealias Waiter = CheckedContinuation<UInt64, any Error>

    private struct State {
        var waiters: [Waiter] = []
        /// A dispatch task is running; new waiters join its next batch.
        var dispatching = false
        var stream: BidiStreamingCall?
    }

    public let scheduler: SchedulerClient
    private let state = Mutex(State())

    public init(scheduler: SchedulerClient) { self.scheduler = scheduler }

    deinit { state.withLock { $0.stream }?.cancel() }

    public func next() async throws -> UInt64 {
        try await withCheckedThrowingContinuation { (waiter: Waiter) in
            let start = state.withLock { s in
                s.waiters.append(waiter)
                if s.dispatching { return false }
                s.dispatching = true
                return true
            }
            if start { Task { await self.dispatch() } }
        }
    }

    /// Serves batches until no one waits.
    private func dispatch() async {
        while true {
            let batch: [Waiter] = state.withLock { s in
                let taken = s.waiters
                s.waiters = []
                if taken.isEmpty { s.dispatching = false }
                return taken
            }
            if batch.isEmpty { return }
            do {
                let last = try await request(count: UInt32(clamping: batch.count))
                // The range is (last - count, last]: consecutive logical values of one physical ms.
                let first = last - UInt64(batch.count - 1)
                for (offset, waiter) in batch.enumerated() { waiter.resume(returning: first + UInt64(offset)) }
            } catch {
                for waiter in batch { waiter.resume(throwing: error) }
            }
        }
    }

    /// One request on the shared stream (opened on first use, reopened after a failure),
    /// bounded by the scheduler client's timeout.
    private func request(count: UInt32) async throws -> UInt64 {
        let stream = try state.withLock { s in
            if let stream = s.stream { return stream }
            let stream = try scheduler.channel.bidiStreaming(method: Schedulerpb.Scheduler.tso.path)
            s.stream = stream
            return stream
        }
        let header = try await scheduler.header()
        let timeout = scheduler.timeout
        do {
            let bytes = try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
                group.addTask {
                    guard let bytes = try await stream.exchange(Schedulerpb.TsoRequest(header: header, count: count).encode()) else {
                        throw KVClientError.scheduler("TSO stream ended without a timestamp")
                    }
                    return bytes
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let bytes = first else {
                    stream.cancel()  // unblocks the receiving child before the group waits for it
                    throw KVClientError.scheduler("TSO request timed out after \(timeout)")
                }
                return bytes
            }
            return try SchedulerClient.lastTimestamp(in: bytes, count: count)
        } catch {
            // The stream's state is unknown after a failure: start a fresh one next time.
            stream.cancel()
            state.withLock { s in if s.stream === stream { s.stream = nil } }
            throw error
        }
    }
}
