import Dispatch
import Logging
import Storage
import Synchronization
import TinyKVProto
import XCTest
@testable import Transaction

/// The callback forms of the transactional commands over a ``CallbackKVStorage`` (a real engine
/// answering writes from an "apply" queue): same outcomes as the async forms, each response sent
/// exactly once, latches released on every path.
/// A one-key prewrite with its key as primary.
private func prewrite(_ key: UInt8, _ value: [UInt8], ts: UInt64) -> Kvrpcpb.PrewriteRequest {
    Kvrpcpb.PrewriteRequest(mutations: [put(key, value)], primaryLock: [key], startVersion: ts, lockTtl: 1000)
}

final class CallbackPipelineTests: XCTestCase {
    private struct Setup {
        let fixture: Fixture
        let storage: ApplyThreadStorage
        let latches: Latches
        let service: TransactionService
    }

    private func setup() throws -> Setup {
        let fixture = try Fixture()
        let storage = ApplyThreadStorage(engine: fixture.engine)
        let latches = Latches()
        let service = TransactionService(storage: storage, latches: latches,
                                         logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                                         shortValueMaxLength: -1)  // TinyKV's layout, which the row checks assert
        XCTAssertTrue(service.answersByCallback)
        return Setup(fixture: fixture, storage: storage, latches: latches, service: service)
    }

    /// Starts a callback command and waits for its response; fails if it is answered twice.
    private func answer<Response: Sendable>(
        file: StaticString = #filePath, line: UInt = #line,
        _ start: (@escaping @Sendable (Response) -> Void) -> Void
    ) -> Response? {
        let responses = Mutex<[Response]>([])
        let answered = expectation(description: "answered")
        start { response in
            responses.withLock { $0.append(response) }
            answered.fulfill()
        }
        wait(for: [answered], timeout: 10)
        let all = responses.withLock { $0 }
        XCTAssertEqual(all.count, 1, "answered \(all.count) times", file: file, line: line)
        return all.first
    }

    func testPrewriteCommitGet() throws {
        let s = try setup()
        let prewritten = answer { s.service.prewrite(prewrite(3, [42], ts: 100), done: $0) }
        XCTAssertEqual(prewritten?.errors, [])
        XCTAssertNil(prewritten?.regionError)
        try s.fixture.assertRows([.value([3], 100, [42]), .lock([3], primary: [3], ts: 100, ttl: 1000)])

        let locked = answer { s.service.get(Kvrpcpb.GetRequest(key: [3], version: 120), done: $0) }
        XCTAssertEqual(locked?.error?.locked?.lockVersion, 100)

        let committed = answer {
            s.service.commit(Kvrpcpb.CommitRequest(startVersion: 100, keys: [[3]], commitVersion: 110), done: $0)
        }
        XCTAssertNil(committed?.error)
        XCTAssertNil(committed?.regionError)
        try s.fixture.assertCounts(1, 0, 1)
        try s.fixture.assertRows([.write([3], 110, .put, start: 100)])

        let read = answer { s.service.get(Kvrpcpb.GetRequest(key: [3], version: 120), done: $0) }
        XCTAssertEqual(read?.value, [42])
        let before = answer { s.service.get(Kvrpcpb.GetRequest(key: [3], version: 105), done: $0) }
        XCTAssertEqual(before?.notFound, true)
        XCTAssertEqual(s.storage.writeCount, 2)
        XCTAssertEqual(s.latches.heldCount, 0)
    }

    /// A key error is a response like any other: nothing is written and the latches are released.
    func testKeyErrorsWriteNothing() throws {
        let s = try setup()
        try s.fixture.load([.lock([3], primary: [3], ts: 90)])
        let prewritten = answer { s.service.prewrite(prewrite(3, [1], ts: 100), done: $0) }
        XCTAssertEqual(prewritten?.errors.first?.locked?.lockVersion, 90)
        let committed = answer {
            s.service.commit(Kvrpcpb.CommitRequest(startVersion: 100, keys: [[3]], commitVersion: 110), done: $0)
        }
        XCTAssertNotNil(committed?.error?.retryable)
        let rolledBack = answer { s.service.batchRollback(Kvrpcpb.BatchRollbackRequest(startVersion: 90, keys: [[3]]), done: $0) }
        XCTAssertNil(rolledBack?.error)
        let status = answer {
            s.service.checkTxnStatus(Kvrpcpb.CheckTxnStatusRequest(primaryKey: [3], lockTs: 90, currentTs: 100), done: $0)
        }
        XCTAssertEqual(status?.action, .noAction)  // rolled back above
        XCTAssertEqual(s.storage.writeCount, 1)
        try s.fixture.assertCounts(0, 0, 1)
        XCTAssertEqual(s.latches.heldCount, 0)
    }

