import CGRPC
import Synchronization

/// Completion queues shared by every client call in the process, each with
/// its own poll thread; calls are spread round-robin.
final class ClientQueues: Sendable {
    static let shared = ClientQueues(count: 2)

    private let queues: [CompletionQueue]
    private let counter = Atomic<UInt>(0)

    private init(count: Int) {
        queues = (0..<count).map { CompletionQueue(name: "grpc-cli-cq-\($0)") }
    }

    func pick() -> CompletionQueue {
        let n = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        return queues[Int(n % UInt(queues.count))]
    }
}

/// Owns one client `grpc_call` reference (unref'd in deinit, i.e. after every
/// batch holding this object has completed) and runs batches on it.
final class ClientCall: @unchecked Sendable {
    // @unchecked: `call` is immutable and the core's call API is thread-safe
    // for distinct op types / cancel.
    let call: OpaquePointer

    init(call: OpaquePointer) {
        self.call = call
    }

    deinit {
        grpc_call_unref(call)
    }

    /// Cancels the call (CANCELLED status); safe at any time, any thread.
    func cancel() {
        grpc_call_cancel(call, nil)
    }

    /// Starts a batch whose completion is handled on the poll thread.
    /// The handler keeps `self` (hence the call) alive until it runs.
    func start(_ batch: OperationBatch, handler: @escaping @Sendable (OperationBatch, Bool) -> Void) throws(GRPCStatus) {
        let error = batch.start(on: call, handler: { [self] b, ok in
            withExtendedLifetime(self) { handler(b, ok) }
        })
        if error != GRPC_CALL_OK {
            throw GRPCStatus(.internalError, "grpc_call_start_batch failed (\(error.rawValue))")
        }
    }

    /// Runs a batch to completion; cancelling the awaiting task cancels the
    /// whole call (the batch then completes promptly with a CANCELLED status).
    func run(_ batch: OperationBatch) async throws(GRPCStatus) -> Bool {
        let result: Result<Bool, GRPCStatus> = await withTaskCancellationHandler {
            await withUnsafeContinuation { continuation in
                do throws(GRPCStatus) {
                    try start(batch) { _, ok in continuation.resume(returning: .success(ok)) }
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        } onCancel: {
            cancel()
        }
        return try result.get()
    }
}
