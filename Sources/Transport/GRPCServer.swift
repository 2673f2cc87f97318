import CGRPC
import Synchronization

/// Errors raised while setting up a server.
public enum GRPCServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The address could not be bound (in use, bad syntax, no permission), or the TLS
    /// certificate and key were rejected.
    case bindFailed(address: String)
    /// ``ListenAddress/checkBindable(_:)`` found that no socket can bind the address.
    case addressUnavailable(address: String, reason: String)

    public var description: String {
        switch self {
        case .bindFailed(let address):
            return "cannot listen on \(address): the address is in use, malformed or not local, or the TLS certificate was rejected"
        case .addressUnavailable(let address, let reason):
            return "cannot listen on \(address): \(reason)"
        }
    }
}

/// A gRPC server (HTTP/2, plaintext or TLS) on top of the gRPC C core.
///
/// A fixed pool of completion-queue threads receives core events; handlers
/// run as Swift tasks. Create it, `start()` it, and always finish with
/// `shutdown(gracePeriod:)` (the poll threads live until then).
public final class GRPCServer: Sendable {
    private let core: ServerCore

    /// The bound TCP port (useful with port 0).
    public let port: Int

    /// Binds `address` (e.g. "127.0.0.1:20160", "0.0.0.0:0").
    ///
    /// - Parameters:
    ///   - handlers: method path ("/pkg.Service/Method") to handler; calls to
    ///     any other path are answered UNIMPLEMENTED.
    ///   - completionQueueThreads: poll threads of this server's own, each with its own queue;
    ///     nil (the default) serves calls from the process's shared queue and thread, which is
    ///     also what client calls use (the fewest thread switches; see `SharedQueue`).
    ///   - maxMessageBytes: send and receive limit per message.
    ///   - pendingRequestsPerQueue: calls the core may hand over per queue
    ///     without waiting for us to ask again (bounds accept concurrency).
    ///   - tls: serve TLS (mutual TLS when it has a CA) instead of plaintext.
    /// - Throws: `GRPCServerError.bindFailed` if the address can't be bound,
    ///   `TLSConfigError` if `tls` lacks a certificate or key.
    public init(
        address: String,
        handlers: [String: MethodHandler] = [:],
        completionQueueThreads: Int? = nil,
        maxMessageBytes: Int = GRPCDefaults.maxMessageBytes,
        pendingRequestsPerQueue: Int = 64,
        tls: TLSConfig? = nil
    ) throws {
        GRPCRuntime.ensureInitialized()
        try tls?.validateForServer()
        let core = ServerCore(
            address: address, handlers: handlers, threads: completionQueueThreads.map { max(1, $0) },
            maxMessageBytes: maxMessageBytes, pendingRequestsPerQueue: max(1, pendingRequestsPerQueue), tls: tls)
        guard core.port > 0 else {
            // Tear down the half-built server (queues, threads) off this thread.
            Task { await core.shutdown(gracePeriod: .zero) }
            throw GRPCServerError.bindFailed(address: address)
        }
        self.core = core
        self.port = core.port
    }

    /// Starts accepting calls, serving `handlers` besides those given at init (they win on the
    /// same path). The port is bound from init on, so a server can claim its address before the
    /// handlers exist (a store checks its port before it joins the cluster). Calling it again has no effect.
    public func start(adding handlers: [String: MethodHandler] = [:]) {
        core.start(adding: handlers)
    }

    /// Graceful shutdown: stops accepting calls, lets in-flight calls finish
    /// for up to `gracePeriod`, then cancels the rest (their handlers' tasks
    /// are cancelled and their sends/receives fail), waits until the core has
    /// released everything and the poll threads have exited.
    /// Concurrent or repeated calls all return once shutdown is complete.
    public func shutdown(gracePeriod: Duration) async {
        await core.shutdown(gracePeriod: gracePeriod)
    }
}

/// The server's state shared with its poll threads and calls.
final class ServerCore: @unchecked Sendable {
    // @unchecked: `server` is written once in init; `handlers` only before the core starts
    // (calls arrive after `grpc_server_start`); the core API is thread-safe; mutable state
    // lives in `phase` (a Mutex).
    private enum Phase { case created, running, shuttingDown, stopped }

