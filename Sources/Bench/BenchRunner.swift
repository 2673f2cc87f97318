/// What one benchmark operation came to.
public enum OperationOutcome: Sendable {
    /// Done; its latency counts.
    case ok
    /// Not done (a conflict, a region error): it counts as a retry, not in latency.
    case retry
    /// Failed.
    case error
}

/// Runs closed-loop workers: each issues one operation, waits for it, issues the next.
public enum BenchRunner {
    /// Runs `operation` from `concurrency` workers for `warmup` (not recorded) then `duration`.
    /// The operation gets the worker's index.
    public static func run(
        concurrency: Int, warmup: Duration, duration: Duration,
        operation: @escaping @Sendable (_ worker: Int) async -> OperationOutcome
    ) async -> (recorder: LatencyRecorder, seconds: Double) {
        let clock = ContinuousClock()
        let start = clock.now
        let recordFrom = start + warmup
        let end = recordFrom + duration
        let recorder = await withTaskGroup(of: LatencyRecorder.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var recorder = LatencyRecorder()
                    while true {
                        let began = clock.now
                        if began >= end { break }
                        let outcome = await operation(worker)
                        let finished = clock.now
                        guard began >= recordFrom else { continue }
                        switch outcome {
                        case .ok: recorder.record(finished - began)
                        case .retry: recorder.recordRetry()
                        case .error: recorder.recordError()
                        }
                    }
                    return recorder
                }
            }
            var merged = LatencyRecorder()
            for await part in group { merged.merge(part) }
            return merged
        }
        let seconds = Double((clock.now - recordFrom).components.seconds) + Double((clock.now - recordFrom).components.attoseconds) / 1e18
        return (recorder, min(seconds, Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 + 1))
    }
}
