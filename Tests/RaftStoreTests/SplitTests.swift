import Foundation
@testable import RaftStore
import Storage
import TinyKVProto
import XCTest

/// Region split, routing across regions, and balancing onto a new store.
final class SplitTests: XCTestCase {
    private var cluster: TestCluster!

    override func tearDown() {
        cluster?.shutdown()
        cluster = nil
    }

    private func key(_ i: Int) -> String { Self.key(i) }
    private static func key(_ i: Int) -> String { String(format: "k%05d", i) }

    /// Every store's initialized regions, by store.
    private func regionsByStore() async -> [UInt64: [Metapb.Region]] {
        var result: [UInt64: [Metapb.Region]] = [:]
        for node in cluster.nodes {
            result[node.storeID] = await node.regions().map(\.region).filter { !$0.peers.isEmpty }
        }
        return result
    }

    /// Whether `regions` tile the key space without gaps or overlaps.
    private func tiles(_ regions: [Metapb.Region]) -> Bool {
        let sorted = regions.sorted { $0.startKey.lexicographicallyPrecedes($1.startKey) }
        guard sorted.first?.startKey.isEmpty == true, sorted.last?.endKey.isEmpty == true else { return false }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.endKey != b.startKey { return false }
        return true
    }

    /// Reads the raw `default` family of every region through its leader and concatenates
    /// the results: no key may appear twice (no leak across regions) or be missing.
    private func scanAll() async throws -> [String: String] {
        var result: [String: String] = [:]
        var next: [UInt8]? = []
        // Walk the regions as the stores see them (the scheduler may lag behind splits).
        while let probe = next {
            try await cluster.withLeader("scan region", key: probe, timeout: .seconds(10)) { node, context in
                let reader = try await node.storage.reader(context)
                let iterator = try reader.makeIterator(.default, lowerBound: probe, upperBound: nil)
                iterator.seekToFirst()
                var local: [String: String] = [:]
                while iterator.isValid {
                    let key = String(decoding: iterator.key, as: UTF8.self)
                    XCTAssertNil(result[key], "\(key) served by two regions")
                    local[key] = String(decoding: iterator.value, as: UTF8.self)
                    iterator.next()
                }
                result.merge(local) { a, _ in a }
                let end = (reader as? RegionReader)?.region.endKey ?? []
                next = end.isEmpty ? nil : end
            }
        }
        return result
    }

    /// A split that fails (here AskSplit: the scheduler is unreachable) is tried again at the
    /// next split-check tick even if nothing more is written (it used to wait for new writes).
    func testFailedSplitIsRetriedWithoutNewWrites() async throws {
        cluster = try TestCluster(name: "split-retry")
        cluster.config.regionMaxSize = 1_024
        cluster.config.regionSplitSize = 512
        cluster.config.splitCheckTickInterval = .milliseconds(100)
        for _ in 0..<3 { try await cluster.addStore() }
        try await cluster.waitUntil("3 replicas", timeout: .seconds(30)) {
            await cluster.leader()?.1.region.peers.count == 3
        }
        for client in cluster.schedulerClients.values { client.reachable.withLock { $0 = false } }
        for i in 0..<20 { try await cluster.put(key(i), String(repeating: "v", count: 200)) }
        try await Task.sleep(for: .milliseconds(500))  // several split checks, all failing
        let stuck = await cluster.leader()!.1.region
        XCTAssertTrue(stuck.startKey.isEmpty && stuck.endKey.isEmpty, "no split while AskSplit fails")
        for client in cluster.schedulerClients.values { client.reachable.withLock { $0 = true } }
        try await cluster.waitUntil("splits resume without new writes", timeout: .seconds(10)) {
            await cluster.schedulerRegions().count >= 4
        }
    }

    /// The new region of a split elects its leader at once, not after an election timeout:
    /// the leader's store campaigns as soon as it applied the split, before the followers
    /// did, so the followers keep the vote request and replay it to the peer the split creates.
    func testNewRegionElectsWithoutWaitingForAnElectionTimeout() async throws {
        cluster = try TestCluster(name: "split-vote")
        cluster.config.baseTickInterval = .milliseconds(100)
        cluster.config.electionTicks = 40  // 4-8 s: far longer than the test allows
        for _ in 0..<3 { try await cluster.addStore() }
        try await cluster.waitUntil("3 replicas", timeout: .seconds(30)) {
            await cluster.leader()?.1.region.peers.count == 3
        }
        for round in 0..<3 {
            let at = key(10 * (round + 1))
            try await cluster.put(at, "before")
            try await cluster.split(at: at)
            let started = ContinuousClock.now
            try await cluster.waitUntil("the new region has a leader", timeout: .seconds(3)) {
                guard let (_, status) = await cluster.leader(forKey: Array(at.utf8)) else { return false }
                return status.region.startKey == Array(at.utf8)
            }
            try await cluster.put(at, "after", timeout: .seconds(3))
            XCTAssertLessThan(ContinuousClock.now - started, .seconds(3), "round \(round)")
        }
    }

