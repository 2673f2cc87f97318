import CGRPC

/// Shared machinery of client-streaming, server-streaming and bidi calls.
///
/// At creation one batch sends the initial metadata (plus, for server
/// streaming, the single request and half-close) and asks for the initial
/// metadata and the final status; that batch completes when the call ends and
/// fulfils `status`. Sends and receives then run as independent batches, at
/// most one of each kind at a time, so they can proceed in parallel.
final class ClientStreamCore: Sendable {
    let call: ClientCall
    private let status = OneShot<GRPCStatus>()

    init(call: ClientCall, metadata: Metadata, firstMessage: [UInt8]? = nil, halfClose: Bool = false) {
        self.call = call
        let batch = OperationBatch()
        batch.sendInitialMetadata(metadata)
        if let firstMessage { batch.sendMessage(firstMessage) }
        if halfClose { batch.sendCloseFromClient() }
        batch.receiveInitialMetadata()
        batch.receiveStatusOnClient()
        let status = self.status
        do throws(GRPCStatus) {
            try call.start(batch) { b, ok in
                status.fulfill(ok ? b.clientStatus : GRPCStatus(.internalError, "status batch failed"))
            }
        } catch {
            status.fulfill(error)
        }
    }

    /// The final status; cancelling the waiting task cancels the call.
    func finalStatus() async -> GRPCStatus {
        if let s = status.current { return s }
        return await withTaskCancellationHandler {
            await status.wait()
        } onCancel: {
            call.cancel()
        }
    }

    /// Why an operation failed: the call's final status, or a generic error if
    /// it ended OK (e.g. the server answered before reading everything).
    private func failure() async -> GRPCStatus {
        let s = await finalStatus()
        return s.code == .ok ? GRPCStatus(.unavailable, "call already completed") : s
    }

    func send(_ message: [UInt8]) async throws(GRPCStatus) {
        let batch = OperationBatch()
        batch.sendMessage(message)
        if try await call.run(batch) { return }
        throw await failure()
    }

    /// Starts one send; `completion` runs on a completion-queue thread with true once the core
    /// accepted the message, false once the call has ended (or the batch could not start).
    func startSend(_ message: [UInt8], completion: @escaping @Sendable (Bool) -> Void) {
        let batch = OperationBatch()
        batch.sendMessage(message)
        do throws(GRPCStatus) {
            try call.start(batch) { _, ok in completion(ok) }
        } catch {
            completion(false)
        }
    }

    func closeSend() async {
        let batch = OperationBatch()
        batch.sendCloseFromClient()
        _ = try? await call.run(batch)
    }

    /// Sends one message and receives the next response in one batch: one completion and one
    /// wake-up instead of two (request-response traffic on a stream, such as Tso). Returns nil at a
    /// clean end of stream; throws the status otherwise.
    func exchange(_ message: [UInt8]) async throws(GRPCStatus) -> [UInt8]? {
        let batch = OperationBatch()
        batch.sendMessage(message)
        return try await receive(in: batch)
    }

    /// Next response, nil at a clean end of stream, else throws the status.
    func receive() async throws(GRPCStatus) -> [UInt8]? {
        try await receive(in: OperationBatch())
    }

    /// Adds a receive to `batch`, runs it, and returns the message; nil at end of stream once
    /// the status is OK.
    private func receive(in batch: OperationBatch) async throws(GRPCStatus) -> [UInt8]? {
        batch.receiveMessage()
        let message: OperationBatch.Received = try await call.run(batch) ? batch.takeMessage() : .endOfStream
        switch message {
        case .message(let bytes): return bytes
        case .endOfStream:
            let s = await finalStatus()
            if s.code == .ok { return nil }
            throw s
        case .undecodable:
            call.cancel()
            throw GRPCStatus(.internalError, "could not decode received message")
        }
    }

    /// Half-closes and waits for the single response (client streaming).
    func finish() async throws(GRPCStatus) -> [UInt8] {
        let batch = OperationBatch()
        batch.sendCloseFromClient()
        batch.receiveMessage()
        let ok = try await call.run(batch)
        let received: OperationBatch.Received = ok ? batch.takeMessage() : .endOfStream
        let s = await finalStatus()
        guard s.code == .ok else { throw s }
        switch received {
        case .message(let bytes): return bytes
        case .endOfStream: throw GRPCStatus(.internalError, "server sent no response message")
        case .undecodable: throw GRPCStatus(.internalError, "could not decode received message")
        }
    }
}
