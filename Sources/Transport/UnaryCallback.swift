import Synchronization

/// Answers a unary call served by `MethodHandler.unaryCallback`, exactly once, from any thread.
///
/// Calling it starts the call's final batch (status and message) directly: no Swift task is
/// woken, so a raft store can answer from its apply thread. A second call is a programming
/// error (debug assertion; ignored in release). A responder released without being called
/// answers `INTERNAL` itself.
public final class UnaryResponder: Sendable {
    private let responded = Atomic<Bool>(false)
    private let finish: @Sendable (GRPCStatus, [UInt8]?) -> Void

    init(finish: @escaping @Sendable (GRPCStatus, [UInt8]?) -> Void) {
        self.finish = finish
    }

    /// A handler that lost its responder without answering would leave the client waiting
    /// (and the call held) until its deadline: answer for it.
    deinit {
        if !responded.load(ordering: .acquiring) {
            finish(GRPCStatus(.internalError, "the handler ended without answering"), nil)
        }
    }

    /// Ends the call: `.success` answers OK with the response bytes, `.failure` with that status.
    public func callAsFunction(_ result: Result<[UInt8], GRPCStatus>) {
        let (first, _) = responded.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing)
        guard first else {
            assertionFailure("unary call answered twice")
            return
        }
        switch result {
        case .success(let bytes): finish(.ok, bytes)
        case .failure(let status): finish(status, nil)
        }
    }
}
