import TinyKVProto

extension TransactionService {
    /// KvResolveLock: commits (at `commit_version`) or, when `commit_version` is 0, rolls back every key
    /// still locked by the transaction started at `start_version`, with the semantics of KvCommit and
    /// KvBatchRollback (and their errors).
    ///
    /// Async only: finding the locks scans the whole lock column family, which transport and raft
    /// threads must not do.
    public func resolveLock(_ request: Kvrpcpb.ResolveLockRequest) async -> Kvrpcpb.ResolveLockResponse {
        let found: [[UInt8]]
        do {
            let reader = MvccReader(try await storage.reader(request.context ?? Kvrpcpb.Context(), for: .transactional([])))
            found = try reader.locks(startTs: request.startVersion).map(\.key)
        } catch {
            return failure(error)
        }
        if found.isEmpty { return Kvrpcpb.ResolveLockResponse() }
        // The locks were found without latches; commitKey/rollbackKey re-read them under the latches.
        return await write(WriteCommand(request.context, keys: found) { mvcc, txn in
            var response = Kvrpcpb.ResolveLockResponse()
            for key in found {
                let error = request.commitVersion == 0
                    ? try self.rollbackKey(key, startTs: request.startVersion, mvcc, &txn)
                    : try self.commitKey(key, startTs: request.startVersion, commitTs: request.commitVersion, mvcc, &txn)
                if let error {
                    response.error = error
                    txn.discard()
                    break
                }
            }
            return response
        })
    }
}
