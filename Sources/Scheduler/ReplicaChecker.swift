/// Keeps every region at the configured replica count: adds a peer when one is
/// missing, removes surplus peers, and replaces peers on down, offline or tombstone stores.
struct ReplicaChecker: Sendable {
    let context: ScheduleContext

    /// Up to `limit` repair operators for regions without a running operator.
    func check(_ snapshot: ClusterSnapshot, loads: inout StoreLoads, busy: Set<UInt64>, limit: Int) throws -> [Operator] {
        var ops: [Operator] = []
        for region in snapshot.regions where ops.count < limit && !busy.contains(region.id) && region.leader != nil {
            if let op = try check(region, snapshot: snapshot, loads: loads) {
                loads.apply(op, regionSize: region.sizeMB)
                ops.append(op)
            }
        }
        return ops
    }

    /// The repair one region needs, if any.
    func check(_ region: RegionInfo, snapshot: ClusterSnapshot, loads: StoreLoads) throws -> Operator? {
        let maxPeers = snapshot.maxPeerCount
        if region.peers.count < maxPeers {
            guard let target = addTarget(for: region, snapshot: snapshot, loads: loads) else { return nil }
            return makeOperator(region, "add replica on store \(target)",
                                [.addPeer(toStore: target, peerID: try context.allocID())], snapshot)
        }
        if region.peers.count > maxPeers {
            // Remove the worst-placed peer: one on an unusable store first, then the fullest store.
            let victim = region.peers.map(\.storeId).max { a, b in
                (snapshot.needsEvacuation(a) ? 1 : 0, loads.size[a, default: 0], a) < (snapshot.needsEvacuation(b) ? 1 : 0, loads.size[b, default: 0], b)
            }!
            return removal(of: victim, from: region, snapshot: snapshot, loads: loads, desc: "remove extra replica on store \(victim)")
        }
        if let victim = region.peers.map(\.storeId).first(where: snapshot.needsEvacuation) {
            // Full count but a peer sits on a store that is going away: add a replacement, then remove it.
            guard let target = addTarget(for: region, snapshot: snapshot, loads: loads) else { return nil }
            let peerID = try context.allocID()
            var steps: [OperatorStep] = [.addPeer(toStore: target, peerID: peerID)]
            if region.leaderStoreID == victim {
                let successor = context.leaderSuccessor(of: region, leaving: victim, snapshot: snapshot, loads: loads) ?? target
                steps.append(.transferLeader(fromStore: victim, toStore: successor))
            }
            steps.append(.removePeer(fromStore: victim))
            return makeOperator(region, "replace replica on store \(victim) with store \(target)", steps, snapshot)
        }
        return nil
    }

    private func addTarget(for region: RegionInfo, snapshot: ClusterSnapshot, loads: StoreLoads) -> UInt64? {
        // Never two replicas of a region on one store.
        loads.emptiest(among: snapshot.schedulableStores.filter { !region.hasPeer(onStore: $0.id) })?.id
    }

    private func removal(of store: UInt64, from region: RegionInfo, snapshot: ClusterSnapshot,
                         loads: StoreLoads, desc: String) -> Operator? {
        var steps: [OperatorStep] = []
        if region.leaderStoreID == store {
            // Hand leadership over first rather than have the leader remove itself.
            guard let successor = context.leaderSuccessor(of: region, leaving: store, snapshot: snapshot, loads: loads) else { return nil }
            steps.append(.transferLeader(fromStore: store, toStore: successor))
        }
        steps.append(.removePeer(fromStore: store))
        return makeOperator(region, desc, steps, snapshot)
    }

    private func makeOperator(_ region: RegionInfo, _ desc: String, _ steps: [OperatorStep], _ snapshot: ClusterSnapshot) -> Operator {
        Operator(region: region, kind: .replica, desc: desc, steps: steps, createdAt: snapshot.now, timeout: context.operatorTimeout)
    }
}
