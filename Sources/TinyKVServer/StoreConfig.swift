import RaftStore
import TinyKVConfig

/// Everything `tinykv-server` can be configured with.
///
/// Keys of the `-config` TOML file are the original TinyKV's options in
/// kebab-case; command-line flags override the file.
public struct StoreConfig: Sendable, Equatable {
    /// Where clients and other stores reach this store (`addr`).
    public var storeAddress = "127.0.0.1:20160"
    /// The scheduler's address (`scheduler-addr`).
    public var schedulerAddress = "127.0.0.1:2379"
    /// The data directory (`db-path`).
    public var dataPath = "/tmp/tinykv"
    /// `trace`, `debug`, `info`, `warn`, `error` or `fatal` (`log-level`).
    public var logLevel = "info"
    /// Whether the store replicates through raft and the scheduler (`raft`); false serves one node's engine directly.
    public var raft = false
    /// Whether `raft` was set by the config file (then `-scheduler` does not change the mode).
    public var raftSetInFile = false
    /// The HTTP status and metrics address (`status-addr`); empty turns it off.
    public var statusAddress = ""

    public var raftBaseTickInterval: Duration = .seconds(1)
    public var raftHeartbeatTicks = 2
    public var raftElectionTimeoutTicks = 10
    public var raftLogGCTickInterval: Duration = .seconds(10)
    public var raftLogGCCountLimit: UInt64 = 128_000
    public var raftLogGCSizeLimit: UInt64 = 72 << 20
    public var splitRegionCheckTickInterval: Duration = .seconds(10)
    public var schedulerHeartbeatTickInterval: Duration = .seconds(10)
    public var schedulerStoreHeartbeatTickInterval: Duration = .seconds(10)
    public var regionMaxSize: UInt64 = 144 << 20
    public var regionSplitSize: UInt64 = 96 << 20
    /// Idle regions stop ticking and heartbeating until something happens (`hibernate-regions`, as in TiKV).
    public var hibernateRegions = true
    /// Leaders don't send an append only to spread a new commit index (`raft-skip-broadcast-commit`,
    /// raft-rs's `skip_bcast_commit`); followers learn it from the next append or heartbeat.
    public var raftSkipBroadcastCommit = true
    /// Where raft logs are kept (`raft-engine`): `raft-log` (default) or `rocksdb`.
    public var raftEngine = RaftEngineKind.raftLog
    /// Raft rounds and engine writes at least this long are logged as warnings (`slow-log-threshold`, as
    /// TiKV's `raftstore` slow logs); zero turns them off.
    public var slowLogThreshold: Duration = .milliseconds(200)

    /// The largest gRPC message sent or received (`max-grpc-message-size`); must exceed `raft-entry-max-size`.
    public var maxGrpcMessageSize: UInt64 = 16 << 20
    /// The largest key of a request (`max-key-size`, as TiKV's `storage.max-key-size`).
    public var maxKeySize: UInt64 = 8 << 10
    /// The most bytes of keys and values in one write, and so the largest value (`raft-entry-max-size`).
    public var raftEntryMaxSize: UInt64 = 8 << 20
    /// The most pairs a scan may ask for (`max-scan-limit`); larger limits are refused, not clamped.
    public var maxScanLimit = 10_240
    /// TLS (`[security]`: `ca-path`, `cert-path`, `key-path`).
    public var security = SecurityConfig()

    /// The request limits the services enforce.
    public var requestLimits: RequestLimits {
        RequestLimits(maxKeySize: Int(maxKeySize), maxWriteSize: Int(raftEntryMaxSize), maxScanLimit: maxScanLimit)
    }

    public init() {}

