import Foundation
import Linearizability
import RaftStore
import Storage
import Synchronization
import TinyKVProto
import XCTest

/// One of the course's classic scenarios (TinyKV's `GenericTest`): clients appending to
/// their own key and writing shared keys for a few rounds, while the network drops
/// messages or partitions the stores, and with every store crashed and restarted between
/// rounds; then every client's appends are checked and the whole history must be
/// linearizable.
struct Scenario: CustomStringConvertible {
    var name: String
    var stores = 5
    var clients = 1
    var rounds = 2
    var roundDuration: Duration = .milliseconds(1_200)
    /// Drop this share of raft messages during rounds.
    var unreliable = false
    /// Repartition the stores at random every election timeout or so during rounds.
    var partitions = false
    /// Stop every store and reopen it from disk after each round.
    var crash = false
    /// `raft-log-gc-count-limit` (nil: the harness default), with a log-size check per round.
    var logGCCountLimit: UInt64?
    /// Isolate one store for each round, so it must catch up by snapshot after compaction.
    var isolateOne = false
    /// Change the replica count the scheduler keeps (3...stores) at random during rounds, so
    /// the replica checker adds and removes peers (the leader's too) while clients run (3B).
    var confChange = false
    /// `region-max-size` in bytes (nil: no splits); splits are checked every 100 ms (3B).
    var regionMaxSize: UInt64?
    var seed: UInt64 = 1

    var description: String {
        "\(name) seed=\(seed) stores=\(stores) clients=\(clients) rounds=\(rounds) unreliable=\(unreliable) partitions=\(partitions) crash=\(crash) gc=\(logGCCountLimit.map(String.init) ?? "-") confchange=\(confChange) split=\(regionMaxSize.map(String.init) ?? "-")"
    }
}

/// Long runs (`RAFTSTORE_LONG=1`, `make test-long`): more seeds, rounds and time per round.
/// `RAFTSTORE_SEED=N` reruns a single seed.
enum ScenarioRuns {
    static var isLong: Bool { ProcessInfo.processInfo.environment["RAFTSTORE_LONG"] != nil }

    static func seeds(default seed: UInt64) -> [UInt64] {
        if let text = ProcessInfo.processInfo.environment["RAFTSTORE_SEED"], let seed = UInt64(text) { return [seed] }
        if isLong {
            let count = Int(ProcessInfo.processInfo.environment["RAFTSTORE_SEEDS"] ?? "") ?? 3
            return (0..<UInt64(count)).map { seed &+ 1000 &* $0 }
        }
        return [seed]
    }

    static func lengthen(_ scenario: Scenario) -> Scenario {
        guard isLong else { return scenario }
        var scenario = scenario
        scenario.rounds = max(scenario.rounds, 3)
        scenario.roundDuration = .seconds(3)
        return scenario
    }
}

final class ScenarioTests: XCTestCase {
    private var cluster: TestCluster?

    override func tearDown() {
        cluster?.shutdown()
        cluster = nil
    }

    // MARK: - The scenarios (TinyKV's 2B and 2C tests)

    func testBasic() async throws {
        try await run(Scenario(name: "basic", clients: 1), seed: 11)
    }

    func testConcurrentClients() async throws {
        try await run(Scenario(name: "concurrent", clients: 5), seed: 12)
    }

    func testUnreliableNetwork() async throws {
        try await run(Scenario(name: "unreliable", clients: 5, unreliable: true), seed: 13)
    }

    func testManyPartitionsOneClient() async throws {
        try await run(Scenario(name: "partitions-1", clients: 1, partitions: true), seed: 14)
    }

    func testManyPartitionsManyClients() async throws {
        try await run(Scenario(name: "partitions-n", clients: 5, partitions: true), seed: 15)
    }

    func testPersistOneClient() async throws {
        try await run(Scenario(name: "persist-1", clients: 1, crash: true), seed: 16)
    }

