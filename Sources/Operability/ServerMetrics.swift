import CoreMetrics
import Foundation
import Prometheus
import Synchronization

/// Process-wide Prometheus metrics: swift-metrics is bootstrapped with a Prometheus factory so
/// every `Counter`/`Timer`/`Gauge` of the code (the transport's RPC metrics included) lands in
/// one registry that `/metrics` renders.
public enum ServerMetrics {
    private static let bootstrapped = Mutex<PrometheusCollectorRegistry?>(nil)

    /// The registry, bootstrapping the metrics system on first use.
    public static var registry: PrometheusCollectorRegistry {
        bootstrapped.withLock { current in
            if let current { return current }
            let registry = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: registry)
            // RPC latencies of an in-memory or RocksDB store: 50µs to 10s.
            factory.defaultDurationHistogramBuckets = [
                .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
                .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                .seconds(1), .seconds(2.5), .seconds(10),
            ]
            MetricsSystem.bootstrap(factory)
            current = registry
            return registry
        }
    }

    /// The Prometheus text exposition of every metric.
    public static func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}

/// Total size in bytes of the files under `path` (0 if it does not exist).
public func directorySize(_ path: String) -> Int64 {
    guard let enumerator = FileManager.default.enumerator(atPath: path) else { return 0 }
    var total: Int64 = 0
    while let name = enumerator.nextObject() as? String {
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path + "/" + name),
           (attributes[.type] as? FileAttributeType) == .typeRegular,
           let size = attributes[.size] as? NSNumber {
            total += size.int64Value
        }
    }
    return total
}