    func testRegionErrorOnReadIsReturnedAsIs() throws {
        let s = try setup()
        let notLeader = Errorpb.Error(message: "not leader", notLeader: Errorpb.NotLeader(regionId: 7))
        s.storage.fail(read: RegionError(notLeader))
        let prewritten = answer { s.service.prewrite(prewrite(1, [1], ts: 10), done: $0) }
        XCTAssertEqual(prewritten?.regionError, notLeader)
        XCTAssertEqual(prewritten?.errors, [])
        let committed = answer { s.service.commit(Kvrpcpb.CommitRequest(startVersion: 10, keys: [[1]], commitVersion: 20), done: $0) }
        XCTAssertEqual(committed?.regionError, notLeader)
        let read = answer { s.service.get(Kvrpcpb.GetRequest(key: [1], version: 10), done: $0) }
        XCTAssertEqual(read?.regionError, notLeader)
        XCTAssertEqual(s.storage.writeCount, 0)
        XCTAssertEqual(s.latches.heldCount, 0)
    }

    func testFailedWritesReleaseTheLatches() throws {
        let s = try setup()
        let epoch = Errorpb.Error(message: "epoch", epochNotMatch: Errorpb.EpochNotMatch())
        s.storage.fail(write: RegionError(epoch))
        let prewritten = answer { s.service.prewrite(prewrite(1, [1], ts: 10), done: $0) }
        XCTAssertEqual(prewritten?.regionError, epoch)
        XCTAssertEqual(s.latches.heldCount, 0)

        s.storage.fail(write: StorageError.engine("disk full"))
        let failed = answer { s.service.prewrite(prewrite(1, [1], ts: 10), done: $0) }
        XCTAssertEqual(failed?.regionError?.message, "storage engine error: disk full")
        XCTAssertNil(failed?.regionError?.notLeader)
        XCTAssertEqual(s.latches.heldCount, 0)
        try s.fixture.assertCounts(0, 0, 0)
    }

    /// A command whose decision throws (a corrupt lock) answers a region error and releases.
    func testDecisionErrorReleasesTheLatches() throws {
        let s = try setup()
        try s.fixture.load([Row(cf: .lock, key: [1], value: [1, 2, 3])])
        let prewritten = answer { s.service.prewrite(prewrite(1, [1], ts: 10), done: $0) }
        XCTAssertNotNil(prewritten?.regionError?.message)
        XCTAssertEqual(s.latches.heldCount, 0)
        XCTAssertEqual(s.storage.writeCount, 0)
    }

    /// The latches are held until the write is applied: a second command on the key waits for the
    /// first one's apply, then decides on a snapshot that includes it.
    func testLatchesAreHeldUntilTheWriteApplies() throws {
        let s = try setup()
        s.storage.apply.suspend()
        let first = expectation(description: "first prewrite")
        let second = expectation(description: "second prewrite")
        let order = Mutex<[String]>([])
        s.service.prewrite(prewrite(3, [1], ts: 100)) { response in
            XCTAssertEqual(response.errors, [])
            order.withLock { $0.append("first") }
            first.fulfill()
        }
        s.service.prewrite(prewrite(3, [2], ts: 101)) { response in
            XCTAssertEqual(response.errors.first?.locked?.lockVersion, 100)
            order.withLock { $0.append("second") }
            second.fulfill()
        }
        XCTAssertEqual(s.latches.heldCount, 1)
        XCTAssertEqual(s.storage.writeCount, 1)
        XCTAssertEqual(order.withLock { $0 }, [])
        s.storage.apply.resume()
        wait(for: [first, second], timeout: 10)
        XCTAssertEqual(order.withLock { $0 }, ["first", "second"])
        XCTAssertEqual(s.latches.heldCount, 0)
    }

    /// Prewrites of one key by many transactions from many threads: exactly one wins.
    func testConcurrentPrewritesOfOneKeyHaveOneWinner() throws {
        let s = try setup()
        let count = 64
        let successes = Atomic<Int>(0)
        let answered = expectation(description: "all answered")
        answered.expectedFulfillmentCount = count
        let service = s.service
        DispatchQueue.concurrentPerform(iterations: count) { index in
            service.prewrite(prewrite(7, [UInt8(index)], ts: 100 + UInt64(index))) { response in
                if response.errors.isEmpty, response.regionError == nil { successes.add(1, ordering: .relaxed) }
                answered.fulfill()
            }
        }
        wait(for: [answered], timeout: 10)
        XCTAssertEqual(successes.load(ordering: .relaxed), 1)
        try s.fixture.assertCounts(1, 1, 0)
        XCTAssertEqual(s.latches.heldCount, 0)
    }

    /// On a storage without callbacks the callback forms still answer (through a task).
    func testCallbackFormsOnAnAsyncStorage() throws {
        let f = try Fixture()
        XCTAssertFalse(f.service.answersByCallback)
        let prewritten = answer { f.service.prewrite(prewrite(3, [42], ts: 100), done: $0) }
        XCTAssertEqual(prewritten?.errors, [])
        try f.assertCounts(1, 1, 0)
    }
}
