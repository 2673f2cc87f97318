import Storage
import TinyKVProto

/// A read-only command: where it reads and what it answers from a snapshot there. Built once per
/// request and run by either the async or the callback pipeline of ``TransactionService``.
struct ReadCommand<Response: TxnResponse>: Sendable {
    let context: Kvrpcpb.Context
    /// User keys: the storage checks their encodings against the region (``KeySpace/transactional``).
    let keys: [[UInt8]]
    let body: @Sendable (MvccReader) throws -> Response

    init(_ context: Kvrpcpb.Context?, keys: [[UInt8]], _ body: @escaping @Sendable (MvccReader) throws -> Response) {
        self.context = context ?? Kvrpcpb.Context()
        self.keys = keys
        self.body = body
    }
}

/// A writing command: the keys it latches (and may write), and its decision on a snapshot taken
/// under those latches: the response, with the writes accumulated in the ``MvccTxn``.
struct WriteCommand<Response: TxnResponse>: Sendable {
    let context: Kvrpcpb.Context
    let keys: [[UInt8]]
    let body: @Sendable (MvccReader, inout MvccTxn) throws -> Response

    init(_ context: Kvrpcpb.Context?, keys: [[UInt8]],
         _ body: @escaping @Sendable (MvccReader, inout MvccTxn) throws -> Response) {
        self.context = context ?? Kvrpcpb.Context()
        self.keys = keys
        self.body = body
    }

    /// Runs the body on `snapshot`: the response and the batch to apply (empty: nothing to write).
    func decide(_ snapshot: any KVReader) throws -> (Response, WriteBatch) {
        var txn = MvccTxn()
        let response = try body(MvccReader(snapshot), &txn)
        assert(Self.writesOnlyLatched(txn, keys), "a command wrote a key it did not latch")
        return (response, txn.batch)
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
}
