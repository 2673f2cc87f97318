import Foundation
import Storage
import TinyKVProto

/// Called once with nil when a proposed write was applied, or with the region error.
typealias WriteCallback = @Sendable (Errorpb.Error?) -> Void
/// Called once with a reader (a snapshot of the region, linearizable) or a region error.
typealias ReadCallback = @Sendable (Result<any KVReader, RegionError>) -> Void

/// A command accepted by Raft, waiting for its entry to be applied.
/// It succeeds only if the entry at `index` was appended in the same `term`.
struct Proposal: Sendable {
    var index: UInt64
    var term: UInt64
    /// Hears the command's responses (Get values, Snap regions) just before `callback(nil)`.
    var respond: (@Sendable ([RaftCmdpb.Response]) -> Void)? = nil
    var callback: WriteCallback
    /// Lease clock time before the entry was sent: its commit renews the leader lease from here.
    var proposedAt: Duration = .zero
    /// When the command was appended to the leader's log (for the write latency metrics).
    var appendedAt = ContinuousClock.now
}

/// Called once with the response to a command proposed through the log (its header carries any error).
typealias CommandCallback = @Sendable (RaftCmdpb.RaftCmdResponse) -> Void

/// Work for the raft poller thread.
enum PollerMessage: Sendable {
    case raftMessage(RaftServerpb.RaftMessage)
    case propose(RaftCmdpb.RaftCmdRequest, WriteCallback)
    /// A command whose responses the caller wants (Get and Snap read at apply time).
    case command(RaftCmdpb.RaftCmdRequest, CommandCallback)
    /// The background generation of a region's snapshot finished.
    case snapshotGenerated(regionID: UInt64, Result<Eraftpb.Snapshot, any Error>)
    case read(Kvrpcpb.Context, ReadCallback)
    case applied([ApplyResult])
    case snapshotStatus(regionID: UInt64, peerID: UInt64, success: Bool)
    case unreachable(regionID: UInt64, peerID: UInt64)
    case schedulerCommand(Schedulerpb.RegionHeartbeatResponse)
    /// Runs on the poller thread (inspection by tests and status reports).
    case inspect(@Sendable (RaftPoller) -> Void)
    /// Split the region at `key` (manual split); the callback hears when it is applied.
    case split(regionID: UInt64, key: [UInt8], WriteCallback)
    /// The split checker measured a region (in the background).
    case splitChecked(regionID: UInt64, version: UInt64, size: UInt64?, splitKey: [UInt8]?)
    /// The scheduler gave ids for a split: propose it.
    case proposeSplit(regionID: UInt64, epoch: Metapb.RegionEpoch, key: [UInt8], ids: Schedulerpb.AskSplitResponse, WriteCallback)
    /// The scheduler's view of a region whose local peer `peerID` was in another's way.
    case regionLookedUp(peerID: UInt64, Metapb.Region)
}

/// What the apply worker reports back for one region after a round.
struct ApplyResult: Sendable {
    var regionID: UInt64
    var appliedIndex: UInt64
    /// The region after a membership change applied in this round.
    var region: Metapb.Region?
    /// Membership changes to apply to the Raft node, in order (nodeId 0: rejected change).
    var confChanges: [Eraftpb.ConfChange] = []
    /// The log may be truncated up to here.
    var truncatedState: RaftServerpb.RaftTruncatedState?
    /// This store's peer was removed from the region: destroy it.
    var removedSelf = false
    /// Splits applied in this round, in order.
    var splits: [SplitResult] = []
    /// Bytes written by data commands (for the split checker).
    var sizeDiff: UInt64 = 0
}

/// One applied split: the region's new range and the region split off it.
struct SplitResult: Sendable {
    var derived: Metapb.Region
    var new: Metapb.Region
    /// Whether the new region's state was written (false: this store already had it).
    var created: Bool
}

/// Work for the apply thread.
enum ApplyTask: @unchecked Sendable {
    /// Committed entries of one region, with the proposals whose index they cover.
    case apply(regionID: UInt64, peerID: UInt64, entries: [Eraftpb.Entry], proposals: [Proposal])
    /// Installs a received snapshot from its files (``SnapshotApplier``) and signals `done`.
    case installSnapshot(RaftServerpb.RaftSnapshotData, key: SnapshotKey, oldRegion: Metapb.Region?, files: SnapshotManager, done: Completion)
    /// Deletes a destroyed peer's data and apply state, keeping a tombstone region state.
    case destroy(region: Metapb.Region, done: Completion)
}

/// A one-shot completion the poller thread may block on (apply-side work it must order after).
final class Completion: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private var error: (any Error)?

    func finish(_ error: (any Error)? = nil) {
        self.error = error
        semaphore.signal()
    }

    /// Blocks the calling (non-cooperative) thread until `finish`.
    func wait() throws {
        semaphore.wait()
        if let error { throw error }
    }
}

/// Errors the services see, built the way TinyKV builds them.
enum RegionErrors {
    static func notLeader(_ regionID: UInt64, leader: Metapb.Peer?) -> Errorpb.Error {
        Errorpb.Error(message: "peer is not leader for region \(regionID)",
                      notLeader: Errorpb.NotLeader(regionId: regionID, leader: leader))
    }

    static func regionNotFound(_ regionID: UInt64) -> Errorpb.Error {
        Errorpb.Error(message: "region \(regionID) not found", regionNotFound: Errorpb.RegionNotFound(regionId: regionID))
    }

    static func staleCommand() -> Errorpb.Error {
        Errorpb.Error(message: "stale command", staleCommand: Errorpb.StaleCommand())
    }

    static func epochNotMatch(_ region: Metapb.Region, message: String = "epoch not match") -> Errorpb.Error {
        Errorpb.Error(message: message, epochNotMatch: Errorpb.EpochNotMatch(currentRegions: [region]))
    }

    static func storeNotMatch(requested: UInt64, actual: UInt64) -> Errorpb.Error {
        Errorpb.Error(message: "store not match", storeNotMatch: Errorpb.StoreNotMatch(requestStoreId: requested, actualStoreId: actual))
    }

    /// Whether a request with `epoch` may run on `region`: the version must match for data
    /// commands (key ranges change with splits), both must match for admin commands.
    static func checkEpoch(_ epoch: Metapb.RegionEpoch?, region: Metapb.Region, admin: Bool) -> Errorpb.Error? {
        guard let epoch else { return nil }  // clients without an epoch (tools) are not checked
        let current = region.regionEpoch ?? Metapb.RegionEpoch()
        if epoch.version != current.version || (admin && epoch.confVer != current.confVer) {
            return epochNotMatch(region, message: "epoch not match: request \(epoch.confVer)/\(epoch.version), region \(current.confVer)/\(current.version)")
        }
        return nil
    }
}
