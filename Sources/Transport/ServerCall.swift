import CGRPC
import Synchronization

/// Server side of one call.
///
/// Owns the call's `grpc_call` reference and unrefs it exactly once, at the
/// first moment the core can no longer complete anything for it:
/// RECV_CLOSE_ON_SERVER has completed and no batch is outstanding. From then
/// on new batches are refused, so a handler that outlives its call can never
/// start an operation on a queue that server shutdown has already destroyed.
final class ServerCall: BatchOwner, Sendable {
    // @unchecked: only ever accessed under `state`'s mutex.
    private struct State: @unchecked Sendable {
        var call: OpaquePointer?
        var outstanding = 0
        var closed = false
        var cancelled = false
        var initialMetadataSent = false
        /// RECV_CLOSE_ON_SERVER was started (at most once per call).
        var closeWatched = false
        var handlerTask: Task<Void, Never>?
    }

    private let state: Mutex<State>
    let method: String
    let metadata: Metadata
    let deadline: ContinuousClock.Instant?
    private let liveCalls: LiveCalls?

    /// - Parameter liveCalls: counts this call until its `grpc_call` is released.
    init(call: OpaquePointer, method: String, metadata: Metadata, deadline: ContinuousClock.Instant?,
         liveCalls: LiveCalls? = nil) {
        self.state = Mutex(State(call: call))
        self.liveCalls = liveCalls
        liveCalls?.added()
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
    }

    deinit {
        // Only reachable with a live call if RECV_CLOSE could never be started.
        if let call = state.withLock({ $0.call }) { release(call) }
    }

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// The client's address as the core reports it; empty once the call is over. Asked for on
    /// demand: few handlers want it, and it costs an allocation per call.
    var peer: String {
        guard let call = claimCall() else { return "" }
        defer { batchFinished() }
        guard let cPeer = grpc_call_get_peer(call) else { return "" }
        defer { gpr_free(cPeer) }
        return String(cString: cPeer)
    }

    // MARK: Batch accounting

    /// Starts `batch` unless the call is closed; on refusal nothing runs
    /// and the returned status says why.
    @discardableResult
    private func start(_ batch: OperationBatch, handler: OperationBatch.Handler?) -> GRPCStatus? {
        guard let call = claimCall() else { return Self.closedError }
        // The call can't be unref'd while `outstanding` > 0, so using the
        // pointer outside the lock is safe and keeps the lock short.
        let error = batch.start(on: call, owner: self, handler: handler)
        if error == GRPC_CALL_OK { return nil }
        batchFinished()
        // E.g. TOO_MANY_OPERATIONS: two concurrent sends or receives.
        return GRPCStatus(.internalError, "grpc_call_start_batch failed (\(error.rawValue))")
    }

    /// The call pointer, counted as outstanding (so it can't be unref'd while in use) until the
    /// matching ``batchFinished()``; nil once the call is closed.
    private func claimCall() -> OpaquePointer? {
        state.withLock { s in
            guard let c = s.call, !s.closed else { return nil }
            s.outstanding += 1
            return c
        }
    }

    func batchFinished() {
        let release: OpaquePointer? = state.withLock { s in
            s.outstanding -= 1
            return Self.takeCallIfDone(&s)
        }
        if let release { self.release(release) }
    }

    private func release(_ call: OpaquePointer) {
        grpc_call_unref(call)
        liveCalls?.removed()
    }

    private static func takeCallIfDone(_ s: inout State) -> OpaquePointer? {
        guard s.closed, s.outstanding == 0, let c = s.call else { return nil }
        s.call = nil
        return c
    }

    private func markClosed(cancelled: Bool) {
        let (task, release): (Task<Void, Never>?, OpaquePointer?) = state.withLock { s in
            s.closed = true
            s.cancelled = cancelled
            let task = s.handlerTask
            s.handlerTask = nil
            return (cancelled ? task : nil, Self.takeCallIfDone(&s))
        }
        // A cancelled call (client gone, deadline, server shutdown) cancels the
        // handler's task so cooperative handlers stop early.
        task?.cancel()
        if let release { self.release(release) }
    }

    /// Ends the call now with `status` (the client sees it; pending operations fail).
    func cancel(_ status: GRPCStatus) {
        guard let call = claimCall() else { return }
        _ = grpc_call_cancel_with_status(call, grpc_status_code(status.code.rawValue), status.message, nil)
        batchFinished()
    }

    /// Records the handler's task so that call cancellation cancels it.
    func attach(_ task: Task<Void, Never>) {
        let cancelNow: Bool = state.withLock { s in
            if s.closed { return s.cancelled }
            s.handlerTask = task
            return false
        }
        if cancelNow { task.cancel() }
    }

