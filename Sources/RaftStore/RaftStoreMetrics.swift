import CoreMetrics

/// The raft store's metrics (swift-metrics; `/metrics` renders them when the status port is on).
enum RaftStoreMetrics {
    /// Commands proposed by leaders (writes and admin commands).
    static let proposals = Counter(label: "tinykv_raftstore_proposals_total")
    /// Write commands that joined another command's entry (``ProposalBatch``) instead of their own.
    static let batchedCommands = Counter(label: "tinykv_raftstore_batched_commands_total")
    /// Raft-engine writes (one per poll round with something to persist) and their duration, fsync included.
    static let appendLatency = Timer(label: "tinykv_raftstore_append_duration_seconds")
    /// Log entries persisted.
    static let appendedEntries = Counter(label: "tinykv_raftstore_appended_entries_total")
    /// KV-engine writes of the apply thread (one per apply round) and their duration.
    static let applyLatency = Timer(label: "tinykv_raftstore_apply_duration_seconds")
    /// From a proposal's append to the leader's log until the apply thread takes up its committed
    /// entry: replication, both sides' fsyncs, the commit, and the wait for the apply thread.
    static let commitLogLatency = Timer(label: "tinykv_raftstore_commit_log_duration_seconds")
    /// From a proposal's append to the leader's log until its proposer is answered (applied).
    static let proposalLatency = Timer(label: "tinykv_raftstore_proposal_duration_seconds")
    /// Apply rounds the raft thread ran itself, with nothing else to do, instead of waking the
    /// idle apply thread (``ApplyWorker/applyInline(_:)``).
    static let inlineApplies = Counter(label: "tinykv_raftstore_inline_applies_total")
    /// Committed entries applied.
    static let appliedEntries = Counter(label: "tinykv_raftstore_applied_entries_total")
    /// Times a peer of this store became leader (elections won, transfers received).
    static let becameLeader = Counter(label: "tinykv_raftstore_became_leader_total")
    /// ReadIndex requests sent (one per region per round, for all its pending reads).
    static let readIndexRequests = Counter(label: "tinykv_raftstore_read_index_total")
    /// Reads served from a leader lease, without a ReadIndex round trip.
    static let leaseReads = Counter(label: "tinykv_raftstore_lease_reads_total")
    /// Snapshots applied on this store.
    static let snapshotsApplied = Counter(label: "tinykv_raftstore_snapshots_applied_total")
    /// Peers of this store asleep (hibernating: not ticking), as of the last tick.
    static let hibernatedPeers = Gauge(label: "tinykv_raftstore_hibernated_peers")
}

extension Timer {
    /// Records the time elapsed since `start`.
    func record(since start: ContinuousClock.Instant) {
        record(ContinuousClock.now - start)
    }

    /// Records `elapsed`.
    func record(_ elapsed: Duration) {
        let parts = elapsed.components
        recordNanoseconds(parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000)
    }
}
