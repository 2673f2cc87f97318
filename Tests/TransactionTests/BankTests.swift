import Foundation
import Raft
import Synchronization
import TinyKVProto
import XCTest
@testable import Transaction

/// Counters shared by the bank's clients.
final class BankStats: Sendable {
    let commits = Atomic<Int>(0)
    let aborts = Atomic<Int>(0)
    let crashes = Atomic<Int>(0)
    let audits = Atomic<Int>(0)
    let done = Atomic<Bool>(false)
}

/// N accounts, concurrent clients moving money with Percolator transactions, auditors checking that every
/// snapshot sees the same total; some clients "crash" between the two phases and others clean up.
final class BankTests: XCTestCase {
    static let initialBalance = 1000

    struct Bank {
        let fixture: Fixture
        let client: PercolatorClient
        let accounts: Int

        var total: Int { accounts * BankTests.initialBalance }

        static func key(_ index: Int) -> [UInt8] { Array(String(format: "acct-%04d", index).utf8) }

        static func balance(_ bytes: [UInt8]?) -> Int { bytes.map { Int(String(decoding: $0, as: UTF8.self))! } ?? 0 }
        static func bytes(_ balance: Int) -> [UInt8] { Array(String(balance).utf8) }

        init(accounts: Int, lockTTL: UInt64) async throws {
            fixture = try Fixture()
            client = PercolatorClient(rpc: fixture.service, oracle: LocalTimestampOracle(), lockTTL: lockTTL, lockWait: .milliseconds(1))
            self.accounts = accounts
            var txn = try await client.begin()
            for index in 0..<accounts { txn.set(Self.key(index), Self.bytes(BankTests.initialBalance)) }
            try await client.commit(txn)
        }

        /// The sum of all balances in one snapshot (a scan, resolving locks).
        func audit() async throws -> Int {
            let ts = try await client.oracle.next()
            let pairs = try await client.scan(from: Array("acct-".utf8), limit: UInt32(accounts + 1), at: ts)
            XCTAssertEqual(pairs.count, accounts)
            return pairs.reduce(0) { $0 + Self.balance($1.value) }
        }

        /// The sum of all balances in one snapshot, read key by key.
        func auditByGets() async throws -> Int {
            let ts = try await client.oracle.next()
            var sum = 0
            for index in 0..<accounts { sum += Self.balance(try await client.get(Self.key(index), at: ts)) }
            return sum
        }

        enum Crash { case none, afterPrewrite, afterPrimaryCommit }

        /// One transfer, retried until it commits (or its client crashes).
        func transfer(_ rng: inout SeededGenerator, crashRate: Double, stats: BankStats) async throws {
            let from = Int.random(in: 0..<accounts, using: &rng)
            var to = Int.random(in: 0..<(accounts - 1), using: &rng)
            if to >= from { to += 1 }
            let roll = Double.random(in: 0..<1, using: &rng)
            let crash: Crash = roll < crashRate / 2 ? .afterPrewrite : roll < crashRate ? .afterPrimaryCommit : .none
            let wanted = Int.random(in: 1...100, using: &rng)
            while true {
                var txn = try await client.begin()
                let fromBalance = Self.balance(try await client.get(txn, Self.key(from)))
                let toBalance = Self.balance(try await client.get(txn, Self.key(to)))
                let amount = min(wanted, fromBalance)
                txn.set(Self.key(from), Self.bytes(fromBalance - amount))
                txn.set(Self.key(to), Self.bytes(toBalance + amount))
                do {
                    switch crash {
                    case .none:
                        try await client.commit(txn)
                    case .afterPrewrite:
                        try await client.prewrite(txn)
                        stats.crashes.add(1, ordering: .relaxed)
                    case .afterPrimaryCommit:
                        try await client.prewrite(txn)
                        try await client.commitPrimary(txn, at: try await client.oracle.next())
                        stats.crashes.add(1, ordering: .relaxed)
                    }
                    stats.commits.add(1, ordering: .relaxed)
                    return
                } catch let error as PercolatorError {
                    if case .region(let regionError) = error { XCTFail("region error \(regionError)") }
                    stats.aborts.add(1, ordering: .relaxed)
                }
            }
        }
    }

    /// Runs `clients` transferring clients and one auditor until each client made `transfers` transfers,
    /// or until `duration` passes.
    func run(_ bank: Bank, clients: Int, transfers: Int, duration: Duration?, crashRate: Double) async throws -> (BankStats, Duration) {
        let stats = BankStats()
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = duration.map { start + $0 }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while !stats.done.load(ordering: .relaxed) {
                    let sum = try await bank.audit()
                    XCTAssertEqual(sum, bank.total, "scan audit")
                    let byGets = try await bank.auditByGets()
                    XCTAssertEqual(byGets, bank.total, "get audit")
                    stats.audits.add(1, ordering: .relaxed)
                    try await Task.sleep(for: .milliseconds(5))
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { workers in
                for client in 0..<clients {
                    workers.addTask {
                        var rng = SeededGenerator(seed: UInt64(client) &* 7919 &+ 1)
                        var made = 0
                        while made < transfers, deadline.map({ clock.now < $0 }) ?? true {
                            try await bank.transfer(&rng, crashRate: crashRate, stats: stats)
                            made += 1
                        }
                    }
                }
                try await workers.waitForAll()
            }
            stats.done.store(true, ordering: .relaxed)
            try await group.waitForAll()
        }
        return (stats, clock.now - start)
    }

    func testTransfersKeepTotalWithCrashedClients() async throws {
        let bank = try await Bank(accounts: 8, lockTTL: 50)
        let (stats, elapsed) = try await run(bank, clients: 16, transfers: 15, duration: nil, crashRate: 0.1)
        // Every lock left by crashed clients is resolved by the final snapshot read.
        let finalScan = try await bank.audit()
        XCTAssertEqual(finalScan, bank.total)
        let finalGets = try await bank.auditByGets()
        XCTAssertEqual(finalGets, bank.total)
        XCTAssertEqual(try bank.fixture.count(.lock), 0)
        XCTAssertEqual(stats.commits.load(ordering: .relaxed), 16 * 15)
        XCTAssertGreaterThan(stats.crashes.load(ordering: .relaxed), 0)
        XCTAssertGreaterThan(stats.audits.load(ordering: .relaxed), 0)
        print("bank(16 clients, 8 accounts, 10% crashes): \(stats.commits.load(ordering: .relaxed)) transfers, "
              + "\(stats.crashes.load(ordering: .relaxed)) crashed, \(stats.aborts.load(ordering: .relaxed)) aborted attempts, "
              + "\(stats.audits.load(ordering: .relaxed)) audits in \(elapsed)")
    }

    /// Throughput: 32 clients, no crashes, for a fixed time.
    func testThroughput32Clients() async throws {
        for accounts in [32, 1024] {
            let bank = try await Bank(accounts: accounts, lockTTL: 3000)
            let (stats, elapsed) = try await run(bank, clients: 32, transfers: .max, duration: .seconds(2), crashRate: 0)
            let finalScan = try await bank.audit()
            XCTAssertEqual(finalScan, bank.total)
            let commits = stats.commits.load(ordering: .relaxed)
            let aborts = stats.aborts.load(ordering: .relaxed)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(String(format: "bank throughput (32 clients, %d accounts): %.0f committed txn/s, abort rate %.1f%% (%d commits, %d aborted attempts, %d audits)",
                         accounts, Double(commits) / seconds, 100 * Double(aborts) / Double(max(commits + aborts, 1)), commits, aborts,
                         stats.audits.load(ordering: .relaxed)))
        }
    }
}
