import Foundation
import Synchronization
import TinyKVProto

/// The transactional RPCs as a client sees them. ``TransactionService`` conforms (in-process); a gRPC
/// client to a TinyKV server can conform too.
public protocol TxnKVClient: Sendable {
    func get(_ request: Kvrpcpb.GetRequest) async throws -> Kvrpcpb.GetResponse
    func scan(_ request: Kvrpcpb.ScanRequest) async throws -> Kvrpcpb.ScanResponse
    func prewrite(_ request: Kvrpcpb.PrewriteRequest) async throws -> Kvrpcpb.PrewriteResponse
    func commit(_ request: Kvrpcpb.CommitRequest) async throws -> Kvrpcpb.CommitResponse
    func checkTxnStatus(_ request: Kvrpcpb.CheckTxnStatusRequest) async throws -> Kvrpcpb.CheckTxnStatusResponse
    func batchRollback(_ request: Kvrpcpb.BatchRollbackRequest) async throws -> Kvrpcpb.BatchRollbackResponse
    func resolveLock(_ request: Kvrpcpb.ResolveLockRequest) async throws -> Kvrpcpb.ResolveLockResponse
    /// Commits `request.keys[0]` (the primary) together with those other keys that live in the
    /// primary's region, in one request (so one raft write commits them all, atomically, as
    /// TiDB commits the primary's batch); returns the response and the keys it covered. The
    /// transaction is committed once this succeeds; the remaining keys are secondaries.
    func commitPrimaryBatch(_ request: Kvrpcpb.CommitRequest) async throws -> (response: Kvrpcpb.CommitResponse, committed: [[UInt8]])
}

extension TxnKVClient {
    /// Without regions (one store holds every key) the whole request is the primary's batch.
    public func commitPrimaryBatch(_ request: Kvrpcpb.CommitRequest) async throws -> (response: Kvrpcpb.CommitResponse, committed: [[UInt8]]) {
        (try await commit(request), request.keys)
    }
}

extension TransactionService: TxnKVClient {}

/// A source of unique, increasing TSO-style timestamps.
public protocol TimestampOracle: Sendable {
    func next() async throws -> UInt64
}

/// A process-local timestamp oracle: wall-clock milliseconds in the physical part (so lock TTLs mean
/// milliseconds), a counter in the logical part, strictly increasing.
public final class LocalTimestampOracle: TimestampOracle {
    private let last = Mutex<UInt64>(0)
    private let clock: @Sendable () -> UInt64

    /// - Parameter clock: milliseconds since some epoch; the system clock by default.
    public init(clock: @escaping @Sendable () -> UInt64 = LocalTimestampOracle.systemMilliseconds) {
        self.clock = clock
    }

    public func next() async throws -> UInt64 { nextTimestamp() }

    /// The next timestamp: `max(last + 1, now << 18)`.
    public func nextTimestamp() -> UInt64 {
        let physical = Timestamp.compose(physical: clock(), logical: 0)
        return last.withLock { last in
            last = max(last + 1, physical)
            return last
        }
    }

    /// Wall-clock milliseconds since 1970.
    @Sendable public static func systemMilliseconds() -> UInt64 {
        UInt64(Date().timeIntervalSince1970 * 1000)
    }
}