    private let server: OpaquePointer
    private let queues: [CompletionQueue]
    /// The queues are this server's own (shut down with it), not the shared one.
    private let ownsQueues: Bool
    private var handlers: [String: MethodHandler]
    private let pendingRequestsPerQueue: Int
    /// Methods registered with the core at start (``MethodHandler/takesOneRequest``); written
    /// once, before `grpc_server_start`.
    private var registered: [RegisteredMethod] = []
    private let phase = Mutex(Phase.created)
    private let stopped = OneShot<Void>()
    /// Inline streams in progress (``MethodHandler/endsOnlyWithClient``): shutdown ends them at
    /// once instead of waiting out the grace period; their clients reconnect elsewhere or later.
    private let openStreams = Mutex<[ObjectIdentifier: ServerCall]>([:])
    /// Callback-answered calls not answered yet. Their close is watched only by the answer's
    /// batch, so shutdown watches it itself: otherwise a call whose answer never comes would
    /// hold the server open.
    private let unanswered = Mutex<(calls: [ObjectIdentifier: ServerCall], shuttingDown: Bool)>(([:], false))
    let liveCalls = LiveCalls()
    let port: Int

    /// - Parameter threads: own poll threads, or nil for the shared queue.
    init(address: String, handlers: [String: MethodHandler], threads: Int?, maxMessageBytes: Int, pendingRequestsPerQueue: Int, tls: TLSConfig?) {
        self.handlers = handlers
        self.pendingRequestsPerQueue = pendingRequestsPerQueue
        server = cgrpc_server_create(Int32(clamping: maxMessageBytes))
        if let threads {
            queues = (0..<threads).map { CompletionQueue(name: "grpc-srv-cq-\($0)") }
            ownsQueues = true
        } else {
            queues = [SharedQueue.shared.queue]
            ownsQueues = false
        }
        for queue in queues {
            grpc_server_register_completion_queue(server, queue.cq, nil)
        }
        if let tls {
            port = Int(cgrpc_server_add_tls_port(server, address, tls.caPEM, tls.certificatePEM, tls.privateKeyPEM))
        } else {
            port = Int(cgrpc_server_add_insecure_port(server, address))
        }
    }

    func start(adding extra: [String: MethodHandler] = [:]) {
        let first = phase.withLock { p in
            guard p == .created else { return false }
            p = .running
            return true
        }
        guard first else { return }
        handlers.merge(extra) { _, added in added }
        for (path, handler) in handlers.sorted(by: { $0.key < $1.key }) where handler.takesOneRequest {
            if let handle = cgrpc_register_method_reading_payload(server, path) {
                registered.append(RegisteredMethod(path: path, handle: handle))
            }
        }
        grpc_server_start(server)
        for queue in queues {
            for _ in 0..<pendingRequestsPerQueue {
                arm(CallRequest(server: self, queue: queue))
                for method in registered {
                    arm(CallRequest(server: self, queue: queue, method: method))
                }
            }
        }
    }

    /// Asks the core for the next call on the request's queue. Done under the
    /// phase lock so no request can be issued once shutdown has begun (the
    /// queues are destroyed later and must not receive new operations).
    private func arm(_ request: CallRequest) {
        phase.withLock { p in
            guard p == .running else { return }
            let tag = request.retainedTag()
            if request.requestNext(from: server, tag: tag) != GRPC_CALL_OK {
                request.releaseTag(tag)
            }
        }
    }

    /// Poll thread: a request slot completed. `success == false` means the
    /// server is shutting down; the slot is then dropped.
    fileprivate func requestCompleted(_ request: CallRequest, success: Bool) {
        guard success, let (call, message) = request.takeCall() else { return }
        // Re-arm before dispatching so the core never runs out of slots,
        // and while `call` is still live (shutdown can't complete meanwhile).
        arm(request)
        dispatch(call, request: message)
    }

