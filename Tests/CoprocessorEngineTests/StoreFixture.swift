import Codec
import Foundation
import Logging
import Storage
import TinyKVProto
import Transaction
import XCTest
@testable import CoprocessorEngine

/// A RocksDB-backed standalone store with the transactional and coprocessor services over it.
final class StoreFixture: @unchecked Sendable {
    let directory = NSTemporaryDirectory() + "copr-\(UUID().uuidString)"
    let engine: RocksEngine
    let committer: GroupCommitter
    let txn: TransactionService
    let copr: CoprocessorService

    init() throws {
        engine = try RocksEngine(path: directory)
        committer = GroupCommitter(engine: engine)
        var logger = Logger(label: "copr-test")
        logger.logLevel = .error
        let storage = StandaloneStorage(engine: engine, committer: committer)
        txn = TransactionService(storage: storage, logger: logger)
        copr = CoprocessorService(storage: storage, logger: logger)
    }

    deinit {
        committer.stop()
        engine.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Writes `pairs` in one transaction through KvPrewrite (and KvCommit unless `commit` is false).
    func write(_ pairs: [(key: [UInt8], value: [UInt8]?)], startTs: UInt64, commitTs: UInt64, commit: Bool = true,
               file: StaticString = #filePath, line: UInt = #line) async {
        let mutations = pairs.map { Kvrpcpb.Mutation(op: $0.value == nil ? .del : .put, key: $0.key, value: $0.value ?? []) }
        let prewrite = await txn.prewrite(Kvrpcpb.PrewriteRequest(mutations: mutations, primaryLock: pairs[0].key, startVersion: startTs, lockTtl: 3000))
        XCTAssertNil(prewrite.regionError, file: file, line: line)
        XCTAssertEqual(prewrite.errors, [], file: file, line: line)
        guard commit else { return }
        let response = await txn.commit(Kvrpcpb.CommitRequest(startVersion: startTs, keys: pairs.map(\.key), commitVersion: commitTs))
        XCTAssertNil(response.error, file: file, line: line)
        XCTAssertNil(response.regionError, file: file, line: line)
    }

    /// Sends a DAG request and returns the raw response.
    func send(_ dag: Tipb.DAGRequest, ranges: [(start: [UInt8], end: [UInt8])], startTs: UInt64) async -> Coprocessor.Response {
        await copr.handle(Coprocessor.Request(context: Kvrpcpb.Context(), tp: 103, data: dag.encode(),
                                              ranges: ranges.map { Coprocessor.KeyRange(start: $0.start, end: $0.end) }, startTs: startTs))
    }

    /// Sends a DAG request and decodes its rows (each `width` datums), failing the test on any error.
    func rows(_ dag: Tipb.DAGRequest, ranges: [(start: [UInt8], end: [UInt8])], startTs: UInt64, width: Int,
              file: StaticString = #filePath, line: UInt = #line) async throws -> [[Datum]] {
        let response = await send(dag, ranges: ranges, startTs: startTs)
        XCTAssertEqual(response.otherError, "", file: file, line: line)
        XCTAssertNil(response.locked, file: file, line: line)
        XCTAssertNil(response.regionError, file: file, line: line)
        let select = try response.data.withUnsafeBytes { try Tipb.SelectResponse(decoding: $0) }
        XCTAssertNil(select.error, file: file, line: line)
        XCTAssertEqual(select.encodeType, .typeDefault, file: file, line: line)
        // Decode as TinySQL's distsql does: chunk by chunk, `width` datums per row.
        var rows: [[Datum]] = []
        for chunk in select.chunks {
            let datums = try DatumCodec.decodeAll(chunk.rowsData ?? [])
            XCTAssertEqual(datums.count % width, 0, file: file, line: line)
            rows += stride(from: 0, to: datums.count, by: width).map { Array(datums[$0..<($0 + width)]) }
        }
        return rows
    }
}
