import CGRPC
import Synchronization

/// A client connection to one gRPC server (HTTP/2, plaintext or TLS).
///
/// Connects lazily on the first call and reconnects automatically (the core
/// handles it). Calls fail fast with UNAVAILABLE when the server can't be
/// reached (no wait-for-ready). All calls multiplex over one connection.
public final class GRPCChannel: Sendable {
    private let core: ChannelCore

    /// The target as given, e.g. "127.0.0.1:2379".
    public let target: String

    /// - Parameter tls: connect with TLS, verifying the server against its CA and
    ///   presenting its certificate (mutual TLS) when it has one.
    public init(target: String, maxMessageBytes: Int = GRPCDefaults.maxMessageBytes, tls: TLSConfig? = nil) {
        GRPCRuntime.ensureInitialized()
        self.target = target
        self.core = ChannelCore(target: target, maxMessageBytes: maxMessageBytes, tls: tls)
    }

    /// A unary call. Throws the server's non-OK `GRPCStatus` (DEADLINE_EXCEEDED
    /// after `timeout`, UNAVAILABLE if unreachable, CANCELLED if the awaiting
    /// task is cancelled).
    public func unary(
        method: String, request: [UInt8], timeout: Duration? = nil, metadata: Metadata = Metadata()
    ) async throws -> [UInt8] {
        let call = try core.makeCall(method: method, timeout: timeout)
        // Everything in one batch: one completion, one wake-up per call.
        let batch = OperationBatch()
        batch.sendInitialMetadata(metadata)
        batch.sendMessage(request)
        batch.sendCloseFromClient()
        batch.receiveInitialMetadata()
        batch.receiveMessage()
        batch.receiveStatusOnClient()
        guard try await call.run(batch) else {
            throw GRPCStatus(.internalError, "unary batch failed")
        }
        let status = batch.clientStatus
        guard status.code == .ok else { throw status }
        switch batch.takeMessage() {
        case .message(let bytes): return bytes
        case .endOfStream: throw GRPCStatus(.internalError, "server sent no response message")
        case .undecodable: throw GRPCStatus(.internalError, "could not decode received message")
        }
    }

    /// Starts a client-streaming call. The deadline (if any) starts now.
    public func clientStreaming(
        method: String, timeout: Duration? = nil, metadata: Metadata = Metadata()
    ) throws -> ClientStreamingCall {
        let call = try core.makeCall(method: method, timeout: timeout)
        return ClientStreamingCall(core: ClientStreamCore(call: call, metadata: metadata))
    }

    /// Starts a server-streaming call, sending `request` right away.
    public func serverStreaming(
        method: String, request: [UInt8], timeout: Duration? = nil, metadata: Metadata = Metadata()
    ) throws -> ServerStreamingCall {
        let call = try core.makeCall(method: method, timeout: timeout)
        return ServerStreamingCall(
            core: ClientStreamCore(call: call, metadata: metadata, firstMessage: request, halfClose: true))
    }

    /// Starts a bidirectional-streaming call.
    public func bidiStreaming(
        method: String, timeout: Duration? = nil, metadata: Metadata = Metadata()
    ) throws -> BidiStreamingCall {
        let call = try core.makeCall(method: method, timeout: timeout)
        return BidiStreamingCall(core: ClientStreamCore(call: call, metadata: metadata))
    }

    /// Closes the channel: new calls throw UNAVAILABLE. Calls already running
    /// keep their connection until they end (cancel them to end them early);
    /// the connection closes after the last one. Also done on release.
    public func close() {
        core.close()
    }
}

/// Owns the `grpc_channel`. Destroying it while another thread creates a
/// call would be a use-after-free, so call creation registers as a user and
/// the last user out performs a pending destroy.
final class ChannelCore: @unchecked Sendable {
    // @unchecked: the raw pointers inside `state` are only touched under the
    // mutex or while `users` > 0 keeps the channel alive.
    private struct State: @unchecked Sendable {
        var channel: OpaquePointer?
        var users = 0
        var closing = false
        /// Per-method handles from grpc_channel_register_call: creating calls
        /// from them skips per-call path parsing/interning in the core.
        var registered: [String: UnsafeMutableRawPointer] = [:]
    }

    private let state: Mutex<State>

    init(target: String, maxMessageBytes: Int, tls: TLSConfig?) {
        let channel: OpaquePointer?
        if let tls {
            // Unusable credentials leave no channel: calls then fail with UNAVAILABLE.
            channel = cgrpc_tls_channel_create(
                target, Int32(clamping: maxMessageBytes), tls.caPEM, tls.certificatePEM, tls.privateKeyPEM,
                tls.serverNameOverride)
        } else {
            channel = cgrpc_insecure_channel_create(target, Int32(clamping: maxMessageBytes))
        }
        state = Mutex(State(channel: channel))
    }

    deinit {
        close()
    }

    func makeCall(method: String, timeout: Duration?) throws(GRPCStatus) -> ClientCall {
        let acquired: (OpaquePointer, UnsafeMutableRawPointer)? = state.withLock { s in
            guard let channel = s.channel, !s.closing else { return nil }
            s.users += 1
            if let handle = s.registered[method] { return (channel, handle) }
            guard let handle = grpc_channel_register_call(channel, method, nil, nil) else {
                s.users -= 1
                return nil
            }
            s.registered[method] = handle
            return (channel, handle)
        }
        guard let (channel, handle) = acquired else {
            throw GRPCStatus(.unavailable, "channel is closed")
        }
        let call = grpc_channel_create_registered_call(
            channel, nil, cgrpc_propagate_defaults, SharedQueue.shared.queue.cq, handle,
            makeDeadline(timeout), nil)
        release()
        guard let call else { throw GRPCStatus(.internalError, "could not create call") }
        return ClientCall(call: call)
    }

    private func release() {
        let destroy: OpaquePointer? = state.withLock { s in
            s.users -= 1
            return s.closing && s.users == 0 ? Self.takeChannel(&s) : nil
        }
        if let destroy { grpc_channel_destroy(destroy) }
    }

    private static func takeChannel(_ s: inout State) -> OpaquePointer? {
        let channel = s.channel
        s.channel = nil
        s.registered = [:]
        return channel
    }

    func close() {
        let destroy: OpaquePointer? = state.withLock { s in
            s.closing = true
            return s.users == 0 ? Self.takeChannel(&s) : nil
        }
        if let destroy { grpc_channel_destroy(destroy) }
    }
}
