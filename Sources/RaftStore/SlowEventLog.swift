/// Decides when a slow raft round or engine write deserves a warning: when it took longer
/// than a threshold, at most once a second per kind, counting the ones left out in between
/// (a disk stall makes every round slow, and a warning each would flood the log).
///
/// Owned by one thread (the poller's or the apply thread's): not synchronized.
struct SlowEventLog {
    /// Events at least this long are slow; zero turns the warnings off.
    let threshold: Duration
    private var lastWarning: ContinuousClock.Instant?
    private var suppressed = 0

    init(threshold: Duration) {
        self.threshold = threshold
    }

    /// Whether an event that took `took` should be logged now; if so, `warn` gets how many
    /// slow events were left out since the last warning.
    mutating func record(_ took: Duration, now: ContinuousClock.Instant = .now, warn: (_ suppressed: Int) -> Void) {
        guard threshold > .zero, took >= threshold else { return }
        if let last = lastWarning, last.duration(to: now) < .seconds(1) {
            suppressed += 1
            return
        }
        warn(suppressed)
        lastWarning = now
        suppressed = 0
    }
}

extension Duration {
    /// Milliseconds with one decimal, for log lines ("12.5").
    var millisecondsText: String {
        let tenths = (Double(components.seconds) * 1e4 + Double(components.attoseconds) / 1e14).rounded()
        return "\(tenths / 10)"
    }
}