    func testPersistConcurrent() async throws {
        try await run(Scenario(name: "persist-n", clients: 5, crash: true), seed: 17)
    }

    func testPersistConcurrentUnreliable() async throws {
        try await run(Scenario(name: "persist-unreliable", clients: 5, unreliable: true, crash: true), seed: 18)
    }

    func testPersistPartition() async throws {
        try await run(Scenario(name: "persist-partition", clients: 5, partitions: true, crash: true), seed: 19)
    }

    func testPersistPartitionUnreliable() async throws {
        try await run(Scenario(name: "persist-partition-unreliable", clients: 5, unreliable: true, partitions: true, crash: true), seed: 20)
    }

    func testSnapshotRecover() async throws {
        try await run(Scenario(name: "snapshot-recover", clients: 1, crash: true, logGCCountLimit: 20, isolateOne: true), seed: 21)
    }

    func testSnapshotUnreliableRecoverConcurrentPartition() async throws {
        try await run(Scenario(name: "snapshot-all", clients: 5, unreliable: true, partitions: true, crash: true, logGCCountLimit: 20), seed: 22)
    }

    /// TinyKV's TestOnePartition2B: with the leader on the majority side, the partition
    /// changes nothing; with the leader on the minority side, the old leader acknowledges
    /// neither writes nor reads, the majority elects a leader and serves, and after the heal
    /// the old leader's write is answered with an error and never shows.
    func testOnePartition() async throws {
        for seed in ScenarioRuns.seeds(default: 23) {
            let started = ContinuousClock.now
            do {
                try await onePartition(seed: seed)
            } catch {
                XCTFail("one-partition seed=\(seed): \(error)")
            }
            cluster?.shutdown()
            cluster = nil
            print("scenario one-partition seed=\(seed) took \(ContinuousClock.now - started)")
        }
    }

