import CGRPC

/// Something that must learn when a batch it started has finished (used by
/// server calls to know when the core no longer references the call).
protocol BatchOwner: AnyObject, Sendable {
    func batchFinished()
}

/// One `grpc_call_start_batch` worth of operations plus all the memory they
/// point at. The batch is its own completion tag, so it stays alive (and its
/// receive buffers stay valid) until the core reports completion; everything
/// is freed exactly once in `deinit`.
///
/// Not thread-safe by itself: it is filled by one thread, then handed to the
/// core, and read by the completion handler only after the core is done.
final class OperationBatch: CompletionTag, @unchecked Sendable {
    typealias Handler = @Sendable (OperationBatch, Bool) -> Void

    let raw: UnsafeMutablePointer<cgrpc_batch>
    private var handler: Handler?
    private var owner: (any BatchOwner)?

    override init() {
        raw = .allocate(capacity: 1)
        cgrpc_batch_init(raw)
    }

    deinit {
        cgrpc_batch_destroy(raw)
        raw.deallocate()
    }

    // MARK: Building

    func sendInitialMetadata(_ metadata: Metadata = Metadata()) {
        if !metadata.isEmpty {
            cgrpc_batch_alloc_metadata(raw, metadata.count)
            for (key, value) in metadata {
                var key = key
                var value = value
                key.withUTF8 { k in
                    value.withUTF8 { v in
                        k.withMemoryRebound(to: CChar.self) { k in
                            v.withMemoryRebound(to: CChar.self) { v in
                                cgrpc_batch_set_metadata(raw, k.baseAddress, k.count, v.baseAddress, v.count)
                            }
                        }
                    }
                }
            }
        }
        cgrpc_batch_send_initial_metadata(raw)
    }

    func sendMessage(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { cgrpc_batch_send_message(raw, $0.baseAddress, $0.count) }
    }

    func sendCloseFromClient() {
        cgrpc_batch_send_close_from_client(raw)
    }

    func sendStatus(_ status: GRPCStatus) {
        var message = status.message
        message.withUTF8 { m in
            m.withMemoryRebound(to: CChar.self) { m in
                cgrpc_batch_send_status(raw, grpc_status_code(status.code.rawValue), m.baseAddress, m.count)
            }
        }
    }

    func receiveInitialMetadata() { cgrpc_batch_recv_initial_metadata(raw) }
    func receiveMessage() { cgrpc_batch_recv_message(raw) }
    func receiveStatusOnClient() { cgrpc_batch_recv_status_on_client(raw) }
    func receiveCloseOnServer() { cgrpc_batch_recv_close_on_server(raw) }

    // MARK: Running

    /// Hands the batch to the core. `handler` runs on the poll thread when it
    /// completes, then `owner.batchFinished()`. Returns the core's error (and
    /// runs nothing) if the batch was refused.
    func start(on call: OpaquePointer, owner: (any BatchOwner)? = nil, handler: Handler?) -> grpc_call_error {
        self.handler = handler
        self.owner = owner
        let tag = retainedTag()
        let error = cgrpc_batch_start(call, raw, tag)
        if error != GRPC_CALL_OK {
            self.handler = nil
            self.owner = nil
            releaseTag(tag)
        }
        return error
    }

    override func complete(success: Bool) {
        let handler = self.handler
        let owner = self.owner
        self.handler = nil  // break the batch <-> closure cycle
        self.owner = nil
        handler?(self, success)
        owner?.batchFinished()
    }

    // MARK: Results (valid once completed)

    /// Outcome of a RECV_MESSAGE op.
    enum Received {
        case message([UInt8])
        /// The peer half-closed (or the call ended) instead of sending.
        case endOfStream
        /// The core handed us a buffer it could not decode.
        case undecodable
    }

    /// Takes the received message out (one copy) and frees the core buffer early.
    func takeMessage() -> Received {
        guard let buffer = raw.pointee.recv_message else { return .endOfStream }
        raw.pointee.recv_message = nil
        defer { grpc_byte_buffer_destroy(buffer) }
        guard let bytes = ByteBuffer.bytes(from: buffer) else { return .undecodable }
        return .message(bytes)
    }

    var hasMessage: Bool { raw.pointee.recv_message != nil }

    /// Status received by a client (RECV_STATUS_ON_CLIENT).
    var clientStatus: GRPCStatus {
        let message = withUnsafePointer(to: &raw.pointee.recv_status_details) { String(slice: $0) }
        return GRPCStatus(rawCode: Int32(raw.pointee.recv_status.rawValue), message: message)
    }

    var trailingMetadata: Metadata {
        withUnsafePointer(to: &raw.pointee.recv_trailing_md) { Metadata(array: $0) }
    }

    var initialMetadata: Metadata {
        withUnsafePointer(to: &raw.pointee.recv_initial_md) { Metadata(array: $0) }
    }

    /// RECV_CLOSE_ON_SERVER result: the call ended by cancellation/deadline/
    /// network failure rather than by our status.
    var cancelledOnServer: Bool { raw.pointee.recv_cancelled != 0 }
}