    /// A manual split of a 3-replica region: both halves serve reads and writes, every store
    /// runs both regions, the versions are bumped and the scheduler knows both.
    func testManualSplitOnEveryStoreAndBothHalvesServe() async throws {
        cluster = try TestCluster(name: "split")
        for _ in 0..<3 { try await cluster.addStore() }
        try await cluster.waitUntil("3 replicas", timeout: .seconds(20)) {
            await cluster.leader()?.1.region.peers.count == 3
        }
        for i in 0..<40 { try await cluster.put(key(i), "v\(i)") }
        let before = await cluster.leader()!.1.region
        try await cluster.split(at: key(20))
        try await cluster.waitUntil("both regions on every store") {
            let byStore = await regionsByStore()
            return byStore.count == 3 && byStore.values.allSatisfy { $0.count == 2 && tiles($0) }
        }
        let byStore = await regionsByStore()
        for regions in byStore.values {
            for region in regions {
                XCTAssertEqual(region.regionEpoch?.version, (before.regionEpoch?.version ?? 0) + 1)
                XCTAssertEqual(region.regionEpoch?.confVer, before.regionEpoch?.confVer)
                XCTAssertEqual(Set(region.peers.map(\.storeId)), Set(before.peers.map(\.storeId)))
            }
            XCTAssertTrue(regions.contains { $0.id == before.id && $0.endKey == Array(key(20).utf8) })
        }
        try await cluster.waitUntil("scheduler knows both regions") {
            let known = await cluster.schedulerRegions()
            return known.count == 2 && tiles(known) && known.allSatisfy { $0.regionEpoch?.version == (before.regionEpoch?.version ?? 0) + 1 }
        }
        for i in 0..<40 {
            let value = try await cluster.get(key(i))
            XCTAssertEqual(value, "v\(i)")
        }
        // Both halves take writes (the new region elected a leader).
        for i in [5, 25, 39] { try await cluster.put(key(i), "w\(i)") }
        let all = try await scanAll()
        XCTAssertEqual(all.count, 40)
        XCTAssertEqual(all[key(25)], "w25")
    }

