/// Moves leaders from the stores with the most to the stores with the fewest.
///
/// A transfer happens only when the two stores differ by at least 2 leaders (so the
/// move cannot overshoot and invert them) and by more than `leaderTolerance` of the
/// mean; counting running operators in (``StoreLoads``) keeps rounds from stacking
/// moves. Together these make the process converge instead of flapping.
struct BalanceLeaderScheduler: Sendable {
    let context: ScheduleContext

    func schedule(_ snapshot: ClusterSnapshot, loads: inout StoreLoads, busy: Set<UInt64>, limit: Int) -> [Operator] {
        let stores = snapshot.schedulableStores
        guard stores.count > 1 else { return [] }
        var busy = busy
        var ops: [Operator] = []
        while ops.count < limit, let op = next(snapshot, stores: stores, loads: loads, busy: busy) {
            loads.apply(op, regionSize: 1)
            busy.insert(op.regionID)
            ops.append(op)
        }
        return ops
    }

    private func next(_ snapshot: ClusterSnapshot, stores: [StoreInfo], loads: StoreLoads, busy: Set<UInt64>) -> Operator? {
        let ids = stores.map(\.id)
        let mean = Double(ids.reduce(0) { $0 + loads.leaders[$1, default: 0] }) / Double(ids.count)
        let threshold = max(2.0, context.leaderTolerance * mean)
        let byLeaders = ids.sorted { (loads.leaders[$0, default: 0], $0) < (loads.leaders[$1, default: 0], $1) }
        for source in byLeaders.reversed() {
            for target in byLeaders where target != source {
                let diff = loads.leaders[source, default: 0] - loads.leaders[target, default: 0]
                if Double(diff) < threshold { break }  // targets only get fuller from here
                for index in snapshot.regionsLedBy[source] ?? [] {
                    let region = snapshot.regions[index]
                    guard !busy.contains(region.id), snapshot.isBalanceable(region),
                          let peer = region.peer(onStore: target), !region.isPending(peer.id) else { continue }
                    return Operator(region: region, kind: .leader,
                                    desc: "balance leader: transfer from store \(source) to store \(target)",
                                    steps: [.transferLeader(fromStore: source, toStore: target)],
                                    createdAt: snapshot.now, timeout: context.leaderOperatorTimeout)
                }
            }
        }
        return nil
    }
}
