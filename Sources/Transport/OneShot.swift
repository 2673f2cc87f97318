import Synchronization

/// A value set once and awaited by any number of tasks. Used to hand results
/// from completion-queue threads (which must never block) to async code.
final class OneShot<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiters: [CheckedContinuation<Value, Never>] = []
    }

    private let state = Mutex(State())

    init() {}

    /// Sets the value and wakes the waiters. Later calls are ignored.
    func fulfill(_ value: Value) {
        let waiters: [CheckedContinuation<Value, Never>]? = state.withLock { s in
            guard s.value == nil else { return nil }
            s.value = value
            let w = s.waiters
            s.waiters = []
            return w
        }
        waiters?.forEach { $0.resume(returning: value) }
    }

    var current: Value? { state.withLock { $0.value } }

    func wait() async -> Value {
        if let value = current { return value }
        return await withCheckedContinuation { continuation in
            let ready: Value? = state.withLock { s in
                if let v = s.value { return v }
                s.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
