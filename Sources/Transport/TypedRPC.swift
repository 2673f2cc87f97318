import TinyKVProto

/// Typed server handlers built from the schema's ``RPCMethod`` descriptors.
///
/// Requests that are not a valid protobuf encoding of the method's request type
/// are answered with `INVALID_ARGUMENT` before the handler runs.
public struct ServiceHandlers: Sendable {
    /// Handlers by method path, for ``GRPCServer``.
    public private(set) var byPath: [String: MethodHandler] = [:]

    public init() {}

    /// Adds every handler of `other`.
    public mutating func merge(_ other: ServiceHandlers) {
        byPath.merge(other.byPath) { _, new in new }
    }

    public mutating func unary<Request, Response>(
        _ method: RPCMethod<Request, Response>,
        _ body: @escaping @Sendable (Request, ServerCallContext) async throws -> Response
    ) {
        byPath[method.path] = .unary { context, bytes in
            try await body(try decode(Request.self, bytes), context).encode()
        }
    }

    public mutating func clientStreaming<Request, Response>(
        _ method: RPCMethod<Request, Response>,
        _ body: @escaping @Sendable (TypedRequestStream<Request>, ServerCallContext) async throws -> Response
    ) {
        byPath[method.path] = .clientStreaming { context, stream in
            try await body(TypedRequestStream(stream), context).encode()
        }
    }

    public mutating func serverStreaming<Request, Response>(
        _ method: RPCMethod<Request, Response>,
        _ body: @escaping @Sendable (Request, TypedResponseWriter<Response>, ServerCallContext) async throws -> Void
    ) {
        byPath[method.path] = .serverStreaming { context, bytes, writer in
            try await body(try decode(Request.self, bytes), TypedResponseWriter(writer), context)
        }
    }

    public mutating func bidiStreaming<Request, Response>(
        _ method: RPCMethod<Request, Response>,
        _ body: @escaping @Sendable (TypedRequestStream<Request>, TypedResponseWriter<Response>, ServerCallContext) async throws -> Void
    ) {
        byPath[method.path] = .bidiStreaming { context, stream, writer in
            try await body(TypedRequestStream(stream), TypedResponseWriter(writer), context)
        }
    }

    /// A client stream consumed message by message on the transport's poll thread, with no
    /// Swift task per message: `body` takes each request and must be quick and never block;
    /// `done` is the response once the client half-closes. For hot hand-offs such as the
    /// raft store's `Raft` stream.
    public mutating func clientStreamingInline<Request, Response>(
        _ method: RPCMethod<Request, Response>,
        _ body: @escaping @Sendable (Request, ServerCallContext) throws -> Void,
        done: @escaping @Sendable () -> Response
    ) {
        byPath[method.path] = .clientStreamingInline({ context, bytes in
            try body(try decode(Request.self, bytes), context)
        }, { done().encode() })
    }

    /// A bidi stream answered message by message on the transport's poll thread, with no
    /// Swift task per message: `body` maps each request to its response (nil: none) and
    /// must be quick and never block. For hot, trivial streams such as the scheduler's Tso.
    public mutating func bidiStreamingInline<Request, Response>(
        _ method: RPCMethod<Request, Response>,
        _ body: @escaping @Sendable (Request, ServerCallContext) throws -> Response?
    ) {
        byPath[method.path] = .bidiStreamingInline { context, bytes in
            try body(try decode(Request.self, bytes), context)?.encode()
        }
    }
}

/// Decodes a request, turning malformed bytes into `INVALID_ARGUMENT`.
func decode<M: ProtoMessage>(_ type: M.Type, _ bytes: [UInt8]) throws -> M {
    do {
        return try M(decoding: bytes)
    } catch {
        throw GRPCStatus(code: .invalidArgument, message: "\(error)")
    }
}

/// The decoded messages of a streaming call.
public struct TypedRequestStream<Message: ProtoMessage>: AsyncSequence, Sendable {
    public typealias Element = Message
    let stream: RequestStream

    init(_ stream: RequestStream) { self.stream = stream }

    /// The next message, or nil once the client has finished sending.
    public func next() async throws -> Message? {
        guard let bytes = try await stream.next() else { return nil }
        return try decode(Message.self, bytes)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var inner: RequestStream.AsyncIterator

        public mutating func next() async throws -> Message? {
            guard let bytes = try await inner.next() else { return nil }
            return try decode(Message.self, bytes)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inner: stream.makeAsyncIterator()) }
}

/// Sends typed response messages of a streaming call.
public struct TypedResponseWriter<Message: ProtoMessage>: Sendable {
    let writer: ResponseWriter

    init(_ writer: ResponseWriter) { self.writer = writer }

    /// Sends one message; don't call it concurrently with itself.
    public func send(_ message: Message) async throws {
        try await writer.send(message.encode())
    }
}

extension GRPCChannel {
    /// Calls a unary method and decodes its response.
    public func call<Request, Response>(
        _ method: RPCMethod<Request, Response>, _ request: Request, timeout: Duration? = nil
    ) async throws -> Response {
        let bytes = try await unary(method: method.path, request: request.encode(), timeout: timeout)
        do {
            return try Response(decoding: bytes)
        } catch {
            throw GRPCStatus(code: .internalError, message: "malformed response: \(error)")
        }
    }
}
