import CGRPC

/// The completion queue shared by every client call in the process and by every server that
/// does not ask for poll threads of its own, polled by one thread (`grpc-cq`).
///
/// One queue and one thread for all of a process's gRPC traffic, because the core polls every
/// connection from whichever thread is waiting in `grpc_completion_queue_next` and then kicks the
/// thread that owns the completion's queue: with two server and two client queues, a raft store
/// took ~28 of those thread switches per replicated put. Measured on two cores (3 stores,
/// kvload): single-client put p50 1.38–1.65 → 1.20–1.27 ms, 64-client puts +16–27%.
final class SharedQueue: Sendable {
    static let shared = SharedQueue()

    let queue: CompletionQueue

    private init() {
        queue = CompletionQueue(name: "grpc-cq", runsJobs: true)
    }
}

extension PollThreadExecutor {
    /// The executor of the poll thread that receives every client call's completions.
    public static var shared: PollThreadExecutor { SharedQueue.shared.queue.executor! }
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
