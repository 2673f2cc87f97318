import TinyKVProto
import XCTest
@testable import Scheduler

/// A simulated TinyKV cluster: regions that obey the scheduler's commands instantly.
struct SimulatedCluster {
    var regions: [UInt64: RegionInfo] = [:]

    mutating func report(to server: SchedulerServer, now: UInt64) {
        for id in regions.keys.sorted() { _ = server.processRegionHeartbeat(regions[id]!, now: now) }
    }

    /// Heartbeats every region with a running operator and applies its commands until the operators end.
    mutating func executeOperators(on server: SchedulerServer, now: UInt64) {
        for id in server.operators.runningRegionIDs.sorted() {
            guard var region = regions[id] else { continue }
            for _ in 0..<10 {
                guard let command = server.processRegionHeartbeat(region, now: now) else { break }
                region.apply(command)
            }
            regions[id] = region
        }
    }

    func leaderCounts() -> [UInt64: Int] {
        regions.values.reduce(into: [:]) { $0[$1.leaderStoreID!, default: 0] += 1 }
    }

    func replicaCounts() -> [UInt64: Int] {
        regions.values.reduce(into: [:]) { counts, r in r.peers.forEach { counts[$0.storeId, default: 0] += 1 } }
    }
}

final class SchedulingTests: SchedulerTestCase {
    func testReplicaCheckerAddsMissingPeerOnEmptiestStore() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 4, clock: clock)
        var sim = SimulatedCluster()
        sim.regions[1] = makeRegion(1, "", "m", stores: [1, 2])
        sim.regions[2] = makeRegion(2, "m", "", stores: [1, 2, 3])
        sim.report(to: server, now: clock.now)

        let ops = server.schedule(.replica, now: clock.now)
        XCTAssertEqual(ops.count, 1)
        XCTAssertEqual(ops.first?.regionID, 1)
        guard case .addPeer(let target, _) = ops.first?.steps.first else { return XCTFail("expected add peer") }
        XCTAssertEqual(target, 4, "store 4 holds no region")
        expectEqual(await server.getOperator(.init(regionId: 1)).status, .running)
        expectEqual(String(decoding: await server.getOperator(.init(regionId: 1)).kind, as: UTF8.self), "replica")

        sim.executeOperators(on: server, now: clock.now)
        XCTAssertEqual(sim.regions[1]!.peers.map(\.storeId).sorted(), [1, 2, 4])
        expectEqual(await server.getOperator(.init(regionId: 1)).status, .success)
        XCTAssertTrue(server.schedule(.replica, now: clock.now).isEmpty)
        expectEqual(await server.getOperator(.init(regionId: 2)).header?.error?.type, .regionNotFound)
    }

    func testReplicaCheckerRemovesExtraPeerButNotTheLeaderDirectly() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 4, clock: clock)
        var sim = SimulatedCluster()
        sim.regions[1] = makeRegion(1, "", "", stores: [1, 2, 3, 4], leaderStore: 1)
        sim.report(to: server, now: clock.now)
        let ops = server.schedule(.replica, now: clock.now)
        XCTAssertEqual(ops.count, 1)
        sim.executeOperators(on: server, now: clock.now)
        XCTAssertEqual(sim.regions[1]!.peers.count, 3)
        XCTAssertNotNil(sim.regions[1]!.leader.flatMap { l in sim.regions[1]!.peers.first { $0.id == l.id } }, "leader still a member")
    }

    func testReplicaCheckerReplacesPeersOnDownAndTombstoneStores() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 5, clock: clock) { $0.maxStoreDownTimeMillis = 60_000 }
        var sim = SimulatedCluster()
        sim.regions[1] = makeRegion(1, "", "m", stores: [1, 2, 3])
        sim.regions[2] = makeRegion(2, "m", "", stores: [1, 2, 4])
        sim.report(to: server, now: clock.now)
        XCTAssertTrue(server.schedule(.replica, now: clock.now).isEmpty, "healthy cluster: nothing to do")

        // Store 3 stops heartbeating; store 4 becomes a tombstone.
        clock.advance(120_000)
        for id: UInt64 in [1, 2, 4, 5] { _ = await server.storeHeartbeat(.init(stats: .init(storeId: id))) }
        XCTAssertTrue(server.setStoreState(4, .tombstone))
        let ops = server.schedule(.replica, now: clock.now)
        XCTAssertEqual(Set(ops.map(\.regionID)), [1, 2])
        sim.executeOperators(on: server, now: clock.now)
        XCTAssertEqual(sim.regions[1]!.peers.map(\.storeId).sorted(), [1, 2, 5])
        XCTAssertEqual(sim.regions[2]!.peers.map(\.storeId).sorted(), [1, 2, 5])
    }

    func testQuietRoundsReuseTheRegionTableAndStillSeeChanges() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 4, clock: clock) { $0.maxStoreDownTimeMillis = 60_000 }
        var sim = SimulatedCluster()
        sim.regions[1] = makeRegion(1, "", "g", stores: [1, 2, 3], leaderStore: 1)
        sim.regions[2] = makeRegion(2, "g", "p", stores: [2, 3, 4], leaderStore: 2)
        sim.regions[3] = makeRegion(3, "p", "", stores: [1, 3, 4], leaderStore: 4)
        sim.report(to: server, now: clock.now)
        for _ in 0..<3 { XCTAssertTrue(server.schedule(.all, now: clock.now).isEmpty, "balanced and complete") }
        let first = server.cluster.snapshot(now: clock.now, maxPeerCount: 3, maxStoreDownTime: 60_000).table
        sim.report(to: server, now: clock.now)  // the same heartbeats again
        let second = server.cluster.snapshot(now: clock.now, maxPeerCount: 3, maxStoreDownTime: 60_000).table
        XCTAssertEqual(first.version, second.version, "unchanged heartbeats keep the table")

        // A region loses a replica: the reused table must give way to one that shows it.
        sim.regions[2]!.region.peers.removeAll { $0.storeId == 4 }
        sim.regions[2]!.region.regionEpoch!.confVer += 1
        sim.report(to: server, now: clock.now)
        let repair = server.schedule(.replica, now: clock.now)
        XCTAssertEqual(repair.map(\.regionID), [2])
        sim.executeOperators(on: server, now: clock.now)
        XCTAssertEqual(sim.regions[2]!.peers.count, 3)
        XCTAssertTrue(server.schedule(.replica, now: clock.now).isEmpty)

        // Nothing about the regions changes, but time makes a store down: its replicas move.
        clock.advance(120_000)
        for id: UInt64 in [1, 2, 3] { _ = await server.storeHeartbeat(.init(stats: .init(storeId: id))) }
        sim.report(to: server, now: clock.now)
        let evacuation = server.schedule(.replica, now: clock.now)
        XCTAssertFalse(evacuation.isEmpty, "peers on the down store 4 get replacements")
    }

    func testBalanceLeaderSpreadsLeaders() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 3, clock: clock)
        var sim = SimulatedCluster()
        for i in 0..<12 {
            sim.regions[UInt64(100 + i)] = makeRegion(UInt64(100 + i), i == 0 ? "" : String(format: "k%02d", i),
                                                      i == 11 ? "" : String(format: "k%02d", i + 1), stores: [1, 2, 3])
        }
        sim.report(to: server, now: clock.now)
        let first = server.schedule(.leader, now: clock.now)
        XCTAssertEqual(first.count, 4, "leader-schedule-limit caps one round")
        XCTAssertTrue(first.allSatisfy { $0.kind == .leader })
        XCTAssertTrue(server.schedule(.leader, now: clock.now).isEmpty, "limit reached while they run")
        for _ in 0..<20 {
            sim.executeOperators(on: server, now: clock.now)
            clock.advance(1_000)
            if server.schedule(.leader, now: clock.now).isEmpty { break }
        }
        XCTAssertEqual(sim.leaderCounts(), [1: 4, 2: 4, 3: 4])
    }

    func testBalanceRegionMovesReplicasToNewStore() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 4, clock: clock)
        var sim = SimulatedCluster()
        for i in 0..<8 {
            sim.regions[UInt64(100 + i)] = makeRegion(UInt64(100 + i), i == 0 ? "" : "k\(i)", i == 7 ? "" : "k\(i + 1)", stores: [1, 2, 3])
        }
        sim.report(to: server, now: clock.now)
        let ops = server.schedule(.region, now: clock.now)
        XCTAssertFalse(ops.isEmpty)
        for op in ops {
            guard case .addPeer(let target, _) = op.steps.first, case .removePeer = op.steps.last else { return XCTFail("move = add then remove") }
            XCTAssertEqual(target, 4)
        }
        for _ in 0..<20 {
            sim.executeOperators(on: server, now: clock.now)
            clock.advance(1_000)
            if server.schedule(.region, now: clock.now).isEmpty { break }
        }
        XCTAssertEqual(sim.replicaCounts(), [1: 6, 2: 6, 3: 6, 4: 6])
        for region in sim.regions.values { XCTAssertEqual(Set(region.peers.map(\.storeId)).count, 3, "one replica per store") }
    }

    func testBalanceIgnoresDownAndTombstoneStores() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 5, clock: clock) { $0.maxStoreDownTimeMillis = 60_000 }
        var sim = SimulatedCluster()
        for i in 0..<6 {
            sim.regions[UInt64(100 + i)] = makeRegion(UInt64(100 + i), i == 0 ? "" : "k\(i)", i == 5 ? "" : "k\(i + 1)", stores: [1, 2, 3])
        }
        sim.report(to: server, now: clock.now)
        clock.advance(120_000)
        for id: UInt64 in [1, 2, 3, 4] { _ = await server.storeHeartbeat(.init(stats: .init(storeId: id))) }
        XCTAssertTrue(server.setStoreState(4, .tombstone))  // store 5 is down, store 4 tombstone
        XCTAssertTrue(server.schedule(.region, now: clock.now).isEmpty)
    }

    func testOperatorTimesOutAndStaleOperatorIsCancelled() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 4, clock: clock)
        var region = makeRegion(1, "", "", stores: [1, 2])
        _ = server.processRegionHeartbeat(region, now: clock.now)
        XCTAssertEqual(server.schedule(.replica, now: clock.now).count, 1)
        clock.advance(11 * 60 * 1_000)
        _ = server.schedule([], now: clock.now)
        expectEqual(await server.getOperator(.init(regionId: 1)).status, .timeout)

        // A new operator, then the region splits (version bump): the operator is stale.
        XCTAssertEqual(server.schedule(.replica, now: clock.now).count, 1)
        region.region.regionEpoch!.version += 1
        XCTAssertNil(server.processRegionHeartbeat(region, now: clock.now))
        expectEqual(await server.getOperator(.init(regionId: 1)).status, .cancel)
    }

    /// A leader transfer whose target never takes over (its store died but is not down yet)
    /// ends the operator after the leader-operator timeout, not the whole operator's 10 minutes,
    /// so the region is free for the next repair (issue 7: a kill during balance left a region
    /// with 4 peers for minutes).
    func testTransferLeaderStepTimesOutOnItsOwn() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 4, clock: clock)
        let region = makeRegion(1, "", "", stores: [1, 2, 3, 4], leaderStore: 1)
        _ = server.processRegionHeartbeat(region, now: clock.now)
        let op = Operator(region: region, kind: .replica, desc: "remove extra replica on store 1",
                          steps: [.transferLeader(fromStore: 1, toStore: 4), .removePeer(fromStore: 1)],
                          createdAt: clock.now, timeout: 10 * 60 * 1_000)
        XCTAssertTrue(server.operators.add(op))
        XCTAssertNotNil(server.processRegionHeartbeat(region, now: clock.now)?.transferLeader)
        clock.advance(5_000)
        XCTAssertNotNil(server.processRegionHeartbeat(region, now: clock.now)?.transferLeader, "still within the step timeout")
        clock.advance(6_000)
        XCTAssertNil(server.processRegionHeartbeat(region, now: clock.now))
        expectEqual(await server.getOperator(.init(regionId: 1)).status, .timeout)

        // Also when no heartbeat comes: the scheduling round drops it.
        XCTAssertTrue(server.operators.add(op))
        _ = server.processRegionHeartbeat(region, now: clock.now)
        clock.advance(11_000)
        _ = server.schedule([], now: clock.now)
        XCTAssertFalse(server.operators.hasOperator(for: 1))

        // A step that is not a leader transfer keeps the whole operator's timeout.
        let add = Operator(region: makeRegion(1, "", "", stores: [1, 2, 3]), kind: .replica, desc: "add",
                           steps: [.addPeer(toStore: 4, peerID: 99)], createdAt: clock.now, timeout: 10 * 60 * 1_000)
        XCTAssertTrue(server.operators.add(add))
        _ = server.processRegionHeartbeat(makeRegion(1, "", "", stores: [1, 2, 3]), now: clock.now)
        clock.advance(60_000)
        for id: UInt64 in 1...4 { _ = await server.storeHeartbeat(.init(stats: .init(storeId: id))) }
        XCTAssertNotNil(server.processRegionHeartbeat(makeRegion(1, "", "", stores: [1, 2, 3]), now: clock.now)?.changePeer)
    }

    /// A new peer that is in the region but still catching up (pending) is the operator's own
    /// step taking effect: the operator waits for it, sending nothing, instead of taking the
    /// conf_ver bump for someone else's change and cancelling (which left a fourth replica to the
    /// replica checker, free to remove a caught-up peer while the new one was still behind).
    func testAnOperatorWaitsForItsNewPeerToCatchUp() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 4, clock: clock)
        let before = makeRegion(1, "", "", stores: [1, 2, 3], leaderStore: 2)
        _ = server.processRegionHeartbeat(before, now: clock.now)
        let move = Operator(region: before, kind: .region, desc: "balance region: move peer from store 1 to store 4",
                            steps: [.addPeer(toStore: 4, peerID: 99), .removePeer(fromStore: 1)],
                            createdAt: clock.now, timeout: 10 * 60 * 1_000)
        XCTAssertTrue(server.operators.add(move))
        XCTAssertEqual(server.processRegionHeartbeat(before, now: clock.now)?.changePeer?.peer?.id, 99)

        var added = before
        added.region.peers.append(Metapb.Peer(id: 99, storeId: 4))
        added.region.regionEpoch!.confVer += 1
        added.pendingPeers = [Metapb.Peer(id: 99, storeId: 4)]
        clock.advance(1_000)
        XCTAssertNil(server.processRegionHeartbeat(added, now: clock.now), "nothing to send while the new peer catches up")
        expectEqual(await server.getOperator(.init(regionId: 1)).status, .running)

        added.pendingPeers = []
        clock.advance(1_000)
        let next = server.processRegionHeartbeat(added, now: clock.now)
        XCTAssertEqual(next?.changePeer?.changeType, .removeNode)
        XCTAssertEqual(next?.changePeer?.peer?.storeId, 1)

        // Someone else's membership change on top of it still makes the operator stale.
        var other = added
        other.region.regionEpoch!.confVer += 1
        XCTAssertNil(server.processRegionHeartbeat(other, now: clock.now))
        expectEqual(await server.getOperator(.init(regionId: 1)).status, .cancel)
    }

    /// A balance move stuck on its new peer (it never catches up) does not keep a region with a
    /// replica on a down store waiting for the move's 10-minute timeout: the repair replaces it.
    /// A move that removes that replica itself goes on.
    func testRepairReplacesABalanceMoveThatLeavesADownReplica() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 5, clock: clock) { $0.maxStoreDownTimeMillis = 60_000 }
        var sim = SimulatedCluster()
        var region = makeRegion(1, "", "m", stores: [1, 2, 3, 4], leaderStore: 1)
        let newcomer = region.peer(onStore: 4)!
        region.pendingPeers = [newcomer]
        sim.regions[1] = region
        region = makeRegion(2, "m", "", stores: [1, 2, 3, 4], leaderStore: 1)
        region.pendingPeers = [region.peer(onStore: 4)!]
        sim.regions[2] = region
        sim.report(to: server, now: clock.now)
        let stuck = Operator(region: sim.regions[1]!, kind: .region, desc: "balance region: move peer from store 3 to store 4",
                             steps: [.addPeer(toStore: 4, peerID: newcomer.id), .removePeer(fromStore: 3)],
                             createdAt: clock.now, timeout: 10 * 60 * 1_000)
        let repairing = Operator(region: sim.regions[2]!, kind: .region, desc: "balance region: move peer from store 2 to store 4",
                                 steps: [.addPeer(toStore: 4, peerID: region.peer(onStore: 4)!.id), .removePeer(fromStore: 2)],
                                 createdAt: clock.now, timeout: 10 * 60 * 1_000)
        XCTAssertTrue(server.operators.add(stuck))
        XCTAssertTrue(server.operators.add(repairing))
        // Store 2 dies; the others report past the down time; the new peers stay pending.
        for _ in 0..<3 {
            clock.advance(25_000)
            for id: UInt64 in [1, 3, 4, 5] { _ = await server.storeHeartbeat(.init(stats: .init(storeId: id))) }
        }
        sim.report(to: server, now: clock.now)
        XCTAssertEqual(server.schedule(.replica, now: clock.now).map(\.regionID), [1])
        XCTAssertEqual(server.operators.operatorFor(1)?.desc, "remove extra replica on store 2")
        XCTAssertEqual(server.operators.operatorFor(2)?.kind, .region)
        expectEqual(await server.getOperator(.init(regionId: 1)).status, .running)
        sim.executeOperators(on: server, now: clock.now)
        XCTAssertEqual(sim.regions[1]!.peers.map(\.storeId).sorted(), [1, 3, 4])
    }

    /// An operator moving a replica to a store that then goes down is cancelled, and the replica
    /// checker takes the region over (here: the surplus peer on the down store goes).
    func testOperatorTargetingADownStoreIsCancelled() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 5, clock: clock) { $0.maxStoreDownTimeMillis = 60_000 }
        var sim = SimulatedCluster()
        sim.regions[1] = makeRegion(1, "", "", stores: [1, 2, 3, 4], leaderStore: 1)
        sim.report(to: server, now: clock.now)
        // Balance-like move already under way: leadership to store 4, then remove store 1.
        let op = Operator(region: sim.regions[1]!, kind: .region, desc: "move",
                          steps: [.transferLeader(fromStore: 1, toStore: 4), .removePeer(fromStore: 1)],
                          createdAt: clock.now, timeout: 10 * 60 * 1_000)
        XCTAssertTrue(server.operators.add(op))
        // Store 4 dies: no heartbeat for longer than the down time; the others keep reporting.
        clock.advance(5_000)
        sim.report(to: server, now: clock.now)
        clock.advance(58_000)
        for id: UInt64 in [1, 2, 3, 5] { _ = await server.storeHeartbeat(.init(stats: .init(storeId: id))) }
        clock.advance(3_000)
        for id: UInt64 in [1, 2, 3, 5] { _ = await server.storeHeartbeat(.init(stats: .init(storeId: id))) }
        sim.report(to: server, now: clock.now)
        let ops = server.schedule(.replica, now: clock.now)
        expectEqual(await server.getOperator(.init(regionId: 1)).status, .running)
        XCTAssertEqual(ops.map(\.desc), ["remove extra replica on store 4"])
        sim.executeOperators(on: server, now: clock.now)
        XCTAssertEqual(sim.regions[1]!.peers.map(\.storeId).sorted(), [1, 2, 3])
    }

    func testCommandsGoOutOnTheLeaderStoresStream() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 4, clock: clock)
        let (requests, input) = AsyncStream<Schedulerpb.RegionHeartbeatRequest>.makeStream()
        let received = Collector<Schedulerpb.RegionHeartbeatResponse>()
        let streamTask = Task { try await server.regionHeartbeat(requests: requests) { received.append($0) } }

        let region = makeRegion(1, "", "", stores: [1, 2])
        input.yield(region.heartbeat)
        // Wait until the heartbeat is processed.
        for _ in 0..<200 where await server.getRegionByID(.init(regionId: 1)).region == nil { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertEqual(server.schedule(.replica, now: clock.now).count, 1)
        for _ in 0..<200 where received.all.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        let command = try XCTUnwrap(received.all.first)
        XCTAssertEqual(command.header?.clusterId, server.clusterID)
        XCTAssertEqual(command.regionId, 1)
        XCTAssertEqual(command.changePeer?.changeType, .addNode)
        XCTAssertEqual(command.changePeer?.peer?.storeId, 3)
        XCTAssertEqual(command.targetPeer, region.leader)

        // A stale heartbeat and a heartbeat from an unknown store.
        var unknownLeader = makeRegion(2, "x", "y", stores: [9])
        unknownLeader.region.id = 2
        input.yield(unknownLeader.heartbeat)
        for _ in 0..<200 where received.all.count < 2 { try await Task.sleep(for: .milliseconds(5)) }
        XCTAssertEqual(received.all.last?.header?.error?.type, .unknown)
        input.finish()
        try await streamTask.value
    }

    /// 4 stores, 100 regions all on stores 1-3 led by store 1: scheduling rounds
    /// plus simulated execution must settle with leaders and replicas within ±10% of the mean.
    func testConvergence() async throws {
        let clock = FakeClock()
        let server = try await makeCluster(stores: 4, clock: clock)
        var sim = SimulatedCluster()
        for i in 0..<100 {
            let id = UInt64(1_000 + i)
            sim.regions[id] = makeRegion(id, i == 0 ? "" : String(format: "t%03d", i), i == 99 ? "" : String(format: "t%03d", i + 1),
                                         stores: [1, 2, 3], leaderStore: 1)
        }
        sim.report(to: server, now: clock.now)

        var quietRounds = 0, rounds = 0, operators = 0
        while quietRounds < 3, rounds < 500 {
            rounds += 1
            let ops = server.schedule(.all, now: clock.now)
            operators += ops.count
            quietRounds = ops.isEmpty && server.operators.runningCount == 0 ? quietRounds + 1 : 0
            sim.executeOperators(on: server, now: clock.now)
            clock.advance(500)
            for id: UInt64 in 1...4 { _ = await server.storeHeartbeat(.init(stats: .init(storeId: id))) }
        }
        XCTAssertLessThan(rounds, 500, "did not converge")
        let leaders = sim.leaderCounts(), replicas = sim.replicaCounts()
        print("convergence: \(rounds) rounds, \(operators) operators, leaders \(leaders.sorted { $0.key < $1.key }), replicas \(replicas.sorted { $0.key < $1.key })")
        for store: UInt64 in 1...4 {
            XCTAssertEqual(Double(leaders[store, default: 0]), 25, accuracy: 2.5, "leaders on store \(store)")
            XCTAssertEqual(Double(replicas[store, default: 0]), 75, accuracy: 7.5, "replicas on store \(store)")
        }
        for region in sim.regions.values {
            XCTAssertEqual(region.peers.count, 3)
            XCTAssertEqual(Set(region.peers.map(\.storeId)).count, 3)
        }
        // Stable: another round with everything reported creates nothing.
        sim.report(to: server, now: clock.now)
        XCTAssertTrue(server.schedule(.all, now: clock.now).isEmpty)
    }
}
