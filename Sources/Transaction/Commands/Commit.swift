import TinyKVProto

extension TransactionService {
    /// KvCommit: turns the locks of the transaction started at `start_version` on `keys` into write
    /// records at `commit_version`. Idempotent: keys already committed by it are skipped.
    ///
    /// Errors (and then nothing is written): `retryable` when a key is locked by another transaction and
    /// this one left no record there; `abort` when this transaction was rolled back on a key, or when
    /// `commit_version <= start_version`. A key with neither a lock nor a record of the transaction
    /// (a lost prewrite) is skipped without error, as in TinyKV.
    public func commit(_ request: Kvrpcpb.CommitRequest) async -> Kvrpcpb.CommitResponse {
        await write(commitCommand(request))
    }

    /// ``commit(_:)`` answered through `done` (see ``answersByCallback``): on the raft store, from
    /// the apply thread once the write records are applied.
    public func commit(_ request: Kvrpcpb.CommitRequest, done: @escaping @Sendable (Kvrpcpb.CommitResponse) -> Void) {
        write(commitCommand(request), done: done)
    }

    func commitCommand(_ request: Kvrpcpb.CommitRequest) -> WriteCommand<Kvrpcpb.CommitResponse> {
        WriteCommand(request.context, keys: request.keys) { mvcc, txn in
            var response = Kvrpcpb.CommitResponse()
            guard request.commitVersion > request.startVersion else {
                response.error = Kvrpcpb.KeyError(
                    abort: "invalid commit ts \(request.commitVersion) <= start ts \(request.startVersion)")
                return response
            }
            for key in request.keys {
                if let error = try self.commitKey(key, startTs: request.startVersion, commitTs: request.commitVersion, mvcc, &txn) {
                    response.error = error
                    txn.discard()
                    break
                }
            }
            return response
        }
    }

    /// Commits one key; returns the error that stops the commit, if any.
    func commitKey(_ key: [UInt8], startTs: UInt64, commitTs: UInt64, _ mvcc: MvccReader, _ txn: inout MvccTxn) throws -> Kvrpcpb.KeyError? {
        let lock = try mvcc.lock(key)
        if let lock, lock.ts == startTs {
            txn.putWrite(key, commitTs: commitTs, Write(startTs: startTs, kind: lock.kind, shortValue: lock.shortValue))
            txn.deleteLock(key)
            return nil
        }
        if let (write, _) = try mvcc.write(of: key, startTs: startTs) {
            if write.kind == .rollback {
                return Kvrpcpb.KeyError(abort: "transaction \(startTs) has been rolled back on key \(key)")
            }
            return nil  // already committed
        }
        if let lock {
            return Kvrpcpb.KeyError(retryable: "lock of transaction \(startTs) not found on key \(key): locked by \(lock.ts)")
        }
        return nil
    }
}
