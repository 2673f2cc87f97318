import Transport

/// The raft store's options (the `raft-*`, `scheduler-*` and region options of TinyKV's config).
public struct RaftStoreConfig: Sendable, Equatable {
    /// One Raft tick; elections and heartbeats are counted in ticks.
    public var baseTickInterval: Duration = .seconds(1)
    public var heartbeatTicks = 2
    public var electionTicks = 10
    /// How often leaders consider truncating their log.
    public var logGCTickInterval: Duration = .seconds(10)
    /// Truncate once this many applied entries are in the log.
    public var logGCCountLimit: UInt64 = 128_000
    /// Truncate once the log's entries hold about this many bytes (TiKV's `raft-log-gc-size-limit`).
    public var logGCSizeLimit: UInt64 = 72 << 20
    public var splitCheckTickInterval: Duration = .seconds(10)
    /// How often leaders report their regions to the scheduler.
    public var schedulerHeartbeatTickInterval: Duration = .seconds(10)
    /// How often the store reports its stats to the scheduler.
    public var storeHeartbeatTickInterval: Duration = .seconds(10)
    public var regionMaxSize: UInt64 = 144 << 20
    public var regionSplitSize: UInt64 = 96 << 20
    /// Idle regions stop ticking and heartbeating until something happens (``Hibernation``).
    public var hibernateRegions = true
    /// Followers learn a new commit index from the next append or heartbeat instead of an
    /// append sent for it alone (``RaftConfig/skipBroadcastCommit``).
    public var skipBroadcastCommit = true
    /// Serve linearizable reads on the leader from its lease (no ReadIndex round trip) while valid.
    public var leaderLease = true
    /// Where raft logs and raft states are kept.
    public var raftEngine = RaftEngineKind.raftLog
    /// Raft rounds and engine writes at least this long are logged as warnings (at most one a
    /// second per kind); zero: never.
    public var slowLogThreshold: Duration = .milliseconds(200)
    /// TLS for this store's connections to the scheduler and to other stores (nil: plaintext).
    public var tls: TLSConfig?

    public init() {}

    /// How long a leader lease lasts after the messages that earned it were sent: the
    /// followers' shortest election timeout is `electionTicks` ticks, and at least
    /// `electionTicks - 1` full ticks pass after they reset it (the first tick may come at
    /// once); one more tick is left as a margin for clock drift and scheduling. Zero: off.
    var leaderLeaseDuration: Duration {
        guard leaderLease, electionTicks > 2 else { return .zero }
        return baseTickInterval * (electionTicks - 2)
    }

    /// How many base ticks make `interval` (at least 1).
    func ticks(_ interval: Duration) -> Int {
        max(1, Int((interval / baseTickInterval).rounded()))
    }
}

/// The engines a store can keep its raft logs in.
public enum RaftEngineKind: String, Sendable, Equatable, CaseIterable {
    /// ``RaftLogEngine`` in `<path>/raftlog`: an in-memory map over a log of preallocated segments.
    case raftLog = "raft-log"
    /// RocksDB in `<path>/raft`, as before (and as TinyKV).
    case rocksdb
}
