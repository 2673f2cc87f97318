import TinyKVProto

extension TransactionService {
    /// KvBatchRollback: rolls back the transaction started at `start_version` on `keys`: removes its lock
    /// and value and leaves a rollback record at `start_version`, so a late prewrite of it fails and a
    /// late commit aborts. Idempotent; a key locked by another transaction, or never prewritten, still gets
    /// the rollback record.
    ///
    /// Error (and then nothing is written): `abort` when the transaction is already committed on a key.
    public func batchRollback(_ request: Kvrpcpb.BatchRollbackRequest) async -> Kvrpcpb.BatchRollbackResponse {
        await write(batchRollbackCommand(request))
    }

    /// ``batchRollback(_:)`` answered through `done` (see ``answersByCallback``).
    public func batchRollback(_ request: Kvrpcpb.BatchRollbackRequest,
                              done: @escaping @Sendable (Kvrpcpb.BatchRollbackResponse) -> Void) {
        write(batchRollbackCommand(request), done: done)
    }

    func batchRollbackCommand(_ request: Kvrpcpb.BatchRollbackRequest) -> WriteCommand<Kvrpcpb.BatchRollbackResponse> {
        WriteCommand(request.context, keys: request.keys) { mvcc, txn in
            var response = Kvrpcpb.BatchRollbackResponse()
            for key in request.keys {
                if let error = try self.rollbackKey(key, startTs: request.startVersion, mvcc, &txn) {
                    response.error = error
                    txn.discard()
                    break
                }
            }
            return response
        }
    }

    /// Rolls back one key; returns an error when the transaction is committed there.
    func rollbackKey(_ key: [UInt8], startTs: UInt64, _ mvcc: MvccReader, _ txn: inout MvccTxn) throws -> Kvrpcpb.KeyError? {
        if let (write, commitTs) = try mvcc.write(of: key, startTs: startTs) {
            if write.kind == .rollback { return nil }
            return Kvrpcpb.KeyError(abort: "transaction \(startTs) is already committed at \(commitTs) on key \(key)")
        }
        let lock = try mvcc.lock(key)
        if let lock, lock.ts == startTs {
            rollbackLock(key, lock, &txn)
        } else {
            txn.putWrite(key, commitTs: startTs, Write(startTs: startTs, kind: .rollback))
        }
        return nil
    }

    /// Removes `lock` (held on `key` by its transaction) and its value, and writes the rollback record.
    func rollbackLock(_ key: [UInt8], _ lock: Lock, _ txn: inout MvccTxn) {
        if lock.kind == .put { txn.deleteValue(key, startTs: lock.ts) }
        txn.deleteLock(key)
        txn.putWrite(key, commitTs: lock.ts, Write(startTs: lock.ts, kind: .rollback))
    }
}
