import Synchronization
import TinyKVProto
import XCTest
@testable import Transaction

/// A clock the test moves by hand (milliseconds).
final class ManualClock: Sendable {
    let now = Atomic<UInt64>(1_000_000)
    func advance(_ milliseconds: UInt64) { now.add(milliseconds, ordering: .relaxed) }
}

/// Percolator scenarios through ``PercolatorClient``, with a manual clock so TTLs are deterministic.
final class ClientTests: XCTestCase {
    /// Keeps the fixture (and its engine) open for the whole test.
    private var fixture: Fixture?

    private func makeClient() throws -> (Fixture, PercolatorClient, ManualClock) {
        let f = try Fixture()
        fixture = f
        // XCTest keeps test case instances to the end of the run: let go of the fixture (and its
        // database directory, which the fixture removes) when the test ends.
        addTeardownBlock { [weak self] in self?.fixture = nil }
        let clock = ManualClock()
        let oracle = LocalTimestampOracle(clock: { clock.now.load(ordering: .relaxed) })
        return (f, PercolatorClient(rpc: f.service, oracle: oracle, lockTTL: 100, lockWait: .milliseconds(1)), clock)
    }

    private let a: [UInt8] = Array("a".utf8), b: [UInt8] = Array("b".utf8)

    func testCommitAndSnapshotReads() async throws {
        let (_, client, _) = try makeClient()
        var first = try await client.begin()
        first.set(a, [1])
        first.set(b, [2])
        let commitTs = try await client.commit(first)
        XCTAssertGreaterThan(commitTs, first.startTs)

        var second = try await client.begin()
        second.delete(a)
        try await client.commit(second)

        let atFirst = try await client.get(a, at: commitTs)
        XCTAssertEqual(atFirst, [1])
        let latestA = try await client.get(a, at: try await client.oracle.next())
        XCTAssertNil(latestA)
        let pairs = try await client.scan(from: [], limit: 10, at: try await client.oracle.next())
        XCTAssertEqual(pairs.map(\.key), [b])
    }

    func testConcurrentWritersConflict() async throws {
        let (_, client, _) = try makeClient()
        var first = try await client.begin()
        var second = try await client.begin()
        first.set(a, [1])
        second.set(a, [2])
        try await client.commit(first)
        do {
            try await client.commit(second)
            XCTFail("second writer committed over a newer write")
        } catch PercolatorError.conflict {}
    }

    /// Writes `values` in one transaction (the first key is the primary) and stops after
    /// committing the primary, as a client that crashed then; returns the transaction and its commit ts.
    private func commitOnlyPrimary(_ client: PercolatorClient, _ values: [([UInt8], [UInt8])]) async throws -> (PercolatorTxn, UInt64) {
        var txn = try await client.begin()
        for (key, value) in values { txn.set(key, value) }
        try await client.prewrite(txn)
        let commitTs = try await client.oracle.next()
        try await client.commitPrimary(txn, at: commitTs)
        return (txn, commitTs)
    }

    /// A client crashed after committing the primary: a reader of a secondary commits it.
    func testReaderRollsForwardCrashedCommit() async throws {
        let (f, client, _) = try makeClient()
        let (txn, commitTs) = try await commitOnlyPrimary(client, [(a, [1]), (b, [2])])

        let value = try await client.get(b, at: try await client.oracle.next())
        XCTAssertEqual(value, [2])
        try f.assertCounts(2, 0, 2)
        try f.assertRows([.write(b, commitTs, .put, start: txn.startTs)])
    }

    /// A reader settles the lock it met, by key, and leaves the transaction's other locks to
    /// whoever meets them (no region-wide `ResolveLock` scan).
    func testReaderSettlesOnlyTheLockItMet() async throws {
        let (f, client, _) = try makeClient()
        let c: [UInt8] = Array("c".utf8)
        let (txn, commitTs) = try await commitOnlyPrimary(client, [(a, [1]), (b, [2]), (c, [3])])

        let seenB = try await client.get(b, at: try await client.oracle.next())
        XCTAssertEqual(seenB, [2])
        try f.assertCounts(3, 1, 2)  // c is still locked
        let seenC = try await client.get(c, at: try await client.oracle.next())
        XCTAssertEqual(seenC, [3])
        try f.assertCounts(3, 0, 3)
        try f.assertRows([.write(c, commitTs, .put, start: txn.startTs)])
    }

    /// A client crashed after prewrite: readers wait while its TTL runs, then roll it back.
    func testReaderRollsBackExpiredTransaction() async throws {
        let (f, client, clock) = try makeClient()
        var crashed = try await client.begin()
        crashed.set(a, [1])
        crashed.set(b, [2])
        try await client.prewrite(crashed)

        // Alive: CheckTxnStatus reports its TTL and changes nothing.
        let readTs = try await client.oracle.next()
        let status = await f.service.checkTxnStatus(Kvrpcpb.CheckTxnStatusRequest(primaryKey: a, lockTs: crashed.startTs, currentTs: readTs))
        XCTAssertEqual(status.action, .noAction)
        XCTAssertEqual(status.lockTtl, 100)

        clock.advance(100)
        let value = try await client.get(b, at: readTs)
        XCTAssertNil(value)
        try f.assertCounts(0, 0, 2)  // both keys rolled back: rollback records, no locks, no values

        // The crashed client wakes up: its commit aborts.
        do {
            try await client.commitPrimary(crashed, at: try await client.oracle.next())
            XCTFail("committed a rolled-back transaction")
        } catch PercolatorError.aborted {}
    }

    /// A prewrite that meets an abandoned lock resolves it, so the retry succeeds.
    func testWriterCleansUpAbandonedLock() async throws {
        let (_, client, clock) = try makeClient()
        var crashed = try await client.begin()
        crashed.set(a, [1])
        try await client.prewrite(crashed)
        clock.advance(200)

        var writer = try await client.begin()
        writer.set(a, [9])
        do {
            try await client.commit(writer)
            XCTFail("prewrite over a lock succeeded")
        } catch PercolatorError.conflict {}
        var retry = try await client.begin()
        retry.set(a, [9])
        try await client.commit(retry)
        let value = try await client.get(a, at: try await client.oracle.next())
        XCTAssertEqual(value, [9])
    }

    func testOracleIsStrictlyIncreasing() async throws {
        let clock = ManualClock()
        let oracle = LocalTimestampOracle(clock: { clock.now.load(ordering: .relaxed) })
        var last: UInt64 = 0
        for step in 0..<1000 {
            if step % 100 == 0 { clock.advance(1) }
            let ts = oracle.nextTimestamp()
            XCTAssertGreaterThan(ts, last)
            last = ts
        }
        XCTAssertEqual(Timestamp.physical(last), clock.now.load(ordering: .relaxed))
    }
}