    /// Requests with the pre-split epoch get `epoch_not_match` listing both regions; keys
    /// outside the region get `key_not_in_region`; unknown regions `region_not_found`;
    /// reads of one region never see the other's keys, in raw and MVCC-encoded families.
    func testStaleEpochAndRoutingErrors() async throws {
        cluster = try TestCluster(name: "split-errors")
        let node = try await cluster.addStore()
        try await cluster.waitUntil("leader") { await cluster.leader() != nil }
        for i in 0..<10 { try await cluster.put(key(i), "v\(i)") }
        // MVCC-encoded versions of k00004 and k00005 in `write` (memcomparable ++ ~ts).
        for i in [4, 5] {
            var batch = WriteBatch()
            for ts in [UInt64(10), 20] {
                var stored = RegionData.encode(Array(key(i).utf8))
                for shift in stride(from: 56, through: 0, by: -8) { stored.append(UInt8(truncatingIfNeeded: ~ts >> UInt64(shift))) }
                batch.put(.write, stored, [1])
                batch.put(.default, stored, Array("txn\(i)@\(ts)".utf8))
            }
            try await cluster.withLeader("txn put", key: Array(key(i).utf8), timeout: .seconds(5)) { node, context in
                try await node.storage.write(context, batch)
            }
        }
        let parent = await cluster.leader()!.1
        try await cluster.split(at: key(5))
        try await cluster.waitUntil("two regions with leaders") {
            let statuses = await node.regions()
            return statuses.count == 2 && statuses.allSatisfy(\.isLeader)
        }
        let statuses = await node.regions()
        let left = statuses.first { $0.region.id == parent.region.id }!.region
        let right = statuses.first { $0.region.id != parent.region.id }!.region
        XCTAssertEqual(right.startKey, Array(key(5).utf8))

        // Stale epoch: the old version.
        var batch = WriteBatch()
        batch.put(.default, Array(key(1).utf8), Array("x".utf8))
        let stale = Kvrpcpb.Context(regionId: left.id, regionEpoch: parent.region.regionEpoch, peer: left.peers[0])
        do {
            try await node.storage.write(stale, batch)
            XCTFail("stale epoch accepted")
        } catch let error as RegionError {
            let regions = error.error.epochNotMatch?.currentRegions ?? []
            XCTAssertEqual(Set(regions.map(\.id)), [left.id, right.id])
        }
        do {
            _ = try await node.storage.reader(stale)
            XCTFail("stale epoch read accepted")
        } catch let error as RegionError {
            XCTAssertNotNil(error.error.epochNotMatch)
        }
        // A key of the right region sent to the left one.
        let current = Kvrpcpb.Context(regionId: left.id, regionEpoch: left.regionEpoch, peer: left.peers[0])
        var outside = WriteBatch()
        outside.put(.default, Array(key(7).utf8), Array("x".utf8))
        do {
            try await node.storage.write(current, outside)
            XCTFail("key outside the region accepted")
        } catch let error as RegionError {
            XCTAssertEqual(error.error.keyNotInRegion?.key, Array(key(7).utf8))
            XCTAssertEqual(error.error.keyNotInRegion?.regionId, left.id)
        }
        // Unknown region.
        do {
            _ = try await node.storage.reader(Kvrpcpb.Context(regionId: 9999))
            XCTFail("unknown region served")
        } catch let error as RegionError {
            XCTAssertNotNil(error.error.regionNotFound)
        }
        // Bounded reads: raw keys and encoded keys stay in their region.
        let leftReader = try await node.storage.reader(current)
        XCTAssertThrowsError(try leftReader.get(.default, Array(key(5).utf8)))
        XCTAssertEqual(try leftReader.get(.default, Array(key(4).utf8)), Array("v4".utf8))
        func rawKeys(_ reader: any KVReader) throws -> [String] {
            let iterator = try reader.makeIterator(.default, lowerBound: nil, upperBound: nil)
            iterator.seekToFirst()
            var keys: [String] = []
            while iterator.isValid {
                if RegionData.decodeVersioned(iterator.key) == nil { keys.append(String(decoding: iterator.key, as: UTF8.self)) }
                iterator.next()
            }
            return keys
        }
        func writeUserKeys(_ reader: any KVReader) throws -> [String] {
            let iterator = try reader.makeIterator(.write, lowerBound: nil, upperBound: nil)
            iterator.seekToFirst()
            var keys: [String] = []
            while iterator.isValid {
                keys.append(String(decoding: RegionData.decodeVersioned(iterator.key) ?? iterator.key, as: UTF8.self))
                iterator.next()
            }
            return keys
        }
        XCTAssertEqual(try rawKeys(leftReader), (0..<5).map(key))
        XCTAssertEqual(try writeUserKeys(leftReader), [key(4), key(4)])
        let rightContext = Kvrpcpb.Context(regionId: right.id, regionEpoch: right.regionEpoch, peer: right.peers[0])
        let rightReader = try await node.storage.reader(rightContext)
        XCTAssertEqual(try rawKeys(rightReader), (5..<10).map(key))
        XCTAssertEqual(try writeUserKeys(rightReader), [key(5), key(5)])
        var encoded5 = RegionData.encode(Array(key(5).utf8))
        encoded5.append(contentsOf: [UInt8](repeating: 0xFF, count: 8))
        XCTAssertThrowsError(try leftReader.get(.write, encoded5))
        // A split key outside the region is refused.
        do {
            try await node.splitRegion(left.id, at: Array(key(8).utf8))
            XCTFail("split outside the region accepted")
        } catch let error as RegionError {
            XCTAssertNotNil(error.error.keyNotInRegion)
        }
    }

    /// Small region sizes: concurrent writers make regions split again and again; every
    /// store holds every region, the scheduler's regions tile the key space, no data is lost
    /// and no key is served twice.
    func testAutomaticSplitsUnderLoad() async throws {
        cluster = try TestCluster(name: "auto-split")
        cluster.config.regionMaxSize = 12 << 10
        cluster.config.regionSplitSize = 8 << 10
        cluster.config.splitCheckTickInterval = .milliseconds(100)
        for _ in 0..<3 { try await cluster.addStore() }
        try await cluster.waitUntil("3 replicas", timeout: .seconds(20)) {
            await cluster.leader()?.1.region.peers.count == 3
        }
        let value = String(repeating: "x", count: 200)
        let clients = 4, perClient = 100
        let shared: TestCluster = cluster
        try await withThrowingTaskGroup(of: Void.self) { group in
            for c in 0..<clients {
                group.addTask {
                    for i in 0..<perClient { try await shared.put(Self.key(i * clients + c), value) }
                }
            }
            try await group.waitForAll()
        }
        // 80 KB of values with 8 KiB halves: several splits.
        try await cluster.waitUntil("at least 5 regions known to the scheduler", timeout: .seconds(20)) {
            let known = await cluster.schedulerRegions()
            return known.count >= 5 && tiles(known)
        }
        try await cluster.waitUntil("every store runs every region", timeout: .seconds(20)) {
            let known = Set(await cluster.schedulerRegions().map(\.id))
            let byStore = await regionsByStore()
            return byStore.values.allSatisfy { Set($0.map(\.id)) == known && tiles($0) }
        }
        let all = try await scanAll()
        XCTAssertEqual(all.count, clients * perClient)
        for i in 0..<(clients * perClient) {
            let got = try await cluster.get(key(i))
            XCTAssertEqual(got, value)
        }
    }

