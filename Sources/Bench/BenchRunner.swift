import Transport

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
    /// Workers prefer `executor` (nil: the global pool).
    /// With `progress`, a progress bar on standard error shows the run's phase and completed operations.
    public static func run(
        concurrency: Int, warmup: Duration, duration: Duration, progress: Bool = false,
        executor: (any TaskExecutor)? = PollThreadExecutor.shared,
        operation: @escaping @Sendable (_ worker: Int) async -> OperationOutcome
    ) async -> (recorder: LatencyRecorder, seconds: Double) {
        let clock = ContinuousClock()
        let start = clock.now
        let recordFrom = start + warmup
        let end = recordFrom + duration
        let completed = OperationCounter()
        let bar = progress ? Task {
            while !Task.isCancelled && clock.now < end {
                ProgressBar.draw(elapsed: clock.now - start, total: warmup + duration, warmup: warmup, operations: completed.value)
                try? await Task.sleep(for: .milliseconds(250))
            }
            ProgressBar.finish()
        } : nil
        defer { bar?.cancel() }
        let recorder = await withTaskGroup(of: LatencyRecorder.self) { group in
            for worker in 0..<concurrency {
                // On the transport's poll thread: a call's completion resumes its worker there,
                // without waking a pool thread (as a C++ client on its completion queue does).
                group.addTask(executorPreference: executor) {
                    var recorder = LatencyRecorder()
                    while true {
                        let began = clock.now
                        if began >= end { break }
                        let outcome = await operation(worker)
                        let finished = clock.now
                        completed.increment()
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
        bar?.cancel()
        await bar?.value
        let seconds = Double((clock.now - recordFrom).components.seconds) + Double((clock.now - recordFrom).components.attoseconds) / 1e18
        return (recorder, min(seconds, Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 + 1))
    }
}