    private func onePartition(seed: UInt64) async throws {
        let name = "one-partition seed=\(seed)"
        let cluster = try await startCluster(Scenario(name: "one-partition"))
        self.cluster = cluster
        var random = SeededRandom(seed: seed)
        let history = History(), inFlight = InFlight()
        let client = ScenarioClient(id: 0, cluster: cluster, history: history, inFlight: inFlight)
        let soon: () -> ContinuousClock.Instant = { .now + .seconds(15) }
        let electionTimeout = cluster.config.baseTickInterval * cluster.config.electionTicks
        var ok = await client.mustPut("k1", "v1", deadline: soon())
        XCTAssertTrue(ok, "\(name): first put")

        // Leader in the majority: nothing changes for clients; the minority can't serve reads.
        guard let (leader, _) = await cluster.leader() else { return XCTFail("\(name): no leader") }
        var others = cluster.order.filter { $0 != leader.storeID }
        others.shuffle(using: &random)
        cluster.network.partition([[leader.storeID, others[0], others[1]], [others[2], others[3]]])
        ok = await client.mustPut("k1", "v2", deadline: soon())
        XCTAssertTrue(ok, "\(name): put with the leader in the majority")
        let read = await client.mustGet("k1", deadline: soon())
        XCTAssertEqual(read, .some("v2"), "\(name): read with the leader in the majority")
        for id in [others[2], others[3]] {
            let node = cluster.node(id)!
            if case .success(let value) = await client.attemptGet("k1", on: await client.context(on: node).map { (node, $0) }) {
                XCTFail("\(name): minority store \(id) served a read (\(value ?? "nil"))")
            }
        }

        // Leader in the minority: its write and read are not acknowledged.
        cluster.network.partition([[leader.storeID, others[2]], [others[0], others[1], others[3]]])
        guard let context = await client.context(on: leader) else { return XCTFail("\(name): leader has no region") }
        var stale = WriteBatch()
        stale.put(.default, Array("k1".utf8), Array("stale".utf8))
        let staleBatch = stale
        history.record(KVOperation(client: 99, input: .put(key: "k1", value: "stale"), output: nil, call: HistoryClock.now(), returned: 0))
        let staleWrite = Task { () -> Errorpb.Error? in
            do { try await leader.storage.write(context, staleBatch); return nil } catch let error as RegionError { return error.error } catch { return Errorpb.Error(message: "\(error)") }
        }
        // A lease earned before the partition lets the old leader serve reads for less than an
        // election timeout (linearizable: no other leader can be elected before it runs out);
        // after that it must not serve.
        try await Task.sleep(for: electionTimeout)
        if case .success(let value) = await client.attemptGet("k1", on: (leader, context), timeout: electionTimeout * 4) {
            XCTFail("\(name): the old leader in the minority served a read (\(value ?? "nil"))")
        }
        // The majority elects a leader of its own and serves.
        let majority = Set([others[0], others[1], others[3]])
        try await cluster.waitUntil("a leader in the majority") {
            for id in majority { if await cluster.node(id)?.regions().first?.isLeader == true { return true } }
            return false
        }
        ok = await client.mustPut("k1", "v3", deadline: soon())
        XCTAssertTrue(ok, "\(name): put with the leader in the minority")
        let majorityRead = await client.mustGet("k1", deadline: soon())
        XCTAssertEqual(majorityRead, .some("v3"), "\(name): read on the majority side")
        let answeredEarly = await waitAtMost(.milliseconds(10), inFlight: inFlight) { await staleWrite.value }
        if case .success(nil)? = answeredEarly { XCTFail("\(name): the old leader acknowledged a write in the minority") }

        // Heal: the old leader's entry is overwritten; its write is answered with an error.
        cluster.network.heal()
        switch await waitAtMost(.seconds(10), inFlight: inFlight, { await staleWrite.value }) {
        case .success(nil)?: XCTFail("\(name): the old leader's write was acknowledged after the heal")
        case .success(let error?)?: XCTAssertTrue(error.staleCommand != nil || error.notLeader != nil, "\(name): stale write answered with \(error)")
        case nil: XCTFail("\(name): the old leader's write was never answered")
        case .failure: break
        }
        let final = await client.mustGet("k1", deadline: soon())
        XCTAssertEqual(final, .some("v3"), "\(name): after the heal")
        let result = LinearizabilityChecker(model: KVModel()).check(history.all)
        if case .linearizable = result {} else { XCTFail("\(name): history not linearizable: \(result)") }
    }

    // MARK: - Runner

    func run(_ base: Scenario, seed: UInt64) async throws {
        for seed in ScenarioRuns.seeds(default: seed) {
            var scenario = ScenarioRuns.lengthen(base)
            scenario.seed = seed
            let started = ContinuousClock.now
            do {
                try await runOnce(scenario)
            } catch {
                XCTFail("\(scenario): \(error)")
            }
            cluster?.shutdown()
            cluster = nil
            print("scenario \(scenario) took \(ContinuousClock.now - started)")
        }
    }

    /// Appends of one client to its own keys: the value of the current key is everything
    /// acknowledged since it was started; a new key starts every `segmentLength` appends.
    private struct AppendState {
        static let segmentLength = 64
        var client: Int
        var last = ""
        var next = 0
        /// Keys filled earlier and their final values.
        var finished: [(key: String, value: String)] = []

        var key: String { "append-\(client)-\(next / Self.segmentLength)" }

        mutating func appended(_ value: String) {
            next += 1
            if next % Self.segmentLength == 0 {
                finished.append((key(for: next - 1), value))
                last = ""
            } else {
                last = value
            }
        }

        private func key(for index: Int) -> String { "append-\(client)-\(index / Self.segmentLength)" }
        var expected: [(key: String, value: String)] { finished + [(key, last)] }
    }

