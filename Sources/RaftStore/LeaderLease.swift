import Foundation

/// The monotonic clock leader leases are measured with; injectable so tests can move time.
public struct LeaseClock: Sendable {
    /// Time since an arbitrary fixed origin; never goes backwards.
    public let now: @Sendable () -> Duration

    public init(now: @escaping @Sendable () -> Duration) { self.now = now }

    private static let origin = ContinuousClock.now

    /// The process's monotonic clock.
    public static let system = LeaseClock { origin.duration(to: ContinuousClock.now) }
}

/// A leader's lease (TiKV's leader lease, etcd's `ReadOnlyLeaseBased`): after a quorum
/// acknowledged messages this leader sent at time `t`, no other leader can be elected before
/// `t + duration`, because those followers ignore vote requests for an election timeout
/// after hearing from a leader (CheckQuorum). Until then reads may be served from the local
/// state machine, without a ReadIndex round trip.
///
/// `duration` is shorter than the followers' shortest election timeout (see `RaftPoller`):
/// followers count that timeout in ticks, which are never shorter than the base tick.
struct LeaderLease {
    let duration: Duration
    /// The lease holds while `now < expiry`; nil: no lease.
    private(set) var expiry: Duration?
    /// Rounds started before this time can't renew the lease (leadership changed or a
    /// transfer was under way, so a MsgTimeoutNow may be in flight).
    private var floor: Duration = .zero

    init(duration: Duration) { self.duration = duration }

    var isEnabled: Bool { duration > .zero }

    /// A quorum acknowledged messages sent at or after `startedAt`.
    mutating func renew(startedAt: Duration) {
        guard isEnabled, startedAt >= floor else { return }
        let candidate = startedAt + duration
        if expiry.map({ candidate > $0 }) ?? true { expiry = candidate }
    }

    /// Drops the lease; nothing started before `now` renews it.
    mutating func expire(at now: Duration) {
        expiry = nil
        floor = max(floor, now)
    }

    func isValid(at now: Duration) -> Bool { expiry.map { now < $0 } ?? false }

    /// Whether the lease should be renewed now (valid for less than half its duration).
    func needsRenewal(at now: Duration) -> Bool {
        guard isEnabled else { return false }
        guard let expiry else { return true }
        return expiry - now < duration / 2
    }
}