    /// - Parameter request: the request message when the core has read it already (a registered
    ///   method); nil to receive it with a batch of its own.
    private func dispatch(_ call: ServerCall, request preread: Result<[UInt8]?, GRPCStatus>?) {
        let handler = handlers[call.method]
        // A callback-answered call's close is watched by its answer's batch (one batch fewer),
        // unless the server starts shutting down first (see `unanswered`).
        let answeredByCallback = if case .unaryCallback = handler { true } else { false }
        if !answeredByCallback { call.watchForClose() }
        let metrics = RPCMetrics.shared.method(call.method, handler: handler)
        let start = ContinuousClock.now
        metrics.started.increment()
        let inlineStream = handler?.endsOnlyWithClient ?? false
        if inlineStream { openStreams.withLock { $0[ObjectIdentifier(call)] = call } }
        @Sendable func finish(_ status: GRPCStatus, message: [UInt8]? = nil) {
            if inlineStream { _ = openStreams.withLock { $0.removeValue(forKey: ObjectIdentifier(call)) } }
            if answeredByCallback { _ = unanswered.withLock { $0.calls.removeValue(forKey: ObjectIdentifier(call)) } }
            metrics.finished(status.code, since: start)
            call.finish(status, message: message)
        }
        guard let handler else {
            finish(GRPCStatus(.unimplemented, "Method not found: \(call.method)"))
            return
        }
        let context = ServerCallContext(call: call)
        switch handler {
        case .unary(let body):
            receiveOne(call, preread) { result in
                guard let request = Self.singleRequest(result, call: call) else { return }
                call.attach(Task {
                    do {
                        let response = try await body(context, request)
                        finish(.ok, message: response)
                    } catch {
                        finish(.from(error))
                    }
                })
            }
        case .unaryCallback(let body):
            receiveOne(call, preread) { [self] result in
                guard let request = Self.singleRequest(result, call: call) else {
                    call.watchForClose()  // nothing else will end it
                    return
                }
                let watchNow = unanswered.withLock { u in
                    if u.shuttingDown { return true }
                    u.calls[ObjectIdentifier(call)] = call
                    return false
                }
                if watchNow { call.watchForClose() }
                let respond = UnaryResponder { status, message in finish(status, message: message) }
                do {
                    try body(context, request, respond)
                } catch {
                    respond(.failure(.from(error)))
                }
            }
        case .serverStreaming(let body):
            receiveOne(call, preread) { result in
                guard let request = Self.singleRequest(result, call: call) else { return }
                call.attach(Task {
                    do {
                        try await body(context, request, ResponseWriter(call: call))
                        finish(.ok)
                    } catch {
                        finish(.from(error))
                    }
                })
            }
        case .clientStreaming(let body):
            call.attach(Task {
                do {
                    let response = try await body(context, RequestStream(call: call))
                    finish(.ok, message: response)
                } catch {
                    finish(.from(error))
                }
            })
        case .clientStreamingInline(let body, let done):
            InlineClientStream(call: call, consume: { try body(context, $0) }, done: done,
                               finish: { status, message in finish(status, message: message) }).start()
        case .bidiStreamingInline(let body):
            InlineBidiStream(call: call, respond: { try body(context, $0) }, finish: { finish($0) }).start()
        case .bidiStreaming(let body):
            call.attach(Task {
                do {
                    try await body(context, RequestStream(call: call), ResponseWriter(call: call))
                    finish(.ok)
                } catch {
                    finish(.from(error))
                }
            })
        }
    }

    /// Hands `body` the call's one request: the one the core read already, or one received now.
    private func receiveOne(_ call: ServerCall, _ preread: Result<[UInt8]?, GRPCStatus>?,
                            _ body: @escaping @Sendable (Result<[UInt8]?, GRPCStatus>) -> Void) {
        if let preread { body(preread) } else { call.receive(body) }
    }

    /// The request of a unary/server-streaming call, or nil if the call is
    /// already answered (no message) or dead.
    private static func singleRequest(_ result: Result<[UInt8]?, GRPCStatus>, call: ServerCall) -> [UInt8]? {
        switch result {
        case .success(let request?):
            return request
        case .success(nil):
            call.finish(GRPCStatus(.internalError, "request message missing"))
            return nil
        case .failure:
            return nil  // cancelled: the client gets its status from the core
        }
    }

    func shutdown(gracePeriod: Duration) async {
        let previous: Phase = phase.withLock { p in
            let old = p
            if p == .created || p == .running { p = .shuttingDown }
            return old
        }
        switch previous {
        case .shuttingDown, .stopped:
            await stopped.wait()
            return
        case .created:
            grpc_server_start(server)  // the core shuts down started servers
        case .running:
            break
        }

        let notified = OneShot<Void>()
        grpc_server_shutdown_and_notify(server, queues[0].cq, ShutdownTag(notified).retainedTag())
        let streams = openStreams.withLock { open in
            defer { open = [:] }
            return Array(open.values)
        }
        for call in streams { call.cancel(GRPCStatus(.unavailable, "server shutting down")) }
        let waiting = unanswered.withLock { u in
            u.shuttingDown = true
            defer { u.calls = [:] }
            return Array(u.calls.values)
        }
        for call in waiting { call.watchForClose() }
        // The notification comes once every call is over; past the grace
        // period, cancel them to get there.
        let deadline = Task { [self] in
            try? await Task.sleep(for: gracePeriod)
            if !Task.isCancelled { grpc_server_cancel_all_calls(server) }
        }
        await notified.wait()
        deadline.cancel()
        await deadline.value  // never touch the server after destroy
        // Every connection is gone, but handlers may still hold calls: end them, and shut the
        // queues down only once the last is released (no batch can start after that).
        grpc_server_cancel_all_calls(server)
        await liveCalls.waitUntilNone()

        grpc_server_destroy(server)
        if ownsQueues {
            for queue in queues { queue.shutdown() }
            for queue in queues { await queue.waitUntilExited() }
        }
        phase.withLock { $0 = .stopped }
        stopped.fulfill(())
    }
}

