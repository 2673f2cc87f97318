/// What a server handler learns about the call it serves.
public struct ServerCallContext: Sendable {
    /// Full method path, e.g. "/tinykvpb.TinyKv/RawGet".
    public let method: String
    /// The client's address as reported by the core, e.g. "ipv4:127.0.0.1:53412" (empty once
    /// the call is over).
    public var peer: String { call.peer }
    /// Metadata sent by the client.
    public let requestMetadata: Metadata
    /// When the client's deadline expires (nil: no deadline). The core cancels
    /// the call with DEADLINE_EXCEEDED at that point.
    public let deadline: ContinuousClock.Instant?

    let call: ServerCall

    init(call: ServerCall) {
        self.call = call
        self.method = call.method
        self.requestMetadata = call.metadata
        self.deadline = call.deadline
    }

    /// True once the call was cancelled (client cancel or disconnect, deadline,
    /// server shutdown). The handler's task is cancelled at the same moment.
    public var isCancelled: Bool { call.isCancelled }

    /// Time left until the deadline (nil: no deadline).
    public var timeRemaining: Duration? {
        deadline.map { $0 - ContinuousClock.now }
    }
}

/// Incoming messages of a client-streaming or bidi call, in order.
///
/// Iterate it once, from one task at a time: ends (nil) when the client
/// half-closes, throws a `GRPCStatus` if the call is cancelled or fails.
public struct RequestStream: AsyncSequence, Sendable {
    public typealias Element = [UInt8]

    let call: ServerCall

    /// The next message, or nil once the client has finished sending.
    public func next() async throws -> [UInt8]? {
        try await call.receive()
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let call: ServerCall
        var done = false

        public mutating func next() async throws -> [UInt8]? {
            if done { return nil }
            let message = try await call.receive()
            if message == nil { done = true }
            return message
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(call: call)
    }
}

/// Sends response messages of a server-streaming or bidi call.
public final class ResponseWriter: Sendable {
    let call: ServerCall

    init(call: ServerCall) {
        self.call = call
    }

    /// Sends one message; returns once the core accepted it (flow control).
    /// Throws `GRPCStatus(.cancelled)` if the call is over. Don't call it
    /// concurrently with itself on the same call.
    public func send(_ message: [UInt8]) async throws {
        try await call.send(message)
    }
}

/// How a method is served. Handlers run as Swift tasks; throwing a
/// `GRPCStatus` answers with that status, any other error answers UNKNOWN
/// with the error's description.
public enum MethodHandler: Sendable {
    case unary(@Sendable (ServerCallContext, [UInt8]) async throws -> [UInt8])
    case clientStreaming(@Sendable (ServerCallContext, RequestStream) async throws -> [UInt8])
    case serverStreaming(@Sendable (ServerCallContext, [UInt8], ResponseWriter) async throws -> Void)
    case bidiStreaming(@Sendable (ServerCallContext, RequestStream, ResponseWriter) async throws -> Void)
    /// A bidi stream served inline on the completion-queue thread: the closure gets each
    /// request and returns its response (nil: none), in order. It must be quick and must
    /// never block or await (see ``InlineBidiStream``). The call ends OK when the client
    /// half-closes and every response is sent.
    case bidiStreamingInline(@Sendable (ServerCallContext, [UInt8]) throws -> [UInt8]?)
    /// A client stream consumed inline on the completion-queue thread: the first closure
    /// gets each message and must be quick and never block or await; the second gives the
    /// response once the client half-closes (see ``InlineClientStream``).
    case clientStreamingInline(@Sendable (ServerCallContext, [UInt8]) throws -> Void, @Sendable () -> [UInt8])
    /// A unary call answered by callback, without a Swift task: the closure runs on the
    /// completion-queue thread as soon as the request is in, must not block, and hands the
    /// ``UnaryResponder`` to whoever will answer (exactly once, from any thread, e.g. the raft
    /// apply thread). Throwing a `GRPCStatus` before responding answers with it.
    case unaryCallback(@Sendable (ServerCallContext, [UInt8], UnaryResponder) throws -> Void)

    /// Handlers of exactly one request message. Their methods are registered with the core, which
    /// reads that message before it reports the call: one batch and one completion fewer per call.
    var takesOneRequest: Bool {
        switch self {
        case .unary, .unaryCallback, .serverStreaming: true
        case .clientStreaming, .bidiStreaming, .bidiStreamingInline, .clientStreamingInline: false
        }
    }

    /// Inline streams live as long as their client wants (a store's inbound `Raft` streams, the
    /// scheduler's `Tso` streams) and no server-side code can end them, so server shutdown ends
    /// them at once. Task-based handlers get the grace period to finish on their own (a health
    /// `Watch` sends NOT_SERVING first).
    var endsOnlyWithClient: Bool {
        switch self {
        case .bidiStreamingInline, .clientStreamingInline: true
        case .unary, .unaryCallback, .clientStreaming, .serverStreaming, .bidiStreaming: false
        }
    }
}
