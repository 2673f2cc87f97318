import Logging
import Storage
import TinyKVProto

/// The seven transactional RPCs of TinyKV (KvGet, KvScan, KvPrewrite, KvCommit, KvCheckTxnStatus,
/// KvBatchRollback, KvResolveLock) over a ``TxnStorage``.
///
/// Commands that write take the latches of their keys, read one snapshot, decide, and apply all their
/// writes in one atomic ``TxnStorage/write(_:_:)`` before releasing the latches. Reads take no latches.
///
/// Errors: transaction outcomes are `KeyError`s exactly as TinyKV reports them. A ``RegionError`` from
/// the storage becomes the response's `region_error`; any other storage failure becomes a
/// `region_error` with only `message` set (TinyKV returns a gRPC error instead), so clients back off and
/// retry the request rather than fail it.
public final class TransactionService: Sendable {
    let storage: any TxnStorage
    let latches: Latches
    let logger: Logger

    /// - Parameters:
    ///   - storage: where commands read snapshots and apply their writes.
    ///   - latches: the latch table; share one between services over the same storage.
    ///   - logger: storage failures are logged at warning level.
    public init(storage: any TxnStorage, latches: Latches = Latches(), logger: Logger) {
        self.storage = storage
        self.latches = latches
        self.logger = logger
    }

    /// Runs a read-only command on a snapshot of the region holding `keys` (user keys: the
    /// storage compares their encodings with region bounds, ``KeySpace/transactional``).
    func read<Response: TxnResponse>(
        _ context: Kvrpcpb.Context?, keys: [[UInt8]], _ body: (MvccReader) throws -> Response
    ) async -> Response {
        do {
            let reader = try await storage.reader(context ?? Kvrpcpb.Context(), for: .transactional(keys))
            return try body(MvccReader(reader))
        } catch {
            return failure(error)
        }
    }

    /// Runs a writing command: latches `keys`, reads a snapshot, lets `body` decide, writes its batch.
    func write<Response: TxnResponse>(
        _ context: Kvrpcpb.Context?, keys: [[UInt8]], _ body: (MvccReader, inout MvccTxn) throws -> Response
    ) async -> Response {
        let context = context ?? Kvrpcpb.Context()
        return await latches.withLatches(keys) {
            do {
                let reader = MvccReader(try await storage.reader(context, for: .transactional(keys)))
                var txn = MvccTxn()
                let response = try body(reader, &txn)
                assert(Self.writesOnlyLatched(txn, keys), "a command wrote a key it did not latch")
                if !txn.isEmpty { try await storage.write(context, for: .transactional(keys), txn.batch) }
                return response
            } catch {
                return failure(error)
            }
        }
    }

    /// Whether every key `txn` writes is one of `keys` (TinyKV's latch validation; debug builds only).
    static func writesOnlyLatched(_ txn: MvccTxn, _ keys: [[UInt8]]) -> Bool {
        let latched = Set(keys)
        return txn.batch.operations.allSatisfy { operation in
            switch operation {
            case .put(.lock, let key, _), .delete(.lock, let key):
                return latched.contains(key)
            case .put(_, let key, _), .delete(_, let key):
                return (try? MvccKey.userKey(key)).map(latched.contains) ?? false
            case .deleteRange:
                return false
            }
        }
    }

    func failure<Response: TxnResponse>(_ error: any Error) -> Response {
        var response = Response()
        if let regionError = error as? RegionError {
            response.regionError = regionError.error
        } else {
            logger.warning("transaction command failed", metadata: ["error": "\(error)"])
            response.regionError = Errorpb.Error(message: "\(error)")
        }
        return response
    }
}

/// A response with a `region_error` field.
protocol TxnResponse: Sendable {
    init()
    var regionError: Errorpb.Error? { get set }
}

extension Kvrpcpb.GetResponse: TxnResponse {}
extension Kvrpcpb.ScanResponse: TxnResponse {}
extension Kvrpcpb.PrewriteResponse: TxnResponse {}
extension Kvrpcpb.CommitResponse: TxnResponse {}
extension Kvrpcpb.CheckTxnStatusResponse: TxnResponse {}
extension Kvrpcpb.BatchRollbackResponse: TxnResponse {}
extension Kvrpcpb.ResolveLockResponse: TxnResponse {}