    private func runOnce(_ scenario: Scenario) async throws {
        let cluster = try await startCluster(scenario)
        self.cluster = cluster
        cluster.network.state.withLock { $0.random = SimNetwork.SplitMix(seed: scenario.seed) }
        let history = History()
        let inFlight = InFlight()
        var random = SeededRandom(seed: scenario.seed)
        let clients = (0..<scenario.clients).map { ScenarioClient(id: $0, cluster: cluster, history: history, inFlight: inFlight) }
        var appends = (0..<scenario.clients).map { AppendState(client: $0) }
        let failures = Failures()
        var snapshotsForced = 0
        var confChangesSeen = 0
        let startConfVer = await cluster.leader()?.1.region.regionEpoch?.confVer ?? 0

        for round in 0..<scenario.rounds {
            if scenario.unreliable { cluster.network.state.withLock { $0.dropRate = 0.1 } }
            var isolated: UInt64?
            if scenario.isolateOne {
                isolated = cluster.order[Int(random.next() % UInt64(cluster.order.count))]
                cluster.network.isolate(isolated!)
            }
            let deadline = ContinuousClock.now + scenario.roundDuration
            let done = Flag()
            let partitionSeed = random.next()
            var partitioner: Task<Void, Never>?
            if scenario.partitions {
                partitioner = Task { await runPartitioner(cluster, seed: partitionSeed, done: done) }
            }
            let confChangeSeed = random.next()
            var confChanger: Task<Int, Never>?
            if scenario.confChange {
                confChanger = Task { await runConfChanger(cluster, stores: scenario.stores, seed: confChangeSeed, done: done) }
            }
            // Clients run concurrently; each returns its append state.
            let work = clients.map { (client: $0, state: appends[$0.id], seed: random.next()) }
            let results = await withTaskGroup(of: (Int, AppendState).self) { group in
                for item in work {
                    group.addTask {
                        (item.client.id, await Self.clientLoop(item.client, state: item.state, seed: item.seed, deadline: deadline, failures: failures))
                    }
                }
                var states: [(Int, AppendState)] = []
                for await result in group { states.append(result) }
                return states
            }
            for (id, state) in results { appends[id] = state }
            done.set()
            await partitioner?.value
            confChangesSeen += await confChanger?.value ?? 0
            cluster.network.heal()
            cluster.network.state.withLock { $0.dropRate = 0 }

            if let isolated, scenario.logGCCountLimit != nil {
                // Is the leader's log compacted past the isolated store's (catching up needs a snapshot)?
                if let (_, leader) = await cluster.leader(), let behind = await cluster.node(isolated)?.regions().first,
                   leader.firstIndex > behind.lastIndex + 1 {
                    snapshotsForced += 1
                }
                // The isolated store fell behind; it catches up after the heal (by snapshot when the log was compacted past it).
                try await waitCaughtUp(cluster, store: isolated)
            }
            debug("round \(round) clients done")
            if !failures.isEmpty { await dumpClusterState(cluster, reason: "round \(round): a client gave up") }
            if scenario.crash {
                try await drain(inFlight)
                if inFlight.value > 0 {
                    failures.add("round \(round): \(inFlight.value) requests still unanswered 10s after their client gave up")
                }
                debug("round \(round) drained")
                var order = cluster.order
                order.shuffle(using: &random)
                for id in order { cluster.stop(id) }
                for id in order { try await cluster.restart(id) }
            }
            // Each client's key holds exactly its acknowledged appends, in order.
            let checker = ScenarioClient(id: 1000 + round, cluster: cluster, history: history, inFlight: inFlight)
            check: for state in appends {
                for (key, expected) in state.expected {
                    guard let value = await checker.mustGet(key, deadline: .now + .seconds(20)) else {
                        failures.add("round \(round): cannot read \(key) (cluster stuck?)")
                        break check
                    }
                    if (value ?? "") != expected {
                        failures.add("round \(round): \(key) = \(value ?? "nil"), want \(expected)")
                    }
                }
            }
            debug("round \(round) checked appends")
            if let limit = scenario.logGCCountLimit { try await checkLogSize(cluster, limit: limit, round: round, failures: failures) }
            if !failures.isEmpty { break }
        }

        let operations = history.all
        let attempts = clients.reduce(0) { $0 + $1.attempts }
        print("scenario \(scenario.name) seed=\(scenario.seed): \(operations.count) operations (\(history.unknownCount) unknown), \(attempts) attempts, appends \(appends.map(\.next)), snapshots forced \(snapshotsForced)")
        for failure in failures.all { XCTFail("\(scenario): \(failure)") }
        XCTAssertGreaterThan(appends.reduce(0) { $0 + $1.next }, 0, "\(scenario): no append acknowledged")
        let regions = await cluster.schedulerRegions()
        if scenario.regionMaxSize != nil {
            XCTAssertGreaterThan(regions.count, 1, "\(scenario): no region split")
            print("scenario \(scenario.name) seed=\(scenario.seed): \(regions.count) regions")
        }
        if scenario.confChange {
            let confVer = regions.map { $0.regionEpoch?.confVer ?? 0 }.max() ?? 0
            print("scenario \(scenario.name) seed=\(scenario.seed): \(confChangesSeen) replica-count changes, conf_ver \(startConfVer) -> \(confVer)")
            XCTAssertGreaterThan(confVer, startConfVer, "\(scenario): no membership change happened")
        }
        if scenario.isolateOne && scenario.logGCCountLimit != nil {
            XCTAssertGreaterThan(snapshotsForced, 0, "\(scenario): no round compacted the log past the isolated store")
        }
        switch LinearizabilityChecker(model: KVModel()).check(operations) {
        case .linearizable: break
        case .violation(let partition):
            let lines = partition.sorted { $0.call < $1.call }.map { op in
                "  client \(op.client) \(op.input) -> \(op.output.map { "\($0)" } ?? "unknown") [\(op.call / 1_000_000)ms, \(op.output == nil ? "?" : "\(op.returned / 1_000_000)ms")]"
            }
            XCTFail("\(scenario): history not linearizable for key \(partition.first?.input.key ?? "?"):\n" + lines.suffix(60).joined(separator: "\n"))
        case .unknown:
            XCTFail("\(scenario): linearizability check gave up (history too concurrent)")
        }
    }

