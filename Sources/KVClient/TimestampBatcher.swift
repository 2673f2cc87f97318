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
        /// When the request in flight on `stream` was sent.
        var inFlightSince: ContinuousClock.Instant?
        /// The stream the watchdog cancelled for taking too long.
        var timedOut: BidiStreamingCall?
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
            // On the poll thread: the loop only sends and hands out, and the stream's answers arrive there.
            if start { Task(executorPreference: PollThreadExecutor.shared) { await self.dispatch() } }
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
            watch(stream)
            return stream
        }
        let header = try await scheduler.header()
        let clock = ContinuousClock()
        state.withLock { $0.inFlightSince = clock.now }
        defer { state.withLock { $0.inFlightSince = nil } }
        do {
            guard let bytes = try await stream.exchange(Schedulerpb.TsoRequest(header: header, count: count).encode()) else {
                throw KVClientError.scheduler("TSO stream ended without a timestamp")
            }
            return try SchedulerClient.lastTimestamp(in: bytes, count: count)
        } catch {
            // The stream's state is unknown after a failure: start a fresh one next time.
            stream.cancel()
            let timedOut = state.withLock { s -> Bool in
                if s.stream === stream { s.stream = nil }
                return s.timedOut === stream
            }
            if timedOut { throw KVClientError.scheduler("TSO request timed out after \(scheduler.timeout)") }
            throw error
        }
    }

    /// Cancels `stream` when a request on it has waited longer than the scheduler client's
    /// timeout; ends when the stream is replaced. One timer per stream rather than one per request:
    /// a timer armed and cancelled per request cost a thread switch each.
    private func watch(_ stream: BidiStreamingCall) {
        let timeout = scheduler.timeout
        Task(executorPreference: PollThreadExecutor.shared) { [weak self] in
            let clock = ContinuousClock()
            while true {
                try? await Task.sleep(for: timeout / 4)
                guard let self else { return }
                let expired = self.state.withLock { s -> Bool? in
                    guard s.stream === stream else { return nil }
                    guard let since = s.inFlightSince, clock.now - since > timeout else { return false }
                    s.timedOut = stream
                    return true
                }
                switch expired {
                case nil: return
                case true?: stream.cancel()
                case false?: continue
                }
            }
        }
    }
}