    /// The defaults overridden by the keys of `file`; unknown keys and bad values throw.
    public init(file: ConfigFile) throws {
        self.init()
        if let v = try file.string("addr") ?? file.string("store-addr") { storeAddress = v }
        if let v = try file.string("scheduler-addr") { schedulerAddress = v }
        if let v = try file.string("db-path") ?? file.string("path") { dataPath = v }
        if let v = try file.string("log-level") { logLevel = v }
        if let v = try file.bool("raft") { raft = v; raftSetInFile = true }
        if let v = try file.string("status-addr") { statusAddress = v }
        if let v = try file.duration("raft-base-tick-interval") { raftBaseTickInterval = v }
        if let v = try file.count("raft-heartbeat-ticks") { raftHeartbeatTicks = v }
        if let v = try file.count("raft-election-timeout-ticks") { raftElectionTimeoutTicks = v }
        if let v = try file.duration("raft-log-gc-tick-interval") { raftLogGCTickInterval = v }
        if let v = try file.count("raft-log-gc-count-limit") { raftLogGCCountLimit = UInt64(v) }
        if let v = try file.size("raft-log-gc-size-limit") { raftLogGCSizeLimit = v }
        if let v = try file.duration("split-region-check-tick-interval") { splitRegionCheckTickInterval = v }
        if let v = try file.duration("scheduler-heartbeat-tick-interval") { schedulerHeartbeatTickInterval = v }
        if let v = try file.duration("scheduler-store-heartbeat-tick-interval") { schedulerStoreHeartbeatTickInterval = v }
        if let v = try file.size("region-max-size") { regionMaxSize = v }
        if let v = try file.size("region-split-size") { regionSplitSize = v }
        if let v = try file.bool("hibernate-regions") { hibernateRegions = v }
        if let v = try file.bool("raft-skip-broadcast-commit") { raftSkipBroadcastCommit = v }
        if let v = try file.string("raft-engine") {
            guard let kind = RaftEngineKind(rawValue: v) else {
                throw ConfigError("raft-engine: \"\(v)\" is not one of " + RaftEngineKind.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))
            }
            raftEngine = kind
        }
        if let v = try file.duration("slow-log-threshold") { slowLogThreshold = v }
        if let v = try file.size("max-grpc-message-size") { maxGrpcMessageSize = v }
        if let v = try file.size("max-key-size") { maxKeySize = v }
        if let v = try file.size("raft-entry-max-size") { raftEntryMaxSize = v }
        if let v = try file.count("max-scan-limit") { maxScanLimit = v }
        try security.apply(file)
        try file.rejectUnknownKeys()
        try validate()
    }

    /// The raft store's options.
    public var raftStoreConfig: RaftStoreConfig {
        var config = RaftStoreConfig()
        config.baseTickInterval = raftBaseTickInterval
        config.heartbeatTicks = raftHeartbeatTicks
        config.electionTicks = raftElectionTimeoutTicks
        config.logGCTickInterval = raftLogGCTickInterval
        config.logGCCountLimit = raftLogGCCountLimit
        config.logGCSizeLimit = raftLogGCSizeLimit
        config.splitCheckTickInterval = splitRegionCheckTickInterval
        config.schedulerHeartbeatTickInterval = schedulerHeartbeatTickInterval
        config.storeHeartbeatTickInterval = schedulerStoreHeartbeatTickInterval
        config.regionMaxSize = regionMaxSize
        config.regionSplitSize = regionSplitSize
        config.hibernateRegions = hibernateRegions
        config.skipBroadcastCommit = raftSkipBroadcastCommit
        config.raftEngine = raftEngine
        config.slowLogThreshold = slowLogThreshold
        return config
    }

    /// Throws when values contradict each other.
    public func validate() throws {
        guard raftElectionTimeoutTicks > raftHeartbeatTicks else {
            throw ConfigError("raft-election-timeout-ticks (\(raftElectionTimeoutTicks)) must be greater than raft-heartbeat-ticks (\(raftHeartbeatTicks))")
        }
        guard raftBaseTickInterval > .zero else { throw ConfigError("raft-base-tick-interval must be positive") }
        guard regionSplitSize <= regionMaxSize else {
            throw ConfigError("region-split-size (\(regionSplitSize)) must not exceed region-max-size (\(regionMaxSize))")
        }
        guard maxKeySize > 0, raftEntryMaxSize > maxKeySize else {
            throw ConfigError("raft-entry-max-size (\(raftEntryMaxSize)) must exceed max-key-size (\(maxKeySize)), which must be positive")
        }
        guard maxGrpcMessageSize > raftEntryMaxSize, maxGrpcMessageSize <= UInt64(Int32.max) else {
            throw ConfigError("max-grpc-message-size (\(maxGrpcMessageSize)) must exceed raft-entry-max-size (\(raftEntryMaxSize)) and be below 2GiB")
        }
        try security.validate()
        guard ["trace", "debug", "info", "notice", "warn", "warning", "error", "fatal", "critical"].contains(logLevel.lowercased()) else {
            throw ConfigError("log-level \"\(logLevel)\" is not one of trace, debug, info, warn, error, fatal")
        }
    }
}
