/// Everything the scheduler server needs to start. The integrator fills it from
/// the command line and the optional TOML file; every field has PD/TinyKV-like defaults.
public struct SchedulerConfig: Sendable {
    /// The member name reported by GetMembers (`--name`).
    public var name: String
    /// The URLs clients reach this server at (`--client-urls`), reported by GetMembers.
    public var clientURLs: [String]
    /// The peer URLs reported by GetMembers; a single-member scheduler has no peers, so this may stay empty.
    public var peerURLs: [String]
    /// Where the metadata database lives (`--data-dir`); created when missing.
    public var dataDirectory: String

    /// Replicas per region for a freshly bootstrapped cluster (PutClusterConfig changes it later).
    public var maxPeerCount: UInt32

    /// How far ahead of the clock the TSO window is persisted, in milliseconds. A restart
    /// resumes above the persisted bound, so one fsync covers this much time.
    public var tsoSaveIntervalMillis: UInt64
    /// IDs reserved (and persisted) per fsync by the ID allocator.
    public var idBatch: UInt64

    /// How often the replica checker patrols all regions, in milliseconds.
    public var patrolIntervalMillis: UInt64
    /// How often balance-leader runs, in milliseconds.
    public var balanceLeaderIntervalMillis: UInt64
    /// How often balance-region runs, in milliseconds.
    public var balanceRegionIntervalMillis: UInt64
    /// Whether balance-leader runs at all.
    public var enableBalanceLeader: Bool
    /// Whether balance-region runs at all.
    public var enableBalanceRegion: Bool
    /// Whether the replica checker runs at all.
    public var enableReplicaChecker: Bool

    /// In-flight leader-transfer operators allowed at once (PD `leader-schedule-limit`).
    public var leaderScheduleLimit: Int
    /// In-flight region-move operators allowed at once (PD `region-schedule-limit`).
    public var regionScheduleLimit: Int
    /// In-flight replica-repair operators allowed at once (PD `replica-schedule-limit`).
    public var replicaScheduleLimit: Int

    /// Balance-leader leaves stores alone while their leader counts differ by no more
    /// than this fraction of the mean (the move itself also needs a difference of 2 so it never overshoots).
    public var leaderBalanceTolerance: Double
    /// Balance-region leaves stores alone while their region sizes differ by no more
    /// than this fraction of the mean (a move also needs a difference of twice the region's size).
    public var regionBalanceTolerance: Double

    /// A store without a heartbeat for this long counts as down: no new replicas go
    /// there and the replica checker replaces its peers (milliseconds, PD default 30 min).
    public var maxStoreDownTimeMillis: UInt64
    /// A leader-transfer operator not finished after this long is dropped (milliseconds).
    public var leaderOperatorTimeoutMillis: UInt64
    /// Any other operator not finished after this long is dropped (milliseconds, PD default 10 min).
    public var operatorTimeoutMillis: UInt64
    /// How many finished operators GetOperator remembers.
    public var operatorHistoryLimit: Int

    public init(
        name: String = "tinyscheduler",
        clientURLs: [String] = ["http://127.0.0.1:2379"],
        peerURLs: [String] = [],
        dataDirectory: String,
        maxPeerCount: UInt32 = 3,
        tsoSaveIntervalMillis: UInt64 = 3_000,
        idBatch: UInt64 = 1_000,
        patrolIntervalMillis: UInt64 = 100,
        balanceLeaderIntervalMillis: UInt64 = 200,
        balanceRegionIntervalMillis: UInt64 = 200,
        enableBalanceLeader: Bool = true,
        enableBalanceRegion: Bool = true,
        enableReplicaChecker: Bool = true,
        leaderScheduleLimit: Int = 4,
        regionScheduleLimit: Int = 8,
        replicaScheduleLimit: Int = 64,
        leaderBalanceTolerance: Double = 0.05,
        regionBalanceTolerance: Double = 0.05,
        maxStoreDownTimeMillis: UInt64 = 30 * 60 * 1_000,
        leaderOperatorTimeoutMillis: UInt64 = 10_000,
        operatorTimeoutMillis: UInt64 = 10 * 60 * 1_000,
        operatorHistoryLimit: Int = 10_000
    ) {
        self.name = name
        self.clientURLs = clientURLs
        self.peerURLs = peerURLs
        self.dataDirectory = dataDirectory
        self.maxPeerCount = maxPeerCount
        self.tsoSaveIntervalMillis = tsoSaveIntervalMillis
        self.idBatch = idBatch
        self.patrolIntervalMillis = patrolIntervalMillis
        self.balanceLeaderIntervalMillis = balanceLeaderIntervalMillis
        self.balanceRegionIntervalMillis = balanceRegionIntervalMillis
        self.enableBalanceLeader = enableBalanceLeader
        self.enableBalanceRegion = enableBalanceRegion
        self.enableReplicaChecker = enableReplicaChecker
        self.leaderScheduleLimit = leaderScheduleLimit
        self.regionScheduleLimit = regionScheduleLimit
        self.replicaScheduleLimit = replicaScheduleLimit
        self.leaderBalanceTolerance = leaderBalanceTolerance
        self.regionBalanceTolerance = regionBalanceTolerance
        self.maxStoreDownTimeMillis = maxStoreDownTimeMillis
        self.leaderOperatorTimeoutMillis = leaderOperatorTimeoutMillis
        self.operatorTimeoutMillis = operatorTimeoutMillis
        self.operatorHistoryLimit = operatorHistoryLimit
    }
}
