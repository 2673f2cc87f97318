import Logging
import Metrics
import Operability
import Synchronization

/// What a store's status port reports that changes while the store runs.
final class StatusFacts: Sendable {
    /// Region and leader counts, refreshed in the background in raft mode.
    let counts: Mutex<(regions: Int, leaders: Int)>
    /// "standalone", "joining" (a raft store before it has joined), "raft (store N)".
    let mode: Mutex<String>

    init(mode: String, counts: (regions: Int, leaders: Int)) {
        self.mode = Mutex(mode)
        self.counts = Mutex(counts)
    }
}

/// A store's reflection and health services and, when configured, its status port (`/metrics`:
/// storage size, region and leader counts, RPC metrics; `/status`), bound and serving from the
/// start, before the store opens its engines or joins the cluster.
struct StatusPort {
    let operability = ServerOperability(role: "store", services: ["tinykvpb.TinyKv"])
    let facts: StatusFacts

    /// - Parameter counts: the region and leader counts to report until the first refresh (a
    ///   standalone store is one region it leads; a joining raft store has none yet).
    init(config: StoreConfig, logger: Logger, mode: String, counts: (regions: Int, leaders: Int)) throws {
        facts = StatusFacts(mode: mode, counts: counts)
        guard !config.statusAddress.isEmpty else { return }
        let sizeGauge = Gauge(label: "tinykv_store_size_bytes")
        let regionGauge = Gauge(label: "tinykv_region_count")
        let leaderGauge = Gauge(label: "tinykv_leader_count")
        let dataPath = config.dataPath
        let scheduler = config.schedulerAddress
        let facts = facts
        let port = try operability.startStatusServer(
            address: config.statusAddress, grpcAddress: config.storeAddress,
            refresh: {
                sizeGauge.record(directorySize(dataPath))
                let (regions, leaders) = facts.counts.withLock { $0 }
                regionGauge.record(regions)
                leaderGauge.record(leaders)
            },
            details: {
                let (regions, leaders) = facts.counts.withLock { $0 }
                return ["mode": facts.mode.withLock { $0 }, "data_path": dataPath, "scheduler": scheduler,
                        "regions": regions, "leaders": leaders]
            })
        logger.info("status server listening", metadata: ["status-addr": "\(config.statusAddress)", "port": "\(port)"])
    }
}