    /// Claims the right to send the initial metadata (sent lazily with the
    /// first message or the status, saving a separate HEADERS write).
    private func claimInitialMetadata() -> Bool {
        state.withLock { s in
            if s.initialMetadataSent { return false }
            s.initialMetadataSent = true
            return true
        }
    }

    // MARK: Operations

    /// Issues RECV_CLOSE_ON_SERVER, the first batch of every call but a callback-answered one
    /// (whose answer's batch carries it, see ``finish(_:message:)``). It completes when the call
    /// is over, telling us whether it was cancelled. Does nothing if the close is watched already.
    func watchForClose() {
        guard claimCloseWatch() else { return }
        let batch = OperationBatch()
        startWatchingClose(batch)
    }

    private func claimCloseWatch() -> Bool {
        state.withLock { s in
            if s.closeWatched { return false }
            s.closeWatched = true
            return true
        }
    }

    /// Adds RECV_CLOSE_ON_SERVER to `batch` and starts it; its completion closes the call.
    private func startWatchingClose(_ batch: OperationBatch) {
        batch.receiveCloseOnServer()
        let refused = start(batch) { [self] b, ok in
            markClosed(cancelled: !ok || b.cancelledOnServer)
        }
        if refused != nil { markClosed(cancelled: true) }
    }

    /// Receives one message, calling `completion` on the poll thread.
    /// Used for the single request of unary/server-streaming calls so the
    /// handler task is only spawned once the request is in hand.
    func receive(_ completion: @escaping @Sendable (Result<[UInt8]?, GRPCStatus>) -> Void) {
        let batch = OperationBatch()
        batch.receiveMessage()
        let refused = start(batch) { [self] b, ok in
            completion(result(of: b, ok: ok))
        }
        if let refused { completion(.failure(refused)) }
    }

    /// Receives the next message; nil once the client half-closed.
    func receive() async throws -> [UInt8]? {
        let result: Result<[UInt8]?, GRPCStatus> = await withUnsafeContinuation { continuation in
            receive { continuation.resume(returning: $0) }
        }
        let message = try result.get()
        // Our task is only cancelled when the call is, and RECV_CLOSE's news
        // can race the end-of-stream report above.
        if message == nil && Task.isCancelled { throw Self.closedError }
        return message
    }

    private static let closedError = GRPCStatus(.cancelled, "call already closed or cancelled")

    private func result(of batch: OperationBatch, ok: Bool) -> Result<[UInt8]?, GRPCStatus> {
        guard ok else { return .failure(Self.closedError) }
        switch batch.takeMessage() {
        case .message(let bytes): return .success(bytes)
        case .endOfStream:
            // The core reports a cancelled stream as a plain end of stream.
            // Best effort: if we already know the call was cancelled, say so.
            return isCancelled ? .failure(Self.closedError) : .success(nil)
        case .undecodable: return .failure(GRPCStatus(.internalError, "could not decode received message"))
        }
    }

    /// Sends one message, resuming once the core has accepted it into flow
    /// control (natural back-pressure for streaming handlers).
    func send(_ message: [UInt8]) async throws {
        let failure: GRPCStatus? = await withUnsafeContinuation { continuation in
            send(message) { continuation.resume(returning: $0) }
        }
        if let failure { throw failure }
    }

    /// Sends one message, calling `completion` on the poll thread once the core has
    /// accepted it (nil) or the call is over (the reason).
    func send(_ message: [UInt8], completion: @escaping @Sendable (GRPCStatus?) -> Void) {
        let batch = OperationBatch()
        if claimInitialMetadata() { batch.sendInitialMetadata() }
        batch.sendMessage(message)
        let refused = start(batch) { _, ok in completion(ok ? nil : Self.closedError) }
        if let refused { completion(refused) }
    }

    /// Ends the call with `status`, optionally preceded by a last message,
    /// in a single batch. Fire-and-forget: the call releases itself later.
    /// A call whose close nobody watches yet (a callback-answered unary call) watches it in the
    /// same batch: a unary client has half-closed already, so the batch completes at once.
    func finish(_ status: GRPCStatus, message: [UInt8]? = nil) {
        let batch = OperationBatch()
        if claimInitialMetadata() { batch.sendInitialMetadata() }
        if let message { batch.sendMessage(message) }
        batch.sendStatus(status)
        if claimCloseWatch() {
            startWatchingClose(batch)
        } else {
            start(batch, handler: nil)
        }
    }
}