    /// After a split, lowering the replica count removes one store's peers of both regions
    /// (destroyed with their data); raising it adds them back by snapshot.
    func testRemovalAndReAddAfterSplit() async throws {
        cluster = try TestCluster(name: "split-remove")
        for _ in 0..<3 { try await cluster.addStore() }
        try await cluster.waitUntil("3 replicas", timeout: .seconds(20)) {
            await cluster.leader()?.1.region.peers.count == 3
        }
        for i in 0..<20 { try await cluster.put(key(i), "v\(i)") }
        try await cluster.split(at: key(10))
        try await cluster.waitUntil("split everywhere") { await regionsByStore().values.allSatisfy { $0.count == 2 } }
        try await cluster.setMaxPeerCount(2)
        try await cluster.waitUntil("2 replicas of each region", timeout: .seconds(20)) {
            let known = await cluster.schedulerRegions()
            return known.count == 2 && known.allSatisfy { $0.peers.count == 2 }
        }
        try await cluster.waitUntil("removed peers destroyed", timeout: .seconds(10)) {
            let known = await cluster.schedulerRegions()
            let byStore = await regionsByStore()
            return byStore.allSatisfy { store, regions in
                Set(regions.map(\.id)) == Set(known.filter { $0.peers.contains { $0.storeId == store } }.map(\.id))
            }
        }
        // No data leaks: a store keeps exactly the keys of the regions it still has.
        let known = await cluster.schedulerRegions()
        for node in cluster.nodes {
            let mine = known.filter { $0.peers.contains { $0.storeId == node.storeID } }
            try await cluster.waitUntil("store \(node.storeID) holds only its regions' data") {
                let stored = (try? node.storedRoutingKeys()) ?? []
                return stored.allSatisfy { key in mine.contains { RegionRange.contains($0, key) } }
                    && stored.count == (0..<20).filter { i in mine.contains { RegionRange.contains($0, Array(key(i).utf8)) } }.count
            }
        }
        try await cluster.setMaxPeerCount(3)
        try await cluster.waitUntil("3 replicas again", timeout: .seconds(20)) {
            let known = await cluster.schedulerRegions()
            return known.count == 2 && known.allSatisfy { $0.peers.count == 3 }
        }
        try await cluster.waitUntil("every store runs both regions", timeout: .seconds(10)) {
            await regionsByStore().values.allSatisfy { $0.count == 2 && tiles($0) }
        }
        for i in 0..<20 {
            let got = try await cluster.get(key(i))
            XCTAssertEqual(got, "v\(i)")
        }
        let all = try await scanAll()
        XCTAssertEqual(all.count, 20)
    }

    /// With balance-region and balance-leader on, a 4th store joining a 3-store cluster
    /// with many small regions receives replicas and leaders until counts are close.
    func testBalanceOntoNewStore() async throws {
        cluster = try TestCluster(name: "balance", balance: true)
        for _ in 0..<3 { try await cluster.addStore() }
        try await cluster.waitUntil("3 replicas", timeout: .seconds(20)) {
            await cluster.leader()?.1.region.peers.count == 3
        }
        for i in 0..<80 { try await cluster.put(key(i), "v\(i)") }
        for i in stride(from: 10, to: 80, by: 10) { try await cluster.split(at: key(i)) }
        try await cluster.waitUntil("8 regions known", timeout: .seconds(10)) { await cluster.schedulerRegions().count == 8 }
        let newStore = try await cluster.addStore().storeID
        // 24 replicas over 4 stores: 6 each; accept 4...8 and at least one leader on the new store.
        try await cluster.waitUntil("new store holds a fair share", timeout: .seconds(40)) {
            let known = await cluster.schedulerRegions()
            guard known.count == 8, known.allSatisfy({ $0.peers.count == 3 }) else { return false }
            var counts: [UInt64: Int] = [:]
            for region in known { for peer in region.peers { counts[peer.storeId, default: 0] += 1 } }
            let leaders = await cluster.node(newStore)!.regions().filter(\.isLeader).count
            return counts.count == 4 && counts.values.allSatisfy { (4...8).contains($0) } && leaders >= 1
        }
        for i in 0..<80 {
            let got = try await cluster.get(key(i))
            XCTAssertEqual(got, "v\(i)")
        }
    }

