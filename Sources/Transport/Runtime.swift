import CGRPC
#if canImport(Glibc)
import Glibc
#endif

/// Process-wide gRPC core initialisation.
///
/// `grpc_init` is reference counted by the core; we call it exactly once and
/// never call `grpc_shutdown`, because servers, channels and the client
/// completion queues may live until process exit.
public enum GRPCRuntime {
    private static let initialized: Bool = {
        AbseilMutexes.disableDeadlockDetection()
        grpc_init()
        return true
    }()

    /// Makes sure the core is initialised (cheap after the first call).
    static func ensureInitialized() {
        _ = initialized
    }

}

/// Abseil's mutexes, which every lock in the gRPC core is.
///
/// Debian builds Abseil with its debug-mode deadlock detector on: every `absl::Mutex` lock
/// records a lock-ordering graph (`GraphCycles`) under a global lock, a few percent of a
/// store's CPU in profiles. It only reports lock-order inversions inside gRPC, so it is turned
/// off before the core starts, as release builds of Abseil have it. The setter is looked up at
/// run time, so a build of Abseil without it (or with another inline namespace) changes nothing.
enum AbseilMutexes {
    private typealias SetMode = @convention(c) (Int32) -> Void

    /// `absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore)`.
    static func disableDeadlockDetection() {
        let names = [
            "_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE",  // Debian 12
            "_ZN4absl29SetMutexDeadlockDetectionModeENS_15OnDeadlockCycleE",  // no inline namespace
        ]
        for name in names {
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { continue }
            let setMode = unsafeBitCast(symbol, to: SetMode.self)
            setMode(0)  // OnDeadlockCycle::kIgnore
            return
        }
    }
}

/// Defaults shared by servers and channels.
public enum GRPCDefaults {
    /// Max message size for both directions: raft snapshot chunks and big
    /// batches must fit; the core's own receive default (4 MiB) is too small.
    public static let maxMessageBytes = 64 << 20
}

extension Duration {
    /// Nanoseconds, saturating at Int64 bounds.
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflow2) = ns.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return total
    }
}

/// Absolute core deadline for an optional relative timeout.
func makeDeadline(_ timeout: Duration?) -> gpr_timespec {
    guard let timeout else { return cgrpc_inf_future() }
    return cgrpc_deadline_after_ns(timeout.nanosecondsClamped)
}

extension GRPCRuntime {
    /// Ends the process after a completed graceful shutdown, without running C++ static
    /// destructors or atexit handlers.
    ///
    /// A normal `exit` tears down the gRPC core's global state while detached tasks (a
    /// reconnect loop, a heartbeat stream) may still start a call batch on a pool thread,
    /// which aborts in the core (`grpc_cq_begin_op` assertion). Callers have already closed
    /// everything durable (storage engines synced and closed), so nothing is lost by skipping
    /// the destructors; buffered standard output is flushed first.
    public static func exitAfterShutdown(_ code: Int32 = 0) -> Never {
        fflush(nil)  // every open output stream
        _exit(code)
    }
}
