import Logging
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
    /// Says how each operator ended (success at debug level; timeouts, cancels and replacements at info).
    private let logger: Logger

    init(historyLimit: Int = 10_000, transferLeaderStepTimeout: UInt64 = 10_000,
         logger: Logger = Logger(label: "tinyscheduler.operators", factory: { _ in SwiftLogNoOpLogHandler() })) {
        self.historyLimit = max(historyLimit, 1)
        self.transferLeaderStepTimeout = transferLeaderStepTimeout
        self.logger = logger
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
            if let old = s.running[op.regionID] { finish(&s, old, .replace) }
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
                finish(&s, op, .success)
                return nil
            }
            if op.isTimedOut(now: now) || op.isStepTimedOut(now: now, transferLeaderLimit: transferLeaderStepTimeout) {
                finish(&s, op, .timeout)
                return nil
            }
            guard !op.isStale(region) else {
                finish(&s, op, .cancel, reason: "the region changed under it")
                return nil
            }
            // Done but not finished (a new peer catching up): nothing to send, wait.
            if step.hasTakenEffect(region) { return nil }
            guard let command = Operator.command(for: step, region: region) else {
                finish(&s, op, .cancel, reason: "its step no longer fits the region")
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
            for op in expired { finish(&s, op, .timeout) }
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
            for op in doomed { finish(&s, op, .cancel, reason: "its target store is down or gone") }
            return doomed.map(\.regionID)
        }
    }

    /// Drops the operator of a region that disappeared (merged away, overlapped).
    func cancel(regionID: UInt64) {
        state.withLock { s in
            if let op = s.running[regionID] { finish(&s, op, .cancel, reason: "its region is gone") }
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

    private func finish(_ s: inout State, _ op: Operator, _ status: Schedulerpb.OperatorStatus, reason: String? = nil) {
        let metadata: Logger.Metadata = ["region": "\(op.regionID)", "operator": "\(op.desc)", "step": "\(op.currentStep)/\(op.steps.count)"]
        switch status {
        case .success: logger.debug("operator finished", metadata: metadata)
        case .timeout: logger.info("operator timed out", metadata: metadata)
        case .cancel: logger.info("operator cancelled\(reason.map { ": " + $0 } ?? "")", metadata: metadata)
        default: logger.info("operator replaced", metadata: metadata)
        }
        s.running[op.regionID] = nil
        s.finished[op.regionID] = Status(status: status, desc: op.desc, kind: op.kind)
        s.finishOrder.append(op.regionID)
        if s.finishOrder.count > historyLimit * 2 {
            // Compact occasionally: keep the newest `historyLimit` entries.
            let keep = Array(s.finishOrder.suffix(historyLimit))
            let keepSet = Set(keep)
            for id in s.finishOrder.dropLast(historyLimit) where !keepSet.contains(id) { s.finished[id] = nil }
            s.finishOrder = keep
        }
    }
}
