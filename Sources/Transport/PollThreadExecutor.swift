import CGRPC
import Synchronization

/// Runs Swift jobs on a completion queue's poll thread, between the queue's events.
///
/// A task that prefers this executor (`Task(executorPreference:)`,
/// `withTaskExecutorPreference`) is resumed by its call's completion on the very thread that
/// received it, instead of waking a thread of the global pool: for a client that spends little
/// time between calls (the benchmark's workers) that thread switch was the largest single cost
/// (~18% of the client's CPU in `finish_task_switch`). Jobs must never block: they share the
/// thread with every completion of the process.
///
/// Jobs enqueued from other threads wake the poll thread with an empty call batch, which the
/// core completes at once on the queue.
public final class PollThreadExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `wakeCall` is immutable; everything mutable is in `state`.
    private struct State {
        var pending: [UnownedJob] = []
        /// The poll thread is (about to be) blocked in `grpc_completion_queue_next`.
        var sleeping = false
        /// A wake-up batch is on the queue and has not been seen yet.
        var wakePosted = false
    }

    private let state = Mutex(State())
    private let wakeCall: WakeCall

    init(queue: OpaquePointer) {
        wakeCall = WakeCall(queue: queue)
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        let wake = state.withLock { s in
            s.pending.append(unowned)
            guard s.sleeping, !s.wakePosted else { return false }
            s.wakePosted = true
            return true
        }
        if wake { wakeCall.post(WakeTag(executor: self)) }
    }

    /// Runs the jobs pending now (not those they enqueue: the queue's events come first).
    /// Called on the poll thread only.
    func runPendingJobs() {
        let jobs = state.withLock { s in
            let jobs = s.pending
            s.pending.removeAll(keepingCapacity: true)
            return jobs
        }
        let me = asUnownedTaskExecutor()
        for job in jobs { job.runSynchronously(on: me) }
    }

    /// Marks the poll thread as about to block, unless jobs are waiting (then it must not).
    func prepareToSleep() -> Bool {
        state.withLock { s in
            guard s.pending.isEmpty else { return false }
            s.sleeping = true
            return true
        }
    }

    /// The poll thread is running again.
    func wokeUp() {
        state.withLock { $0.sleeping = false }
    }

    fileprivate func wakeSeen() {
        state.withLock { $0.wakePosted = false }
    }
}

/// The completion tag of a wake-up batch.
private final class WakeTag: CompletionTag, @unchecked Sendable {
    let executor: PollThreadExecutor

    init(executor: PollThreadExecutor) {
        self.executor = executor
    }

    override func complete(success: Bool) {
        executor.wakeSeen()
    }
}

/// A call that never sends anything, used to put events on a completion queue: the core completes
/// a batch of zero operations immediately. Its channel is never connected (a call connects when
/// it starts operations).
private final class WakeCall: @unchecked Sendable {
    // @unchecked: the pointers are immutable; the core's call API is thread-safe.
    private let channel: OpaquePointer
    private let call: OpaquePointer

    init(queue: OpaquePointer) {
        guard let channel = cgrpc_insecure_channel_create("127.0.0.1:1", 0),
            let handle = grpc_channel_register_call(channel, "/tinykv.transport/Wake", nil, nil),
            let call = grpc_channel_create_registered_call(
                channel, nil, cgrpc_propagate_defaults, queue, handle, cgrpc_inf_future(), nil)
        else { fatalError("could not create the poll thread's wake-up call") }
        self.channel = channel
        self.call = call
    }

    func post(_ tag: CompletionTag) {
        let pointer = tag.retainedTag()
        let error = grpc_call_start_batch(call, nil, 0, pointer, nil)
        // Cannot fail for an empty batch on a live call; a lost wake-up would hang the executor.
        precondition(error == GRPC_CALL_OK, "wake-up batch refused (\(error.rawValue))")
    }
}
