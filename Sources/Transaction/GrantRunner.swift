#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs latch grants one after another on the current thread instead of nested inside each other.
///
/// A granted command may complete synchronously (nothing to write, a routing error), release its
/// latches and grant the next waiter, whose command may do the same: on a hot key with a long queue
/// that would nest one stack frame chain per waiter. Instead, a grant made while this thread is
/// already running grants is queued and runs when the current one returns, so the stack stays
/// shallow however long the chain. The queue is per thread (a pthread key), so no lock is needed
/// and grants stay on the releasing thread.
enum GrantRunner {
    /// Runs `work` now, or after the grant this thread is running.
    static func run(_ work: @escaping () -> Void) {
        let queue = Queue.current
        if queue.draining {
            queue.pending.append(work)
            return
        }
        queue.draining = true
        work()
        while !queue.pending.isEmpty {
            let batch = queue.pending
            queue.pending = []
            for next in batch { next() }
        }
        queue.draining = false
    }

    /// One thread's grants waiting to run; only that thread touches it.
    private final class Queue {
        var pending: [() -> Void] = []
        var draining = false

        static var current: Queue {
            if let pointer = pthread_getspecific(key) {
                return Unmanaged<Queue>.fromOpaque(pointer).takeUnretainedValue()
            }
            let queue = Queue()
            pthread_setspecific(key, Unmanaged.passRetained(queue).toOpaque())
            return queue
        }

        /// The thread-local slot; a thread's queue is freed when the thread exits.
        private static let key: pthread_key_t = {
            var key = pthread_key_t()
            #if canImport(Glibc)
            let status = pthread_key_create(&key) { pointer in
                if let pointer { Unmanaged<Queue>.fromOpaque(pointer).release() }
            }
            #else
            let status = pthread_key_create(&key) { pointer in Unmanaged<Queue>.fromOpaque(pointer).release() }
            #endif
            precondition(status == 0, "pthread_key_create failed: \(status)")
            return key
        }()
    }
}
