import Synchronization
import TinyKVProto

/// Holds the running operator of each region (at most one), advances it as
/// heartbeats show progress, and remembers how recent operators ended for GetOperator.
final class OperatorController: Sendable {
    /// What GetOperator reports for a region.
    struct Status: Sendable, Equatable {
        var status: Schedulerpb.OperatorStatus
        var desc: String
        var kind: OperatorKind
    }

    private struct State {
        var running: [UInt64: Operator] = [:]
        var finished: [UInt64: Status] = [:]
        /// Finish order, to forget the oldest entries beyond the history limit.
        var finishOrder: [UInt64] = []
    }

    private let state = Mutex(State())
    private let historyLimit: Int
    /// A transfer-leader step not done after this long ends its operator (milliseconds).
    private let transferLeaderStepTimeout: UInt64

    init(historyLimit: Int = 10_000, transferLeaderStepTimeout: UInt64 = 10_000) {
        self.historyLimit = max(historyLimit, 1)
        self.transferLeaderStepTimeout = transferLeaderStepTimeout
    }

    /// Adds an operator unless the region already has one. Returns whether it was added.
    @discardableResult
    func add(_ op: Operator) -> Bool {
        state.withLock { s in
            guard s.running[op.regionID] == nil else { return false }
            s.running[op.regionID] = op
            s.finished[op.regionID] = nil
            return true
        }
    }

    /// Replaces whatever runs for the region (admin requests such as ScatterRegion win over balance).
    func replace(with op: Operator) {
        state.withLock { s in
            if let old = s.running[op.regionID] { Self.finish(&s, old, .replace, limit: historyLimit) }
            s.running[op.regionID] = op
        }
    }

    func hasOperator(for regionID: UInt64) -> Bool { state.withLock { $0.running[regionID] != nil } }
    func operatorFor(_ regionID: UInt64) -> Operator? { state.withLock { $0.running[regionID] } }
    var runningCount: Int { state.withLock { $0.running.count } }
    func count(of kind: OperatorKind) -> Int { state.withLock { $0.running.values.filter { $0.kind == kind }.count } }
    var runningRegionIDs: Set<UInt64> { state.withLock { Set($0.running.keys) } }

    /// A region heartbeat arrived: move the region's operator forward, end it when it
    /// is done, timed out or stale, and return the command to send for its current step.
    func dispatch(_ region: RegionInfo, now: UInt64) -> Schedulerpb.RegionHeartbeatResponse? {
        state.withLock { s in
            guard var op = s.running[region.id] else { return nil }
            let step = op.advance(region, now: now)
            s.running[region.id] = op
            guard let step else {
                Self.finish(&s, op, .success, limit: historyLimit)
                return nil
            }
            if op.isTimedOut(now: now) || op.isStepTimedOut(now: now, transferLeaderLimit: transferLeaderStepTimeout) {
                Self.finish(&s, op, .timeout, limit: historyLimit)
                return nil
            }
            guard !op.isStale(region), let command = Operator.command(for: step, region: region) else {
                Self.finish(&s, op, .cancel, limit: historyLimit)
                return nil
            }
            return command
        }
    }

    /// Drops operators older than their timeout, so a region whose leader stopped
    /// heartbeating does not stay blocked forever. Returns the dropped region ids.
    @discardableResult
    func removeTimedOut(now: UInt64) -> [UInt64] {
        state.withLock { s in
            let expired = s.running.values.filter {
                $0.isTimedOut(now: now) || $0.isStepTimedOut(now: now, transferLeaderLimit: transferLeaderStepTimeout)
            }
            for op in expired { Self.finish(&s, op, .timeout, limit: historyLimit) }
            return expired.map(\.regionID)
        }
    }

    /// Cancels every operator whose remaining steps would move a replica or the leadership
    /// to a store for which `isUnusable` holds (it went down, offline or away after the
    /// operator was made): such a step can never finish, and the region must be free for
    /// the replica checker to repair it. Returns the cancelled region ids.
    @discardableResult
    func cancelTargeting(where isUnusable: (UInt64) -> Bool) -> [UInt64] {
        state.withLock { s in
            let doomed = s.running.values.filter { $0.remainingTargets.contains(where: isUnusable) }
            for op in doomed { Self.finish(&s, op, .cancel, limit: historyLimit) }
            return doomed.map(\.regionID)
        }
    }

    /// Drops the operator of a region that disappeared (merged away, overlapped).
    func cancel(regionID: UInt64) {
        state.withLock { s in
            if let op = s.running[regionID] { Self.finish(&s, op, .cancel, limit: historyLimit) }
        }
    }

    /// The running or last finished operator of a region.
    func status(of regionID: UInt64) -> Status? {
        state.withLock { s in
            if let op = s.running[regionID] { return Status(status: .running, desc: op.desc, kind: op.kind) }
            return s.finished[regionID]
        }
    }

    /// The pending load change per store from every running operator.
    func influence(in snapshot: ClusterSnapshot) -> [UInt64: StoreInfluence] {
        let ops = state.withLock { Array($0.running.values) }
        var sizes: [UInt64: UInt64] = [:]
        for info in snapshot.regions { sizes[info.id] = info.sizeMB }
        var influence: [UInt64: StoreInfluence] = [:]
        for op in ops { op.addInfluence(to: &influence, regionSize: sizes[op.regionID] ?? 1) }
        return influence
    }

    private static func finish(_ s: inout State, _ op: Operator, _ status: Schedulerpb.OperatorStatus, limit: Int) {
        s.running[op.regionID] = nil
        s.finished[op.regionID] = Status(status: status, desc: op.desc, kind: op.kind)
        s.finishOrder.append(op.regionID)
        if s.finishOrder.count > limit * 2 {
            // Compact occasionally: keep the newest `limit` entries.
            let keep = Array(s.finishOrder.suffix(limit))
            let keepSet = Set(keep)
            for id in s.finishOrder.dropLast(limit) where !keepSet.contains(id) { s.finished[id] = nil }
            s.finishOrder = keep
        }
    }
}
