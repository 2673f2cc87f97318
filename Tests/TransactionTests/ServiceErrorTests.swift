import Logging
import Storage
import TinyKVProto
import XCTest
@testable import Transaction

/// A storage that fails: reads with `readError`, writes with `writeError` (reads from `engine` otherwise).
private final class FailingStorage: TxnStorage, @unchecked Sendable {
    let engine: RocksEngine
    let readError: (any Error)?
    let writeError: (any Error)?

    init(engine: RocksEngine, readError: (any Error)? = nil, writeError: (any Error)? = nil) {
        self.engine = engine
        self.readError = readError
        self.writeError = writeError
    }

    func reader(_ context: Kvrpcpb.Context, for keys: RequestKeys) async throws -> any KVReader {
        if let readError { throw readError }
        return try engine.snapshot()
    }

    func write(_ context: Kvrpcpb.Context, for keys: RequestKeys, _ batch: WriteBatch) async throws {
        if let writeError { throw writeError }
        try engine.write(batch, sync: false)
    }
}

final class ServiceErrorTests: XCTestCase {
    private func service(_ f: Fixture, readError: (any Error)? = nil, writeError: (any Error)? = nil) -> TransactionService {
        TransactionService(storage: FailingStorage(engine: f.engine, readError: readError, writeError: writeError),
                           logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    func testRegionErrorIsReturnedAsIs() async throws {
        let f = try Fixture()
        let notLeader = Errorpb.Error(message: "not leader", notLeader: Errorpb.NotLeader(regionId: 7))
        let s = service(f, readError: RegionError(notLeader))
        let get = await s.get(Kvrpcpb.GetRequest(key: [1], version: 10))
        XCTAssertEqual(get.regionError, notLeader)
        XCTAssertNil(get.error)
        let scan = await s.scan(Kvrpcpb.ScanRequest(startKey: [], limit: 10, version: 10))
        XCTAssertEqual(scan.regionError, notLeader)
        let prewrite = await s.prewrite(Kvrpcpb.PrewriteRequest(mutations: [put(1, [1])], primaryLock: [1], startVersion: 10))
        XCTAssertEqual(prewrite.regionError, notLeader)
        let resolve = await s.resolveLock(Kvrpcpb.ResolveLockRequest(startVersion: 10))
        XCTAssertEqual(resolve.regionError, notLeader)
    }

    func testOtherStorageErrorsBecomeRegionErrorMessages() async throws {
        let f = try Fixture()
        let s = service(f, writeError: StorageError.engine("disk full"))
        let prewrite = await s.prewrite(Kvrpcpb.PrewriteRequest(mutations: [put(1, [1])], primaryLock: [1], startVersion: 10))
        XCTAssertTrue(prewrite.errors.isEmpty)
        XCTAssertEqual(prewrite.regionError?.message, "storage engine error: disk full")
        XCTAssertNil(prewrite.regionError?.notLeader)
        try f.assertCounts(0, 0, 0)
        // A command that writes nothing never calls write.
        let status = await s.checkTxnStatus(Kvrpcpb.CheckTxnStatusRequest(primaryKey: [1], lockTs: 10, currentTs: 20))
        XCTAssertEqual(status.regionError?.message, "storage engine error: disk full")
        let commit = await s.commit(Kvrpcpb.CommitRequest(startVersion: 10, keys: [[1]], commitVersion: 20))
        XCTAssertNil(commit.regionError)
        XCTAssertNil(commit.error)
    }

    func testCorruptLockIsReported() async throws {
        let f = try Fixture()
        try f.load([Row(cf: .lock, key: [1], value: [1, 2, 3])])
        let get = await f.service.get(Kvrpcpb.GetRequest(key: [1], version: 10))
        XCTAssertNotNil(get.regionError?.message)
    }
}