    /// One client's round: appends to its own key (put until acknowledged, then its reads
    /// must return exactly the appended values), reads it back, and writes/reads shared keys.
    private static func clientLoop(_ client: ScenarioClient, state: AppendState, seed: UInt64,
                                   deadline: ContinuousClock.Instant, failures: Failures) async -> AppendState {
        var random = SeededRandom(seed: seed)
        var state = state
        var sequence = 0
        while ContinuousClock.now < deadline {
            let dice = random.next() % 100
            if dice < 40 {
                let value = state.last + "x \(client.id) \(state.next) y;"
                guard await client.mustPut(state.key, value, deadline: .now + .seconds(20)) else {
                    failures.add("client \(client.id): append \(state.next) not acknowledged in 20s (cluster stuck?)")
                    return state
                }
                state.appended(value)
            } else if dice < 60 {
                if case .success(let value) = await client.attemptGet(state.key), (value ?? "") != state.last {
                    failures.add("client \(client.id): read \(state.key) = \(value ?? "nil"), want \(state.last)")
                }
            } else if dice < 80 {
                sequence += 1
                _ = await client.attemptPut("shared-\(random.next() % 3)", "c\(client.id)-\(sequence)")
            } else {
                _ = await client.attemptGet("shared-\(random.next() % 3)")
            }
        }
        return state
    }

    // MARK: - Helpers

