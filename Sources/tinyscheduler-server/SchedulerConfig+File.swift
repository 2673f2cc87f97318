import Scheduler
import TinyKVConfig

extension SchedulerConfig {
    /// Applies the keys of a `--config` TOML file; unknown keys and bad values throw.
    mutating func apply(_ file: ConfigFile) throws {
        if let v = try file.string("name") { name = v }
        if let v = try file.string("data-dir") { dataDirectory = v }
        if let v = try file.string("client-urls") { clientURLs = v.split(separator: ",").map(String.init) }
        if let v = try file.string("peer-urls") { peerURLs = v.split(separator: ",").map(String.init) }
        if let v = try file.count("max-peer-count") { maxPeerCount = UInt32(v) }
        if let v = try file.duration("tso-save-interval") { tsoSaveIntervalMillis = v.milliseconds }
        if let v = try file.count("id-batch") { idBatch = UInt64(v) }
        if let v = try file.duration("patrol-interval") { patrolIntervalMillis = v.milliseconds }
        if let v = try file.duration("balance-leader-interval") { balanceLeaderIntervalMillis = v.milliseconds }
        if let v = try file.duration("balance-region-interval") { balanceRegionIntervalMillis = v.milliseconds }
        if let v = try file.bool("enable-balance-leader") { enableBalanceLeader = v }
        if let v = try file.bool("enable-balance-region") { enableBalanceRegion = v }
        if let v = try file.bool("enable-replica-checker") { enableReplicaChecker = v }
        if let v = try file.count("leader-schedule-limit") { leaderScheduleLimit = v }
        if let v = try file.count("region-schedule-limit") { regionScheduleLimit = v }
        if let v = try file.count("replica-schedule-limit") { replicaScheduleLimit = v }
        if let v = try file.duration("max-store-down-time") { maxStoreDownTimeMillis = v.milliseconds }
    }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: UInt64 {
        let parts = components
        return UInt64(max(0, parts.seconds)) * 1000 + UInt64(max(0, parts.attoseconds) / 1_000_000_000_000_000)
    }
}
