import Synchronization

/// Counts a server's calls whose `grpc_call` we still hold, so shutdown can wait for the last
/// one before shutting down the completion queues.
///
/// The core publishes server shutdown once every connection is gone, which can be before every
/// call is released: a handler finishing a cancelled call may still start a batch, and starting
/// one on a completion queue that is shutting down aborts the process (`grpc_cq_begin_op`).
final class LiveCalls: Sendable {
    private let state = Mutex<(count: Int, waiters: [CheckedContinuation<Void, Never>])>((0, []))

    func added() {
        state.withLock { $0.count += 1 }
    }

    func removed() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.count -= 1
            guard s.count == 0 else { return [] }
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once no call is held.
    func waitUntilNone() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let none = state.withLock { s -> Bool in
                if s.count == 0 { return true }
                s.waiters.append(continuation)
                return false
            }
            if none { continuation.resume() }
        }
    }
}
