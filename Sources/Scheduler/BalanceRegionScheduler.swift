/// Moves replicas from the fullest stores (by region size, which counts every region
/// as at least 1 MB so counts matter too) to the emptiest: add a peer on the target,
/// hand over leadership if the source peer leads, then remove the source peer.
///
/// A move needs the stores to differ by at least twice the region's size (so it
/// cannot invert them) and by more than `regionTolerance` of the mean: hysteresis
/// that lets the cluster settle. Never places two replicas of a region on one store
/// and never targets down, offline, tombstone or busy stores.
struct BalanceRegionScheduler: Sendable {
    let context: ScheduleContext

    func schedule(_ snapshot: ClusterSnapshot, loads: inout StoreLoads, busy: Set<UInt64>, limit: Int) throws -> [Operator] {
        let targets = snapshot.schedulableStores
        guard targets.count > 1 else { return [] }
        var busy = busy
        var ops: [Operator] = []
        while ops.count < limit, let op = try next(snapshot, targets: targets, loads: loads, busy: busy) {
            loads.apply(op, regionSize: snapshot.regions.first { $0.id == op.regionID }?.sizeMB ?? 1)
            busy.insert(op.regionID)
            ops.append(op)
        }
        return ops
    }

    private func next(_ snapshot: ClusterSnapshot, targets: [StoreInfo], loads: StoreLoads, busy: Set<UInt64>) throws -> Operator? {
        // Sources: any live, Up store (a busy store may still shed data); targets must be schedulable.
        let sources = snapshot.stores.values.filter { !snapshot.needsEvacuation($0.id) }.map(\.id)
        let mean = Double(sources.reduce(Int64(0)) { $0 + loads.size[$1, default: 0] }) / Double(max(sources.count, 1))
        let tolerance = context.regionTolerance * mean
        let bySize = { (a: UInt64, b: UInt64) in (loads.size[a, default: 0], a) < (loads.size[b, default: 0], b) }
        let targetIDs = targets.map(\.id).sorted(by: bySize)
        let regions = snapshot.regions
        for source in sources.sorted(by: bySize).reversed() {
            let sourceSize = loads.size[source, default: 0]
            // The emptiest other target bounds every region's difference below: when even it
            // is too close, no region of this source can move (a balanced cluster ends here,
            // without walking the source's regions every round).
            guard let emptiest = targetIDs.first(where: { $0 != source }) else { continue }
            let widest = sourceSize - loads.size[emptiest, default: 0]
            if widest < 2 || Double(widest) <= tolerance { continue }
            // Prefer regions whose source peer is a follower: no leader hand-over needed.
            let candidates = (snapshot.regionsOn[source] ?? [])
                .filter { !busy.contains(regions[$0].id) && snapshot.isBalanceable(regions[$0]) }
                .sorted { (regions[$0].leaderStoreID == source ? 1 : 0, regions[$0].id) < (regions[$1].leaderStoreID == source ? 1 : 0, regions[$1].id) }
                .lazy.map { regions[$0] }
            for region in candidates {
                let size = Int64(region.sizeMB)
                for target in targetIDs where target != source && !region.hasPeer(onStore: target) {
                    let diff = sourceSize - loads.size[target, default: 0]
                    if diff < 2 * size || Double(diff) <= tolerance { break }
                    return try move(region, from: source, to: target, snapshot: snapshot, loads: loads)
                }
            }
        }
        return nil
    }

    /// The operator that moves the region's replica from `source` to `target`.
    func move(_ region: RegionInfo, from source: UInt64, to target: UInt64, snapshot: ClusterSnapshot,
              loads: StoreLoads, kind: OperatorKind = .region) throws -> Operator {
        var steps: [OperatorStep] = [.addPeer(toStore: target, peerID: try context.allocID())]
        if region.leaderStoreID == source {
            let successor = context.leaderSuccessor(of: region, leaving: source, snapshot: snapshot, loads: loads) ?? target
            steps.append(.transferLeader(fromStore: source, toStore: successor))
        }
        steps.append(.removePeer(fromStore: source))
        return Operator(region: region, kind: kind, desc: "\(kind == .region ? "balance region" : "scatter region"): move peer from store \(source) to store \(target)",
                        steps: steps, createdAt: snapshot.now, timeout: context.operatorTimeout)
    }
}
