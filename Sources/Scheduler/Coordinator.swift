import Logging
import Synchronization
import TinyKVProto

/// Runs the replica checker and the balance schedulers over cluster snapshots and
/// hands their operators to the ``OperatorController``. Pure scheduling logic: time
/// comes in as an argument, so tests drive it with a fake clock.
final class Coordinator: Sendable {
    /// Which producers a round runs.
    struct Round: OptionSet, Sendable {
        let rawValue: Int
        static let replica = Round(rawValue: 1)
        static let leader = Round(rawValue: 2)
        static let region = Round(rawValue: 4)
        static let all: Round = [.replica, .leader, .region]
    }

    let cluster: BasicCluster
    let operators: OperatorController
    private let context: ScheduleContext
    private let limits: (replica: Int, leader: Int, region: Int)
    private let maxStoreDownTime: UInt64
    private let maxPeerCount: @Sendable () -> Int
    private let logger: Logger

    init(cluster: BasicCluster, operators: OperatorController, config: SchedulerConfig,
         allocID: @escaping @Sendable () throws -> UInt64, maxPeerCount: @escaping @Sendable () -> Int, logger: Logger) {
        self.cluster = cluster
        self.operators = operators
        context = ScheduleContext(allocID: allocID, leaderOperatorTimeout: config.leaderOperatorTimeoutMillis,
                                  operatorTimeout: config.operatorTimeoutMillis,
                                  leaderTolerance: config.leaderBalanceTolerance,
                                  regionTolerance: config.regionBalanceTolerance)
        limits = (config.replicaScheduleLimit, config.leaderScheduleLimit, config.regionScheduleLimit)
        maxStoreDownTime = config.maxStoreDownTimeMillis
        self.maxPeerCount = maxPeerCount
        self.logger = logger
    }

    /// One scheduling round at time `now`. Returns the operators it started; the caller
    /// pushes their first command to the region leaders right away.
    func runRound(_ round: Round, now: UInt64) -> [Operator] {
        operators.removeTimedOut(now: now)
        let snapshot = cluster.snapshot(now: now, maxPeerCount: maxPeerCount(), maxStoreDownTime: maxStoreDownTime)
        operators.cancelTargeting(where: snapshot.needsEvacuation)
        guard !snapshot.regions.isEmpty else { return [] }
        var loads = StoreLoads(snapshot: snapshot, influence: operators.influence(in: snapshot))
        var busy = operators.runningRegionIDs
        var created: [Operator] = []
        var preempted = Set<UInt64>()
        do {
            // Repairs first: a missing replica matters more than balance, and balance skips unhealthy regions anyway.
            if round.contains(.replica) {
                let room = limits.replica - operators.count(of: .replica)
                if room > 0 {
                    preempted = balanceMovesBlockingRepair(snapshot)
                    created += try ReplicaChecker(context: context).check(snapshot, loads: &loads, busy: busy.subtracting(preempted), limit: room)
                    busy.formUnion(created.map(\.regionID))
                }
            }
            if round.contains(.leader) {
                let room = limits.leader - operators.count(of: .leader)
                if room > 0 {
                    let ops = BalanceLeaderScheduler(context: context).schedule(snapshot, loads: &loads, busy: busy, limit: room)
                    busy.formUnion(ops.map(\.regionID))
                    created += ops
                }
            }
            if round.contains(.region) {
                let room = limits.region - operators.count(of: .region)
                if room > 0 {
                    created += try BalanceRegionScheduler(context: context).schedule(snapshot, loads: &loads, busy: busy, limit: room)
                }
            }
        } catch {
            // Only ID allocation throws (storage failure); keep what was built and try again next round.
            logger.error("scheduling round failed", metadata: ["error": "\(error)"])
        }
        let added = created.filter { op in
            guard preempted.contains(op.regionID) else { return operators.add(op) }
            operators.replace(with: op)
            return true
        }
        for op in added {
            logger.debug("operator created", metadata: ["region": "\(op.regionID)", "desc": "\(op.desc)"])
        }
        return added
    }

    /// Regions whose balance move a repair may replace: the region has a replica on a store
    /// that is going away (down, offline, tombstone) and the move's remaining steps do not remove
    /// it. Repairs outrank balance, as in PD: a move can be stuck for its whole timeout (10
    /// minutes) on a step that cannot finish, such as a new peer that never catches up, and the
    /// region must not wait that long with a dead replica.
    private func balanceMovesBlockingRepair(_ snapshot: ClusterSnapshot) -> Set<UInt64> {
        var ids = Set<UInt64>()
        for store in snapshot.stores.keys where snapshot.needsEvacuation(store) {
            for index in snapshot.regionsOn[store] ?? [] {
                let regionID = snapshot.regions[index].id
                guard let op = operators.operatorFor(regionID), op.kind == .region,
                      !op.willRemovePeer(onStore: store) else { continue }
                ids.insert(regionID)
            }
        }
        return ids
    }

    /// ScatterRegion's move: one replica from the region's store holding the most regions to
    /// the schedulable store without a replica holding the fewest, when they differ by 2 or more.
    func scatter(_ region: RegionInfo, now: UInt64) -> Operator? {
        let snapshot = cluster.snapshot(now: now, maxPeerCount: maxPeerCount(), maxStoreDownTime: maxStoreDownTime)
        guard !operators.hasOperator(for: region.id), snapshot.isBalanceable(region) else { return nil }
        let loads = StoreLoads(snapshot: snapshot, influence: operators.influence(in: snapshot))
        let byCount = { (a: UInt64, b: UInt64) in (loads.regions[a, default: 0], a) < (loads.regions[b, default: 0], b) }
        guard let source = region.peers.map(\.storeId).max(by: byCount),
              let target = snapshot.schedulableStores.map(\.id).filter({ !region.hasPeer(onStore: $0) }).min(by: byCount),
              loads.regions[source, default: 0] - loads.regions[target, default: 0] >= 2 else { return nil }
        return try? BalanceRegionScheduler(context: context).move(region, from: source, to: target, snapshot: snapshot,
                                                                  loads: loads, kind: .admin)
    }
}
