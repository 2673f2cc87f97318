import TinyKVProto

/// One step of an operator, in TinyKV's vocabulary: each becomes one heartbeat command.
enum OperatorStep: Sendable, Hashable, CustomStringConvertible {
    /// Move the leadership from one store to another.
    case transferLeader(fromStore: UInt64, toStore: UInt64)
    /// Add a (voter) peer with a freshly allocated id.
    case addPeer(toStore: UInt64, peerID: UInt64)
    /// Remove the region's peer on a store.
    case removePeer(fromStore: UInt64)

    /// Whether the region already reflects this step.
    func isFinished(_ region: RegionInfo) -> Bool {
        switch self {
        case .transferLeader(_, let to):
            return region.leaderStoreID == to
        case .addPeer(let to, let peerID):
            // A new peer counts once it has caught up (no longer pending), as in PD.
            guard let peer = region.peer(onStore: to), peer.id == peerID else { return false }
            return !region.isPending(peerID)
        case .removePeer(let from):
            return !region.hasPeer(onStore: from)
        }
    }

    /// Whether the region already shows the step's membership change, finished or not: a new
    /// peer is there but still catching up. PD counts such a step's conf_ver bump too.
    func hasTakenEffect(_ region: RegionInfo) -> Bool {
        switch self {
        case .transferLeader: return isFinished(region)
        case .addPeer(let to, let peerID): return region.peer(onStore: to)?.id == peerID
        case .removePeer(let from): return !region.hasPeer(onStore: from)
        }
    }

    /// Whether the step changes the membership (bumps conf_ver when done).
    var isConfChange: Bool {
        if case .transferLeader = self { return false }
        return true
    }

    var description: String {
        switch self {
        case .transferLeader(let from, let to): return "transfer leader from store \(from) to store \(to)"
        case .addPeer(let to, let id): return "add peer \(id) on store \(to)"
        case .removePeer(let from): return "remove peer on store \(from)"
        }
    }
}

/// What produced an operator; GetOperator reports it as `kind`.
enum OperatorKind: String, Sendable {
    case leader, region, replica, admin
}

/// A sequence of steps that moves one region toward a better placement.
struct Operator: Sendable {
    let regionID: UInt64
    /// The epoch when the operator was made; later unexpected changes make it stale.
    let regionEpoch: Metapb.RegionEpoch
    let kind: OperatorKind
    let desc: String
    let steps: [OperatorStep]
    let createdAt: UInt64
    let timeout: UInt64
    /// Index of the first unfinished step.
    private(set) var currentStep = 0
    /// When the current step began (the creation time for the first step); nil until the
    /// operator is first advanced with a time.
    private(set) var stepStartedAt: UInt64?

    init(region: RegionInfo, kind: OperatorKind, desc: String, steps: [OperatorStep], createdAt: UInt64, timeout: UInt64) {
        regionID = region.id
        regionEpoch = region.epoch
        self.kind = kind
        self.desc = desc
        self.steps = steps
        self.createdAt = createdAt
        self.timeout = timeout
    }

    var isFinished: Bool { currentStep >= steps.count }
    func isTimedOut(now: UInt64) -> Bool { now > createdAt && now - createdAt > timeout }

    /// Advances past every step the region already shows as done; returns the step to send next, if any.
    mutating func advance(_ region: RegionInfo, now: UInt64? = nil) -> OperatorStep? {
        let before = currentStep
        while currentStep < steps.count, steps[currentStep].isFinished(region) { currentStep += 1 }
        if let now, stepStartedAt == nil || currentStep != before { stepStartedAt = currentStep == 0 ? createdAt : now }
        return remainingSteps.first
    }

    /// Whether the current step is a leader transfer that has not happened within `limit`
    /// milliseconds: its target is not taking over (dead but not yet down, or lagging), and
    /// waiting for the whole operator's timeout would block the region for minutes (PD also
    /// times out each transfer-leader step on its own).
    func isStepTimedOut(now: UInt64, transferLeaderLimit limit: UInt64) -> Bool {
        guard case .transferLeader = remainingSteps.first, let started = stepStartedAt else { return false }
        return now > started && now - started > limit
    }

    /// The stores the remaining steps move a replica or the leadership to.
    var remainingTargets: [UInt64] {
        remainingSteps.compactMap { step in
            switch step {
            case .transferLeader(_, let to): return to
            case .addPeer(let to, _): return to
            case .removePeer: return nil
            }
        }
    }

    /// Whether a remaining step removes the region's replica on `store`.
    func willRemovePeer(onStore store: UInt64) -> Bool {
        remainingSteps.contains { step in
            if case .removePeer(let from) = step { return from == store }
            return false
        }
    }

    /// The region changed in a way this operator did not cause: split/merge (version),
    /// or more membership changes than its finished steps explain (PD's CheckStale).
    func isStale(_ region: RegionInfo) -> Bool {
        let latest = region.epoch
        var expectedConfChanges = UInt64(steps[..<currentStep].filter(\.isConfChange).count)
        // The current step's change may be there already (its new peer still catching up).
        if let step = remainingSteps.first, step.isConfChange, step.hasTakenEffect(region) { expectedConfChanges += 1 }
        return latest.version > regionEpoch.version || latest.confVer > regionEpoch.confVer + expectedConfChanges
    }

    /// The unfinished steps, the current one first.
    var remainingSteps: ArraySlice<OperatorStep> { steps[min(currentStep, steps.count)...] }

    /// The remaining steps' effect on store loads, so schedulers count in-flight work.
    func addInfluence(to influence: inout [UInt64: StoreInfluence], regionSize: UInt64) {
        for step in remainingSteps {
            switch step {
            case .transferLeader(let from, let to):
                influence[from, default: .init()].leaders -= 1
                influence[to, default: .init()].leaders += 1
            case .addPeer(let to, _):
                influence[to, default: .init()].regions += 1
                influence[to, default: .init()].size += Int64(regionSize)
            case .removePeer(let from):
                influence[from, default: .init()].regions -= 1
                influence[from, default: .init()].size -= Int64(regionSize)
            }
        }
    }

    /// The heartbeat response carrying `step` for `region`, or nil when the step cannot be expressed
    /// (e.g. the peer to remove or the leader target is not in the region).
    static func command(for step: OperatorStep, region: RegionInfo) -> Schedulerpb.RegionHeartbeatResponse? {
        var response = Schedulerpb.RegionHeartbeatResponse(
            regionId: region.id, regionEpoch: region.epoch, targetPeer: region.leader)
        switch step {
        case .transferLeader(_, let to):
            guard let peer = region.peer(onStore: to) else { return nil }
            response.transferLeader = Schedulerpb.TransferLeader(peer: peer)
        case .addPeer(let to, let peerID):
            response.changePeer = Schedulerpb.ChangePeer(peer: Metapb.Peer(id: peerID, storeId: to), changeType: .addNode)
        case .removePeer(let from):
            guard let peer = region.peer(onStore: from) else { return nil }
            response.changePeer = Schedulerpb.ChangePeer(peer: peer, changeType: .removeNode)
        }
        return response
    }
}

/// The pending change in a store's load from operators still running.
struct StoreInfluence: Sendable, Hashable {
    var leaders: Int = 0
    var regions: Int = 0
    var size: Int64 = 0
}