    /// Every store's copy of `regionIDs` equals the leader's (raw `default` family).
    private func replicasAgree(_ regionIDs: [UInt64]) async -> Bool {
        for id in regionIDs {
            var copies: [[String]] = []
            for node in cluster.nodes {
                guard let reader = await node.localReader(id) else { return false }
                guard let iterator = try? reader.makeIterator(.default, lowerBound: nil, upperBound: nil) else { return false }
                iterator.seekToFirst()
                var keys: [String] = []
                while iterator.isValid {
                    keys.append(String(decoding: iterator.key, as: UTF8.self) + "=" + String(decoding: iterator.value, as: UTF8.self))
                    iterator.next()
                }
                copies.append(keys)
            }
            if Set(copies.map { $0.joined(separator: ",") }).count != 1 { return false }
        }
        return true
    }

    /// A store cut off during a split and while the logs are truncated catches up by
    /// snapshots: its parent peer shrinks to the new range and the new region's peer is
    /// created (by message, once nothing overlaps) and filled by snapshot.
    func testSnapshotAcrossSplit() async throws {
        cluster = try TestCluster(name: "split-snapshot")
        cluster.config.logGCCountLimit = 10
        for _ in 0..<3 { try await cluster.addStore() }
        try await cluster.waitUntil("3 replicas", timeout: .seconds(20)) {
            await cluster.leader()?.1.region.peers.count == 3
        }
        for i in 0..<20 { try await cluster.put(key(i), "v\(i)") }
        let (leaderNode, _) = await cluster.leader()!
        let lagging = cluster.order.first { $0 != leaderNode.storeID }!
        cluster.network.isolate(lagging)
        try await cluster.split(at: key(10))
        for i in 0..<40 { try await cluster.put(key(i), "w\(i)") }
        try await cluster.waitUntil("logs truncated past the split") {
            let statuses = await leaderNode.regions()
            return statuses.count == 2 && statuses.allSatisfy { $0.firstIndex > 20 }
        }
        cluster.network.heal()
        try await cluster.waitUntil("lagging store has both regions", timeout: .seconds(15)) {
            let regions = await cluster.node(lagging)!.regions().map(\.region).filter { !$0.peers.isEmpty }
            return regions.count == 2 && tiles(regions)
        }
        let ids = await cluster.schedulerRegions().map(\.id)
        try await cluster.waitUntil("replicas agree", timeout: .seconds(10)) { await replicasAgree(ids) }
        let stored = try cluster.node(lagging)!.storedRoutingKeys()
        XCTAssertEqual(stored.count, 40, "no stale or duplicated data on the lagging store")
    }

    /// A follower crashes right after a split and restarts while writes continue: it
    /// comes back with both regions and the same data.
    func testSplitWithCrashAndRestart() async throws {
        cluster = try TestCluster(name: "split-crash")
        for _ in 0..<3 { try await cluster.addStore() }
        try await cluster.waitUntil("3 replicas", timeout: .seconds(20)) {
            await cluster.leader()?.1.region.peers.count == 3
        }
        for i in 0..<30 { try await cluster.put(key(i), "v\(i)") }
        let (leaderNode, _) = await cluster.leader()!
        let victim = cluster.order.first { $0 != leaderNode.storeID }!
        try await cluster.split(at: key(15))
        cluster.stop(victim)
        try await cluster.split(at: key(7))
        for i in 0..<30 { try await cluster.put(key(i), "w\(i)") }
        try await cluster.restart(victim)
        try await cluster.waitUntil("restarted store has every region", timeout: .seconds(15)) {
            let regions = await cluster.node(victim)!.regions().map(\.region).filter { !$0.peers.isEmpty }
            return regions.count == 3 && tiles(regions)
        }
        let ids = await cluster.schedulerRegions().map(\.id)
        XCTAssertEqual(ids.count, 3)
        try await cluster.waitUntil("replicas agree", timeout: .seconds(10)) { await replicasAgree(ids) }
        let all = try await scanAll()
        XCTAssertEqual(all.count, 30)
        XCTAssertTrue(all.values.allSatisfy { $0.hasPrefix("w") })
    }
}
