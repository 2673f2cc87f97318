/// A client-streaming call: send any number of messages, then `finish()` to
/// get the single response. Dropping the object cancels an unfinished call.
public final class ClientStreamingCall: Sendable {
    let core: ClientStreamCore

    init(core: ClientStreamCore) {
        self.core = core
    }

    deinit {
        core.call.cancel()  // no-op if the call already completed
    }

    /// Sends one message; returns once the core accepted it (flow control).
    /// Throws the call's status if it has ended. One send at a time.
    public func send(_ message: [UInt8]) async throws {
        try await core.send(message)
    }

    /// Starts sending one message without a Swift task: `completion` runs on the transport's
    /// completion-queue thread, with true once the core accepted the message (the next send may
    /// start, e.g. from `completion` itself) and false once the call has ended. One send at a time.
    public func startSend(_ message: [UInt8], completion: @escaping @Sendable (Bool) -> Void) {
        core.startSend(message, completion: completion)
    }

    /// Half-closes and returns the response; throws the non-OK status.
    public func finish() async throws -> [UInt8] {
        try await core.finish()
    }

    /// Cancels the call; pending and later operations fail with CANCELLED.
    public func cancel() {
        core.call.cancel()
    }
}

/// A bidirectional-streaming call. Sending and receiving may run concurrently
/// (from two tasks); each side allows one operation at a time.
/// Dropping the object cancels an unfinished call.
public final class BidiStreamingCall: Sendable {
    let core: ClientStreamCore

    init(core: ClientStreamCore) {
        self.core = core
    }

    deinit {
        core.call.cancel()
    }

    /// Sends one message; throws the call's status if it has ended.
    public func send(_ message: [UInt8]) async throws {
        try await core.send(message)
    }

    /// Sends one message and waits for the next response, in one gRPC batch (one wake-up
    /// instead of two). For request-response use of a stream; don't mix with a concurrent
    /// `send` or `receive`. Returns nil once the server finished with OK; throws the status if
    /// it finished otherwise.
    public func exchange(_ message: [UInt8]) async throws -> [UInt8]? {
        try await core.exchange(message)
    }

    /// Half-closes the sending side (the server's request stream ends).
    public func closeSend() async {
        await core.closeSend()
    }

    /// The next response; nil once the server finished with OK; throws the
    /// status if it finished otherwise.
    public func receive() async throws -> [UInt8]? {
        try await core.receive()
    }

    /// The responses as an async sequence (keeps the call alive while iterated).
    public var responses: ResponseStream {
        ResponseStream(core: core, owner: self)
    }

    /// The call's final status, once the server has sent it.
    public func status() async -> GRPCStatus {
        await core.finalStatus()
    }

    public func cancel() {
        core.call.cancel()
    }
}

/// A server-streaming call: the request is already sent; read the responses.
/// Dropping the object cancels an unfinished call.
public final class ServerStreamingCall: Sendable {
    let core: ClientStreamCore

    init(core: ClientStreamCore) {
        self.core = core
    }

    deinit {
        core.call.cancel()
    }

    /// The next response; nil once the server finished with OK.
    public func receive() async throws -> [UInt8]? {
        try await core.receive()
    }

    public var responses: ResponseStream {
        ResponseStream(core: core, owner: self)
    }

    public func cancel() {
        core.call.cancel()
    }
}

/// Responses of a streaming call. Iterate once, from one task at a time.
public struct ResponseStream: AsyncSequence, Sendable {
    public typealias Element = [UInt8]

    let core: ClientStreamCore
    /// The public call object, whose deinit would cancel the call.
    let owner: any AnyObject & Sendable

    public struct AsyncIterator: AsyncIteratorProtocol {
        let core: ClientStreamCore
        let owner: any AnyObject & Sendable
        var done = false

        public mutating func next() async throws -> [UInt8]? {
            if done { return nil }
            let message = try await core.receive()
            if message == nil { done = true }
            return message
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(core: core, owner: owner)
    }
}
