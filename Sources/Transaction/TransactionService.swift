import Logging
import Storage
import TinyKVProto

/// The seven transactional RPCs of TinyKV (KvGet, KvScan, KvPrewrite, KvCommit, KvCheckTxnStatus,
/// KvBatchRollback, KvResolveLock) over a ``TxnStorage``.
///
/// Commands that write take the latches of their keys, read one snapshot, decide, and apply all their
/// writes in one atomic ``TxnStorage/write(_:_:)`` before releasing the latches. Reads take no latches.
///
/// Each command is built once (a ``ReadCommand`` or ``WriteCommand``) and run by one of two pipelines:
/// the async one (any storage), or, on a ``CallbackKVStorage`` (the raft store), the callback one
/// (`TransactionService+Callbacks.swift`), which runs latches, snapshot, decision and write without
/// a Swift task.
///
/// Errors: transaction outcomes are `KeyError`s exactly as TinyKV reports them. A ``RegionError`` from
/// the storage becomes the response's `region_error`; any other storage failure becomes a
/// `region_error` with only `message` set (TinyKV returns a gRPC error instead), so clients back off and
/// retry the request rather than fail it.
public final class TransactionService: Sendable {
    let storage: any TxnStorage
    /// The same storage when it answers by callback (the raft store).
    let callbackStorage: (any CallbackKVStorage)?
    let latches: Latches
    let logger: Logger
    /// Prewritten values up to this many bytes go in the lock and write records (``ShortValue``).
    let shortValueMaxLength: Int

    /// - Parameters:
    ///   - storage: where commands read snapshots and apply their writes.
    ///   - latches: the latch table; share one between services over the same storage.
    ///   - logger: storage failures are logged at warning level.
    ///   - shortValueMaxLength: values up to this long are kept in the lock and write records,
    ///     longer ones in `default`; -1 keeps every value in `default`, as TinyKV does.
    public init(storage: any TxnStorage, latches: Latches = Latches(), logger: Logger, shortValueMaxLength: Int = ShortValue.maxLength) {
        self.storage = storage
        self.callbackStorage = storage as? any CallbackKVStorage
        self.latches = latches
        self.logger = logger
        self.shortValueMaxLength = shortValueMaxLength
    }

    /// Runs a read-only command on a snapshot of the region holding its keys.
    func read<Response>(_ command: ReadCommand<Response>) async -> Response {
        do {
            return try command.body(MvccReader(try await storage.reader(command.context, for: .transactional(command.keys))))
        } catch {
            return failure(error)
        }
    }

    /// Runs a writing command: latches its keys, reads a snapshot, lets it decide, writes its batch.
    func write<Response>(_ command: WriteCommand<Response>) async -> Response {
        let keys = RequestKeys.transactional(command.keys)
        return await latches.withLatches(command.keys) {
            do {
                let (response, batch) = try command.decide(try await storage.reader(command.context, for: keys))
                if !batch.isEmpty { try await storage.write(command.context, for: keys, batch) }
                return response
            } catch {
                return failure(error)
            }
        }
    }

    /// The response for a storage failure: a ``RegionError`` as the client's `region_error`, anything
    /// else (logged) as a `region_error` carrying only its message.
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
