import Foundation
import Linearizability
import Raft
import RaftStore
import Storage
import Synchronization
import TinyKVProto
import XCTest

typealias KVOperation = ClientOperation<KVModel.Input, KVModel.Output>

/// A monotonic clock for histories: nanoseconds since the first use.
enum HistoryClock {
    private static let origin = ContinuousClock.now

    static func now() -> Int64 {
        let elapsed = ContinuousClock.now - origin
        return elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
    }
}

/// The operations of every client of one scenario, for the linearizability check.
final class History: Sendable {
    private let operations = Mutex<[KVOperation]>([])

    func record(_ operation: KVOperation) { operations.withLock { $0.append(operation) } }

    var all: [KVOperation] { operations.withLock { $0 } }
    var count: Int { operations.withLock { $0.count } }
    var unknownCount: Int { operations.withLock { $0.filter { $0.output == nil }.count } }
}

/// A small seeded generator (clients' choices, partitions): the same seed gives the same plan.
typealias SeededRandom = SeededGenerator

/// How one attempt at a request ended.
enum AttemptOutcome<T: Sendable>: Sendable {
    case success(T)
    /// Refused before it could take effect (not leader, wrong store, epoch or key range).
    case refused(RegionError)
    /// May or may not have taken effect (timeout, stale command, store stopped, unknown error).
    case unknown(String)
}

/// Counts requests still running inside the stores after their client gave up on them,
/// so a scenario can let them drain before it closes engines under them.
final class InFlight: Sendable {
    private let count = Mutex(0)
    func enter() { count.withLock { $0 += 1 } }
    func leave() { count.withLock { $0 -= 1 } }
    var value: Int { count.withLock { $0 } }
}

/// A continuation resumed by whichever of two tasks comes first.
final class OnceSlot<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, Never>?>(nil)
    func set(_ value: CheckedContinuation<T, Never>) { continuation.withLock { $0 = value } }
    func resume(_ value: T) { continuation.withLock { $0.take() }?.resume(returning: value) }
}

/// Runs `body` in its own task and waits at most `timeout` for it (the request keeps
/// running in the store when the wait gives up: its outcome is then unknown).
func waitAtMost<T: Sendable>(_ timeout: Duration, inFlight: InFlight,
                             _ body: @escaping @Sendable () async throws -> T) async -> Result<T, any Error>? {
    let slot = OnceSlot<Result<T, any Error>?>()
    return await withCheckedContinuation { continuation in
        slot.set(continuation)
        inFlight.enter()
        let timer = Task {
            do { try await Task.sleep(for: timeout) } catch { return }  // cancelled: the request answered
            slot.resume(nil)
        }
        Task {
            let result: Result<T, any Error>
            let started = ContinuousClock.now
            do { result = .success(try await body()) } catch { result = .failure(error) }
            if ProcessInfo.processInfo.environment["SCENARIO_DEBUG"] != nil, ContinuousClock.now - started > .milliseconds(300) {
                print("slow request: \(ContinuousClock.now - started) \(result) at \(HistoryClock.now() / 1_000_000)ms")
            }
            inFlight.leave()
            slot.resume(result)
            timer.cancel()
        }
    }
}

/// A client of the in-process cluster, like TinyKV's test client: it sends each request to
/// the store it believes leads (following `not_leader` hints, moving on after timeouts) and
/// records every attempt in the history with its call and return times.
///
/// Writes refused before proposal are left out of the history (they took no effect); writes
/// that time out or end ambiguously (`stale_command`, store stopped) are recorded with an
/// unknown outcome. Reads that fail are left out.
final class ScenarioClient: @unchecked Sendable {
    let id: Int
    let cluster: TestCluster
    let history: History
    let inFlight: InFlight
    /// How long one attempt may take before the client tries elsewhere.
    var attemptTimeout: Duration = .milliseconds(600)
    private var leaderHint: UInt64?
    private var rotation = 0
    private(set) var attempts = 0
    private(set) var unknownWrites = 0

    init(id: Int, cluster: TestCluster, history: History, inFlight: InFlight) {
        self.id = id
        self.cluster = cluster
        self.history = history
        self.inFlight = inFlight
    }

    /// The store to try next and the request context for its view of the region holding `key`.
    private func target(_ key: String) async -> (RaftStoreNode, Kvrpcpb.Context)? {
        let order = cluster.order
        if let hint = leaderHint, let node = cluster.node(hint), let context = await context(on: node, key: key) { return (node, context) }
        leaderHint = nil
        for _ in 0..<order.count {
            rotation += 1
            if let node = cluster.node(order[rotation % order.count]), let context = await context(on: node, key: key) { return (node, context) }
        }
        return nil
    }

