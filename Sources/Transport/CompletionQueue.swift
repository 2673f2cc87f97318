import CGRPC
import Foundation

/// Base class of every object handed to the core as a completion tag.
///
/// Ownership protocol: `retainedTag()` gives the core a +1 reference; the poll
/// loop takes it back (`takeRetainedValue`) when the event arrives, so each tag
/// is released exactly once. If the core refuses the operation, no event will
/// come and the caller must call `releaseTag(_:)` itself.
class CompletionTag: @unchecked Sendable {
    /// Runs on the queue's poll thread: must be quick and must never block.
    func complete(success: Bool) {}

    final func retainedTag() -> UnsafeMutableRawPointer {
        Unmanaged.passRetained(self).toOpaque()
    }

    final func releaseTag(_ tag: UnsafeMutableRawPointer) {
        Unmanaged<CompletionTag>.fromOpaque(tag).release()
    }
}

/// A completion queue and the one dedicated thread that polls it.
///
/// `grpc_completion_queue_next` blocks, so it only ever runs on this thread,
/// never on Swift's cooperative pool. Completions resume continuations or
/// start further (non-blocking) batches.
final class CompletionQueue: @unchecked Sendable {
    /// Valid until the poll thread has drained the queue after `shutdown()`.
    let cq: OpaquePointer
    /// Runs Swift jobs on the poll thread (the shared queue only).
    let executor: PollThreadExecutor?
    private let exited = OneShot<Void>()

    init(name: String, runsJobs: Bool = false) {
        GRPCRuntime.ensureInitialized()
        cq = grpc_completion_queue_create_for_next(nil)
        executor = runsJobs ? PollThreadExecutor(queue: cq) : nil
        let thread = Thread { [self] in
            nameCurrentThread(name)
            self.pollUntilShutdown()
        }
        thread.name = name
        thread.start()
    }

    private func pollUntilShutdown() {
        let forever = gpr_inf_future(GPR_CLOCK_REALTIME)
        let now = gpr_time_0(GPR_CLOCK_MONOTONIC)
        loop: while true {
            var mayBlock = true
            if let executor {
                executor.runPendingJobs()
                // With jobs still waiting, only look for events that are already there.
                mayBlock = executor.prepareToSleep()
            }
            let event = grpc_completion_queue_next(cq, mayBlock ? forever : now, nil)
            if mayBlock { executor?.wokeUp() }
            switch event.type {
            case GRPC_OP_COMPLETE:
                guard let tag = event.tag else { continue }
                let target = Unmanaged<CompletionTag>.fromOpaque(tag).takeRetainedValue()
                target.complete(success: event.success != 0)
            case GRPC_QUEUE_SHUTDOWN:
                break loop
            default:  // GRPC_QUEUE_TIMEOUT: a poll without waiting found nothing
                continue
            }
        }
        // Drained: nothing can reference the queue's events any more.
        grpc_completion_queue_destroy(cq)
        exited.fulfill(())
    }

    /// Asks the queue to stop once every pending operation has completed.
    /// No operation may be started on it afterwards.
    func shutdown() {
        grpc_completion_queue_shutdown(cq)
    }

    /// Returns once the poll thread has drained the queue and exited.
    func waitUntilExited() async {
        await exited.wait()
    }
}