    func startCluster(_ scenario: Scenario) async throws -> TestCluster {
        let cluster = try TestCluster(name: String(scenario.name.prefix(20)))
        if let limit = scenario.logGCCountLimit { cluster.config.logGCCountLimit = limit }
        if let size = scenario.regionMaxSize {
            cluster.config.regionMaxSize = size
            cluster.config.regionSplitSize = size / 2
            cluster.config.splitCheckTickInterval = .milliseconds(100)
        }
        try await cluster.addStore()
        try await cluster.setMaxPeerCount(UInt32(scenario.stores))
        for _ in 1..<scenario.stores { try await cluster.addStore() }
        try await cluster.waitUntil("\(scenario.stores) replicas", timeout: .seconds(30)) {
            guard let (_, status) = await cluster.leader(), status.region.peers.count == scenario.stores else { return false }
            for node in cluster.nodes {
                guard let region = await node.regions().first, !region.region.peers.isEmpty else { return false }
            }
            return true
        }
        return cluster
    }

    /// Waits until requests abandoned by clients finished inside the stores.
    /// A request that stays unanswered that long is stuck in the store (a proposal nobody will answer).
    private func drain(_ inFlight: InFlight) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while inFlight.value > 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }

    }

    private func waitCaughtUp(_ cluster: TestCluster, store: UInt64) async throws {
        try await cluster.waitUntil("store \(store) caught up", timeout: .seconds(20)) {
            guard let (_, leader) = await cluster.leader(),
                  let status = await cluster.node(store)?.regions().first else { return false }
            return status.appliedIndex + 5 >= leader.appliedIndex
        }
    }

    /// Like TinyKV's check: no store keeps much more than the GC limit of applied log.
    private func checkLogSize(_ cluster: TestCluster, limit: UInt64, round: Int, failures: Failures) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        var sizes: [UInt64: UInt64] = [:]
        while ContinuousClock.now < deadline {
            sizes = [:]
            for node in cluster.nodes {
                for status in await node.regions() {
                    sizes[node.storeID] = max(sizes[node.storeID] ?? 0, status.appliedIndex - min(status.appliedIndex, status.firstIndex))
                }
            }
            if sizes.values.allSatisfy({ $0 <= 3 * limit }) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        failures.add("round \(round): raft log too large (limit \(limit)): \(sizes)")
    }
}

/// Splits the stores in two random groups, again and again, until `done`.
func runPartitioner(_ cluster: TestCluster, seed: UInt64, done: Flag) async {
    var random = SeededRandom(seed: seed)
    let electionTimeout = cluster.config.baseTickInterval * cluster.config.electionTicks
    while !done.isSet {
        var groups: [[UInt64]] = [[], []]
        for id in cluster.order { groups[Int(random.next() % 2)].append(id) }
        cluster.network.partition(groups)
        try? await Task.sleep(for: electionTimeout + .milliseconds(Int(random.next() % 200)))
    }
}

/// Sets the scheduler's replica count to a random value in 3...stores, again and again, until
/// `done`: the replica checker then adds or removes a peer (removing the leader's peer hands
/// leadership over first). Returns how many changes it made.
func runConfChanger(_ cluster: TestCluster, stores: Int, seed: UInt64, done: Flag) async -> Int {
    var random = SeededRandom(seed: seed)
    let electionTimeout = cluster.config.baseTickInterval * cluster.config.electionTicks
    var current = stores, changes = 0
    while !done.isSet {
        let next = 3 + Int(random.next() % UInt64(max(1, stores - 2)))
        if next != current {
            try? await cluster.setMaxPeerCount(UInt32(next))
            current = next
            changes += 1
        }
        try? await Task.sleep(for: electionTimeout / 2 + .milliseconds(Int(random.next() % 200)))
    }
    return changes
}

func debug(_ message: @autoclosure () -> String) {
    if ProcessInfo.processInfo.environment["SCENARIO_DEBUG"] != nil { print("[\(HistoryClock.now() / 1_000_000)ms] \(message())") }
}

/// A flag set once, read from other tasks.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// Failures found by concurrent clients, reported at the end of a scenario.
final class Failures: Sendable {
    private let items = Mutex<[String]>([])
    func add(_ message: String) { items.withLock { $0.append(message) } }
    var all: [String] { items.withLock { $0 } }
    var isEmpty: Bool { items.withLock { $0.isEmpty } }
}
