import Synchronization

/// Serves a bidirectional stream one message at a time on the completion-queue
/// thread, without a Swift task.
///
/// For streams whose per-message work is a short, non-blocking computation (the
/// scheduler's Tso): a task-based handler pays two executor wake-ups per message
/// (receive → task, send done → task), which costs more than the work itself. Here
/// the receive completion computes the response and starts its send directly, and
/// the next receive is posted at once, so receiving overlaps sending.
///
/// Responses keep the order of their requests. If the client stops reading, at most
/// `maxQueuedResponses` responses wait; receiving pauses until the queue drains.
final class InlineBidiStream: Sendable {
    typealias Respond = @Sendable ([UInt8]) throws -> [UInt8]?

    private struct State {
        /// Responses waiting for the one send the core allows at a time.
        var queued: [[UInt8]] = []
        var sending = false
        /// The client half-closed: finish once the queue has drained.
        var inputDone = false
        /// A receive was not posted because the queue was full.
        var receivePaused = false
        var finished = false
    }

    static let maxQueuedResponses = 256

    private let call: ServerCall
    private let respond: Respond
    private let finish: @Sendable (GRPCStatus) -> Void
    private let state = Mutex(State())

    /// - Parameters:
    ///   - respond: runs on the poll thread for every request; returns the response to
    ///     send (nil: none). Throwing a `GRPCStatus` ends the call with it.
    ///   - finish: ends the call with a status (exactly once).
    init(call: ServerCall, respond: @escaping Respond, finish: @escaping @Sendable (GRPCStatus) -> Void) {
        self.call = call
        self.respond = respond
        self.finish = finish
    }

    func start() { receiveNext() }

    private func receiveNext() {
        call.receive { [self] result in
            switch result {
            case .success(let request?):
                handle(request)
            case .success(nil):
                let done = state.withLock { s in
                    s.inputDone = true
                    return !s.sending && s.queued.isEmpty
                }
                if done { end(.ok) }
            case .failure(let status):
                end(status)
            }
        }
    }

    private func handle(_ request: [UInt8]) {
        let response: [UInt8]?
        do {
            response = try respond(request)
        } catch {
            end(.from(error))
            return
        }
        let (sendNow, receive): ([UInt8]?, Bool) = state.withLock { s in
            if s.finished { return (nil, false) }
            var sendNow: [UInt8]? = nil
            if let response {
                if s.sending {
                    s.queued.append(response)
                } else {
                    s.sending = true
                    sendNow = response
                }
            }
            if s.queued.count >= Self.maxQueuedResponses {
                s.receivePaused = true
                return (sendNow, false)
            }
            return (sendNow, true)
        }
        if let sendNow { send(sendNow) }
        if receive { receiveNext() }
    }

    private func send(_ response: [UInt8]) {
        call.send(response) { [self] failure in
            if let failure {
                end(failure)
                return
            }
            enum Next { case send([UInt8]), finish, idle }
            let (next, resumeReceive): (Next, Bool) = state.withLock { s in
                if s.finished { return (.idle, false) }
                var resume = false
                if s.receivePaused, s.queued.count <= Self.maxQueuedResponses / 2 {
                    s.receivePaused = false
                    resume = true
                }
                if !s.queued.isEmpty { return (.send(s.queued.removeFirst()), resume) }
                s.sending = false
                return (s.inputDone ? .finish : .idle, resume)
            }
            switch next {
            case .send(let bytes): send(bytes)
            case .finish: end(.ok)
            case .idle: break
            }
            if resumeReceive { receiveNext() }
        }
    }

    private func end(_ status: GRPCStatus) {
        let first = state.withLock { s in
            if s.finished { return false }
            s.finished = true
            s.queued = []
            return true
        }
        if first { finish(status) }
    }
}