    /// The request context for `node`'s own view of the region holding `key` (with several
    /// regions after splits: the one whose range has the key, newest epoch first); without a
    /// key, the first region.
    func context(on node: RaftStoreNode, key: String? = nil) async -> Kvrpcpb.Context? {
        let statuses = await node.regions().filter { !$0.region.peers.isEmpty }
        let status: RaftStoreNode.RegionStatus?
        if let key {
            let bytes = Array(key.utf8)
            status = statuses.filter { status in
                let region = status.region
                return !bytes.lexicographicallyPrecedes(region.startKey) && (region.endKey.isEmpty || bytes.lexicographicallyPrecedes(region.endKey))
            }.max { ($0.isLeader ? 1 : 0, $0.region.regionEpoch?.version ?? 0) < ($1.isLeader ? 1 : 0, $1.region.regionEpoch?.version ?? 0) }
        } else {
            status = statuses.first
        }
        guard let status else { return nil }
        let peer = status.region.peers.first { $0.id == status.peerID }
        return Kvrpcpb.Context(regionId: status.region.id, regionEpoch: status.region.regionEpoch, peer: peer)
    }

    private func moveOn(after error: RegionError?, from node: RaftStoreNode) {
        if let leader = error?.error.notLeader?.leader, leader.storeId != 0, leader.storeId != node.storeID {
            leaderHint = leader.storeId
        } else {
            leaderHint = nil
            rotation += 1
        }
    }

    /// One attempt at `put`; records it (unless refused) and reports how it ended.
    func attemptPut(_ key: String, _ value: String, on chosen: (RaftStoreNode, Kvrpcpb.Context)? = nil,
                    timeout: Duration? = nil) async -> AttemptOutcome<Void> {
        guard let (node, context) = await (chosen != nil ? chosen : target(key)) else { return .refused(RegionError(Errorpb.Error(message: "no store"))) }
        attempts += 1
        var write = WriteBatch()
        write.put(.default, Array(key.utf8), Array(value.utf8))
        let batch = write
        let call = HistoryClock.now()
        let result = await waitAtMost(timeout ?? attemptTimeout, inFlight: inFlight) { try await node.storage.write(context, batch) }
        let returned = HistoryClock.now()
        let outcome: AttemptOutcome<Void>
        switch result {
        case .success?: outcome = .success(())
        case .failure(let error as RegionError)?:
            let e = error.error
            if e.notLeader != nil || e.storeNotMatch != nil || e.epochNotMatch != nil || e.keyNotInRegion != nil {
                outcome = .refused(error)
            } else {
                outcome = .unknown(error.description)
            }
        case .failure(let error)?: outcome = .unknown("\(error)")
        case nil: outcome = .unknown("timeout")
        }
        switch outcome {
        case .success:
            leaderHint = node.storeID
            history.record(KVOperation(client: id, input: .put(key: key, value: value), output: .ok, call: call, returned: returned))
        case .unknown(let why):
            unknownWrites += 1
            if ProcessInfo.processInfo.environment["SCENARIO_DEBUG"] != nil { print("client \(id) put \(key) on store \(node.storeID): unknown (\(why))") }
            history.record(KVOperation(client: id, input: .put(key: key, value: value), output: nil, call: call, returned: returned))
            moveOn(after: nil, from: node)
        case .refused(let error):
            moveOn(after: error, from: node)
        }
        return outcome
    }

    /// One attempt at `get`; records it if it succeeded.
    func attemptGet(_ key: String, on chosen: (RaftStoreNode, Kvrpcpb.Context)? = nil,
                    timeout: Duration? = nil) async -> AttemptOutcome<String?> {
        guard let (node, context) = await (chosen != nil ? chosen : target(key)) else { return .refused(RegionError(Errorpb.Error(message: "no store"))) }
        attempts += 1
        let call = HistoryClock.now()
        let result = await waitAtMost(timeout ?? attemptTimeout, inFlight: inFlight) { () -> String? in
            let reader = try await node.storage.reader(context)
            return try reader.get(.default, Array(key.utf8)).map { String(decoding: $0, as: UTF8.self) }
        }
        let returned = HistoryClock.now()
        switch result {
        case .success(let value)?:
            leaderHint = node.storeID
            history.record(KVOperation(client: id, input: .get(key: key), output: .value(value), call: call, returned: returned))
            return .success(value)
        case .failure(let error as RegionError)?:
            moveOn(after: error, from: node)
            return .refused(error)
        case .failure(let error)?:
            moveOn(after: nil, from: node)
            return .unknown("\(error)")
        case nil:
            moveOn(after: nil, from: node)
            return .unknown("timeout")
        }
    }

    /// Puts until acknowledged (TinyKV's MustPut); false if `deadline` passed first.
    func mustPut(_ key: String, _ value: String, deadline: ContinuousClock.Instant) async -> Bool {
        while ContinuousClock.now < deadline {
            if case .success = await attemptPut(key, value) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// Gets until a read succeeds; nil (outer) if `deadline` passed first.
    func mustGet(_ key: String, deadline: ContinuousClock.Instant) async -> String?? {
        while ContinuousClock.now < deadline {
            if case .success(let value) = await attemptGet(key) { return .some(value) }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }
}
