/// Serves a client stream one message at a time on the completion-queue thread,
/// without a Swift task.
///
/// For streams whose per-message work is a short, non-blocking hand-off (the raft
/// store's `Raft` stream pushes each message into its poller's inbox): a task-based
/// handler pays an executor wake-up per message, on the critical path of every
/// replicated write. Here the receive completion runs `consume` and posts the next
/// receive at once; when the client half-closes, the call ends with `done()`'s response.
final class InlineClientStream: Sendable {
    typealias Consume = @Sendable ([UInt8]) throws -> Void

    private let call: ServerCall
    private let consume: Consume
    private let done: @Sendable () -> [UInt8]
    private let finish: @Sendable (GRPCStatus, [UInt8]?) -> Void

    /// - Parameters:
    ///   - consume: runs on the poll thread for every message; throwing a `GRPCStatus` ends the call with it.
    ///   - done: the response once the client half-closed.
    ///   - finish: ends the call with a status and optional response (exactly once).
    init(call: ServerCall, consume: @escaping Consume, done: @escaping @Sendable () -> [UInt8],
         finish: @escaping @Sendable (GRPCStatus, [UInt8]?) -> Void) {
        self.call = call
        self.consume = consume
        self.done = done
        self.finish = finish
    }

    func start() { receiveNext() }

    private func receiveNext() {
        call.receive { [self] result in
            switch result {
            case .success(let message?):
                do {
                    try consume(message)
                } catch {
                    return finish(.from(error), nil)
                }
                receiveNext()
            case .success(nil):
                finish(.ok, done())
            case .failure(let status):
                finish(status, nil)
            }
        }
    }
}
