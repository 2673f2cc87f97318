import CoreMetrics

/// Counts for the status port: what the scheduler knows right now.
public struct SchedulerStatistics: Sendable, Equatable {
    public var bootstrapped: Bool
    public var stores: Int
    public var regions: Int
    /// Regions with a leader, by the leader's store id.
    public var leadersByStore: [UInt64: Int]
    public var runningOperators: Int
}

extension SchedulerServer {
    /// A consistent-enough snapshot of the cluster's size (each count under its own lock).
    public var statistics: SchedulerStatistics {
        let (regions, leaders) = cluster.regionAndLeaderCounts()
        return SchedulerStatistics(
            bootstrapped: isBootstrappedNow, stores: cluster.stores.count, regions: regions,
            leadersByStore: leaders, runningOperators: operators.runningCount)
    }
}

extension BasicCluster {
    func regionAndLeaderCounts() -> (Int, [UInt64: Int]) {
        let regions = scanRegions(from: [], to: [], limit: Int.max)
        var leaders: [UInt64: Int] = [:]
        for region in regions {
            if let store = region.leaderStoreID { leaders[store, default: 0] += 1 }
        }
        return (regions.count, leaders)
    }
}

/// Scheduler counters through swift-metrics (no-ops until a backend is bootstrapped).
enum SchedulerMetrics {
    static let operatorsCreated = Counter(label: "tinyscheduler_operators_created_total")
}
