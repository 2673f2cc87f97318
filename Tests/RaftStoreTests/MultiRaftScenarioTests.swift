import Foundation
import Linearizability
import RaftStore
@testable import Scheduler
import Storage
import TinyKVProto
import XCTest

/// The course's multi-raft scenarios (TinyKV project 3B) on the scenario runner of
/// ``ScenarioTests``: membership changes and splits while clients run, with unreliable
/// networks, partitions, crashes and log compaction; every history is checked for
/// linearizability and every client's appends must all be there. Default runs use one fixed
/// seed and short rounds; `make test-long` runs more seeds and longer rounds.
extension ScenarioTests {
    /// TestConfChangeUnreliable3B: peers added and removed at random while clients write
    /// over a network that drops messages.
    func testConfChangeUnreliable() async throws {
        try await run(Scenario(name: "confchange-unreliable", clients: 5, unreliable: true, confChange: true), seed: 31)
    }

    /// TestConfChangeRecoverManyClients3B: membership changes, with every store crashed and restarted after each round.
    func testConfChangeRecoverManyClients() async throws {
        try await run(Scenario(name: "confchange-recover", clients: 5, crash: true, confChange: true), seed: 32)
    }

    /// TestSplitUnreliable3B: small regions split under load while the network drops messages.
    func testSplitUnreliable() async throws {
        try await run(Scenario(name: "split-unreliable", clients: 5, unreliable: true, regionMaxSize: 400), seed: 33)
    }

    /// TestSplitRecoverManyClients3B: splits, with every store crashed and restarted after each round.
    func testSplitRecoverManyClients() async throws {
        try await run(Scenario(name: "split-recover", clients: 5, crash: true, regionMaxSize: 400), seed: 34)
    }

    /// TestSplitConfChangeSnapshotUnreliableRecover3B: splits, membership changes, a compacted log
    /// (so peers catch up by snapshot across splits), an unreliable network and crashes together.
    ///
    /// It once failed about 1 run in 8: a peer removed while asleep kept its old, wider range
    /// on its store and blocked the new peers there (of its own region and of regions split
    /// from it), and a region counting those in its quorum stayed without a leader. Stale peers
    /// now go when a newer peer of their region is addressed, or when they block a message
    /// and the scheduler says they were removed (``StalePeerCheck``).
    func testSplitConfChangeSnapshotUnreliableRecover() async throws {
        try await run(Scenario(name: "split-cc-snap-unrel", clients: 5, unreliable: true, crash: true, logGCCountLimit: 20,
                               confChange: true, regionMaxSize: 400), seed: 35)
    }

    /// TestConfChangeRemoveLeader3B: the scheduler removes the leader's own peer while a client
    /// writes. The leader hands leadership over first, the new leader removes the old peer, the
    /// old peer destroys itself, and nothing acknowledged is lost; the history stays linearizable.
    func testConfChangeRemoveLeader() async throws {
        for seed in ScenarioRuns.seeds(default: 36) {
            let cluster = try await startCluster(Scenario(name: "remove-leader", stores: 4))
            defer { cluster.shutdown() }
            try await cluster.setMaxPeerCount(3)
            try await cluster.waitUntil("3 replicas", timeout: .seconds(30)) {
                await cluster.leader()?.1.region.peers.count == 3
            }
            let history = History(), inFlight = InFlight()
            let client = ScenarioClient(id: 0, cluster: cluster, history: history, inFlight: inFlight)
            var random = SeededRandom(seed: seed)
            for i in 0..<10 {
                let ok = await client.mustPut("k\(i)", "a\(i)", deadline: .now + .seconds(10))
                XCTAssertTrue(ok, "seed \(seed): put k\(i)")
            }
            for round in 0..<(ScenarioRuns.isLong ? 4 : 2) {
                guard let (leaderNode, status) = await cluster.leader() else { return XCTFail("seed \(seed): no leader") }
                let server = cluster.scheduler.server
                let oldPeer = status.peerID
                let info = RegionInfo(region: status.region, leader: status.region.peers.first { $0.id == oldPeer })
                let removal = Operator(region: info, kind: .admin, desc: "remove the leader's peer",
                                       steps: [.removePeer(fromStore: leaderNode.storeID)], createdAt: wallClockMillis(), timeout: 60_000)
                server.operators.replace(with: removal)
                // The client keeps writing while the leader steps down and its peer goes.
                let jitterSeed = random.next()
                let writes = Task {
                    var jitter = SeededRandom(seed: jitterSeed)
                    var acknowledged = 0
                    for i in 0..<20 where await client.mustPut("k\(i % 10)", "r\(round)-\(i)", deadline: .now + .seconds(10)) {
                        acknowledged += 1
                        try? await Task.sleep(for: .milliseconds(Int(jitter.next() % 20)))
                    }
                    return acknowledged
                }
                try await cluster.waitUntil("old leader's peer destroyed (round \(round))", timeout: .seconds(20)) {
                    await !leaderNode.regions().contains { $0.peerID == oldPeer }
                }
                let acknowledged = await writes.value
                XCTAssertEqual(acknowledged, 20, "seed \(seed) round \(round): writes stalled")
                guard let (_, newStatus) = await cluster.leader() else { return XCTFail("seed \(seed): no leader after the removal") }
                XCTAssertNotEqual(newStatus.peerID, oldPeer, "seed \(seed): the removed peer still leads")
                // The replica checker brings the region back to 3 replicas.
                try await cluster.waitUntil("3 replicas again", timeout: .seconds(20)) {
                    await cluster.leader()?.1.region.peers.count == 3
                }
                for i in 0..<10 { _ = await client.mustGet("k\(i)", deadline: .now + .seconds(10)) }
            }
            switch LinearizabilityChecker(model: KVModel()).check(history.all) {
            case .linearizable: break
            case let other: XCTFail("remove-leader seed \(seed): history not linearizable: \(other)")
            }
        }
    }
}
