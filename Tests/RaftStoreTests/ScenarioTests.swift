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
    var seed: UInt64 = 1

    var description: String {
        "\(name) seed=\(seed) stores=\(stores) clients=\(clients) rounds=\(rounds) unreliable=\(unreliable) partitions=\(partitions) crash=\(crash) gc=\(logGCCountLimit.map(String.init) ?? "-")"
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

    // MARK: - Runner

    private func run(_ base: Scenario, seed: UInt64) async throws {
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

    /// Appends of one client to its own key: the value is everything acknowledged so far.
    private struct AppendState {
        var key: String
        var last = ""
        var next = 0
    }

    private func runOnce(_ scenario: Scenario) async throws {
        let cluster = try await startCluster(scenario)
        self.cluster = cluster
        cluster.network.state.withLock { $0.random = SimNetwork.SplitMix(seed: scenario.seed) }
        let history = History()
        let inFlight = InFlight()
        var random = SeededRandom(seed: scenario.seed)
        let clients = (0..<scenario.clients).map { ScenarioClient(id: $0, cluster: cluster, history: history, inFlight: inFlight) }
        var appends = (0..<scenario.clients).map { AppendState(key: "append-\($0)") }
        let failures = Failures()

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
            cluster.network.heal()
            cluster.network.state.withLock { $0.dropRate = 0 }

            if let isolated, scenario.logGCCountLimit != nil {
                // The isolated store fell behind; it catches up after the heal (by snapshot when the log was compacted past it).
                try await waitCaughtUp(cluster, store: isolated)
            }
            if scenario.crash {
                try await drain(inFlight)
                var order = cluster.order
                order.shuffle(using: &random)
                for id in order { cluster.stop(id) }
                for id in order { try await cluster.restart(id) }
            }
            // Each client's key holds exactly its acknowledged appends, in order.
            let checker = ScenarioClient(id: 1000 + round, cluster: cluster, history: history, inFlight: inFlight)
            for state in appends {
                guard let value = await checker.mustGet(state.key, deadline: .now + .seconds(20)) else {
                    failures.add("round \(round): cannot read \(state.key) (cluster stuck?)")
                    break
                }
                if (value ?? "") != state.last {
                    failures.add("round \(round): \(state.key) = \(value ?? "nil"), want \(state.last)")
                }
            }
            if let limit = scenario.logGCCountLimit { try await checkLogSize(cluster, limit: limit, round: round, failures: failures) }
            if !failures.isEmpty { break }
        }

        let operations = history.all
        let writes = clients.reduce(0) { $0 + $1.attempts }
        print("scenario \(scenario.name) seed=\(scenario.seed): \(operations.count) operations (\(history.unknownCount) unknown), \(writes) attempts, appends \(appends.map(\.next))")
        for failure in failures.all { XCTFail("\(scenario): \(failure)") }
        XCTAssertGreaterThan(appends.reduce(0) { $0 + $1.next }, 0, "\(scenario): no append acknowledged")
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
                state.last = value
                state.next += 1
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

    private func startCluster(_ scenario: Scenario) async throws -> TestCluster {
        let cluster = try TestCluster(name: String(scenario.name.prefix(20)))
        if let limit = scenario.logGCCountLimit { cluster.config.logGCCountLimit = limit }
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
                if let status = await node.regions().first { sizes[node.storeID] = status.appliedIndex - min(status.appliedIndex, status.firstIndex) }
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
