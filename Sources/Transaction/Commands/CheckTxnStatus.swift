import TinyKVProto

extension TransactionService {
    /// KvCheckTxnStatus: the status of the transaction started at `lock_ts`, read from its primary key,
    /// rolling it back when it is abandoned:
    ///
    /// - primary locked by it, TTL not expired at `current_ts` → `NoAction`, `lock_ttl` = the lock's TTL;
    /// - primary locked by it, TTL expired (physical ms: `lock_ts >> 18` + ttl <= `current_ts >> 18`) →
    ///   rolled back, `TTLExpireRollback`;
    /// - committed → `NoAction`, `commit_version` = its commit ts;
    /// - rolled back → `NoAction`, `commit_version` = 0, `lock_ttl` = 0;
    /// - no lock and no record → a rollback record is written, `LockNotExistRollback`.
    public func checkTxnStatus(_ request: Kvrpcpb.CheckTxnStatusRequest) async -> Kvrpcpb.CheckTxnStatusResponse {
        await write(checkTxnStatusCommand(request))
    }

    /// ``checkTxnStatus(_:)`` answered through `done` (see ``answersByCallback``).
    public func checkTxnStatus(_ request: Kvrpcpb.CheckTxnStatusRequest,
                               done: @escaping @Sendable (Kvrpcpb.CheckTxnStatusResponse) -> Void) {
        write(checkTxnStatusCommand(request), done: done)
    }

    func checkTxnStatusCommand(_ request: Kvrpcpb.CheckTxnStatusRequest) -> WriteCommand<Kvrpcpb.CheckTxnStatusResponse> {
        WriteCommand(request.context, keys: [request.primaryKey]) { mvcc, txn in
            var response = Kvrpcpb.CheckTxnStatusResponse()
            let key = request.primaryKey
            if let lock = try mvcc.lock(key), lock.ts == request.lockTs {
                if lock.isExpired(at: request.currentTs) {
                    self.rollbackLock(key, lock, &txn)
                    response.action = .ttlExpireRollback
                } else {
                    response.action = .noAction
                    response.lockTtl = lock.ttl
                }
                return response
            }
            if let (write, commitTs) = try mvcc.write(of: key, startTs: request.lockTs) {
                response.action = .noAction
                if write.kind != .rollback { response.commitVersion = commitTs }
                return response
            }
            txn.putWrite(key, commitTs: request.lockTs, Write(startTs: request.lockTs, kind: .rollback))
            response.action = .lockNotExistRollback
            return response
        }
    }
}
