import Foundation

/// What one benchmark run measured.
public struct BenchReport: Sendable, Codable {
    public var workload: String
    public var concurrency: Int
    public var seconds: Double
    public var operations: UInt64
    /// Items per operation (timestamps per TSO request, keys per transaction...).
    public var itemsPerOperation: Int
    public var errors: UInt64
    public var retries: UInt64
    public var opsPerSecond: Double
    public var p50Ms: Double
    public var p90Ms: Double
    public var p99Ms: Double
    public var p999Ms: Double
    public var maxMs: Double

    public init(workload: String, concurrency: Int, seconds: Double, itemsPerOperation: Int, recorder: LatencyRecorder) {
        self.workload = workload
        self.concurrency = concurrency
        self.seconds = seconds
        self.itemsPerOperation = itemsPerOperation
        operations = recorder.operations
        errors = recorder.errors
        retries = recorder.retries
        opsPerSecond = seconds > 0 ? Double(recorder.operations) / seconds : 0
        let h = recorder.histogram
        func ms(_ percentile: Double) -> Double { h.totalCount == 0 ? 0 : Double(h.valueAtPercentile(percentile)) / 1000 }
        p50Ms = ms(50)
        p90Ms = ms(90)
        p99Ms = ms(99)
        p999Ms = ms(99.9)
        maxMs = h.totalCount == 0 ? 0 : Double(h.max) / 1000
    }

    /// One human-readable line.
    public var line: String {
        var text = workload.padding(toLength: 10, withPad: " ", startingAt: 0) + String(format: " conc=%-4d ops/s=%10.0f", concurrency, opsPerSecond)
        if itemsPerOperation > 1 { text += String(format: " items/s=%11.0f", opsPerSecond * Double(itemsPerOperation)) }
        text += String(format: "  p50=%.3fms p90=%.3fms p99=%.3fms p99.9=%.3fms max=%.3fms  ops=%llu errors=%llu retries=%llu",
                       p50Ms, p90Ms, p99Ms, p999Ms, maxMs, operations, errors, retries)
        return text
    }

    /// The report as one JSON object.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}