/// A method registered with the core (`grpc_server_register_method`).
struct RegisteredMethod: @unchecked Sendable {
    // @unchecked: `handle` is the core's immutable per-method token.
    let path: String
    let handle: UnsafeMutableRawPointer
}

/// One outstanding request for a new call, re-armed after each: for a call of any method not
/// registered (`grpc_server_request_call`), or for a call of one registered method, which the
/// core reports with its request message already read (`grpc_server_request_registered_call`).
private final class CallRequest: CompletionTag, @unchecked Sendable {
    private enum Slot {
        case unregistered(UnsafeMutablePointer<cgrpc_request>)
        case registered(RegisteredMethod, UnsafeMutablePointer<cgrpc_registered_request>)
    }

    private let slot: Slot
    let server: ServerCore
    let queue: CompletionQueue

    /// - Parameter method: the registered method to receive calls of; nil for unregistered ones.
    init(server: ServerCore, queue: CompletionQueue, method: RegisteredMethod? = nil) {
        self.server = server
        self.queue = queue
        if let method {
            let raw = UnsafeMutablePointer<cgrpc_registered_request>.allocate(capacity: 1)
            cgrpc_registered_request_init(raw)
            slot = .registered(method, raw)
        } else {
            let raw = UnsafeMutablePointer<cgrpc_request>.allocate(capacity: 1)
            cgrpc_request_init(raw)
            slot = .unregistered(raw)
        }
    }

    deinit {
        switch slot {
        case .unregistered(let raw):
            cgrpc_request_destroy(raw)
            raw.deallocate()
        case .registered(_, let raw):
            cgrpc_registered_request_destroy(raw)
            raw.deallocate()
        }
    }

    override func complete(success: Bool) {
        server.requestCompleted(self, success: success)
    }

    /// Asks `server`'s core for the next call, reported on this request's queue with `tag`.
    func requestNext(from server: OpaquePointer, tag: UnsafeMutableRawPointer) -> grpc_call_error {
        switch slot {
        case .unregistered(let raw): cgrpc_request_call(server, raw, queue.cq, tag)
        case .registered(let method, let raw): cgrpc_request_registered_call(server, method.handle, raw, queue.cq, tag)
        }
    }

    /// Moves the received call out (copying its details) and resets the slot. With it comes
    /// the request message when the core read it (a registered method; nil inside when the
    /// client ended its side without one), or nil when it is still to be received.
    func takeCall() -> (ServerCall, Result<[UInt8]?, GRPCStatus>?)? {
        switch slot {
        case .unregistered(let raw):
            guard let call = raw.pointee.call else { return nil }
            let method = withUnsafePointer(to: &raw.pointee.details.method) { String(slice: $0) }
            let metadata = withUnsafePointer(to: &raw.pointee.metadata) { Metadata(array: $0) }
            let deadline = ContinuousClock.Instant(grpcDeadline: raw.pointee.details.deadline)
            cgrpc_request_destroy(raw)
            cgrpc_request_init(raw)
            return (ServerCall(call: call, method: method, metadata: metadata, deadline: deadline, liveCalls: server.liveCalls), nil)
        case .registered(let method, let raw):
            guard let call = raw.pointee.call else { return nil }
            let metadata = withUnsafePointer(to: &raw.pointee.metadata) { Metadata(array: $0) }
            let deadline = ContinuousClock.Instant(grpcDeadline: raw.pointee.deadline)
            let request: Result<[UInt8]?, GRPCStatus> = if let payload = raw.pointee.payload {
                ByteBuffer.bytes(from: payload).map { .success($0) }
                    ?? .failure(GRPCStatus(.internalError, "could not decode received message"))
            } else {
                .success(nil)
            }
            cgrpc_registered_request_destroy(raw)
            cgrpc_registered_request_init(raw)
            let serverCall = ServerCall(call: call, method: method.path, metadata: metadata, deadline: deadline,
                                        liveCalls: server.liveCalls)
            return (serverCall, request)
        }
    }
}

extension ContinuousClock.Instant {
    /// The instant of a core deadline; nil for none (infinite future).
    init?(grpcDeadline: gpr_timespec) {
        let remaining = cgrpc_remaining_ns(grpcDeadline)
        if remaining == .max { return nil }
        self = ContinuousClock.now.advanced(by: .nanoseconds(remaining))
    }
}

/// Tag of `grpc_server_shutdown_and_notify`.
private final class ShutdownTag: CompletionTag, @unchecked Sendable {
    let done: OneShot<Void>

    init(_ done: OneShot<Void>) {
        self.done = done
    }

    override func complete(success: Bool) {
        done.fulfill(())
    }
}
