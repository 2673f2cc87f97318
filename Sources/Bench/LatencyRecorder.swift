import Histogram

/// Latencies in microseconds and counts of one worker; merged at the end of a run.
public struct LatencyRecorder: Sendable {
    public private(set) var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    public private(set) var operations: UInt64 = 0
    public private(set) var errors: UInt64 = 0
    public private(set) var retries: UInt64 = 0

    public init() {}

    public mutating func record(_ duration: Duration) {
        let micros = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
        _ = histogram.record(UInt64(max(1, micros)))
        operations += 1
    }

    public mutating func recordError() { errors += 1 }
    public mutating func recordRetry() { retries += 1 }

    public mutating func merge(_ other: LatencyRecorder) {
        histogram.add(other.histogram)
        operations += other.operations
        errors += other.errors
        retries += other.retries
    }
}
