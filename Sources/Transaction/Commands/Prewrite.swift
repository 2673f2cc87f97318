import TinyKVProto

extension TransactionService {
    /// KvPrewrite: locks every mutated key for the transaction started at `start_version` and stores its
    /// values, or changes nothing and reports one `KeyError` per failed key:
    ///
    /// - `conflict` when the key has a write record (a commit, or a rollback marker of this very
    ///   transaction) with commit ts >= `start_version`;
    /// - `locked` when another transaction holds the key's lock.
    ///
    /// A lock already held by this transaction is overwritten, so a retried prewrite succeeds (TiKV's
    /// behaviour; TinyKV reports it as locked). `Op.Lock` mutations lock without writing a value;
    /// other ops (`Rollback`) are rejected with `abort`.
    public func prewrite(_ request: Kvrpcpb.PrewriteRequest) async -> Kvrpcpb.PrewriteResponse {
        await write(prewriteCommand(request))
    }

    /// ``prewrite(_:)`` answered through `done` (see ``answersByCallback``): on the raft store, from
    /// the apply thread once the locks are applied.
    public func prewrite(_ request: Kvrpcpb.PrewriteRequest, done: @escaping @Sendable (Kvrpcpb.PrewriteResponse) -> Void) {
        write(prewriteCommand(request), done: done)
    }

    func prewriteCommand(_ request: Kvrpcpb.PrewriteRequest) -> WriteCommand<Kvrpcpb.PrewriteResponse> {
        WriteCommand(request.context, keys: request.mutations.map(\.key)) { mvcc, txn in
            var response = Kvrpcpb.PrewriteResponse()
            let startTs = request.startVersion
            for mutation in request.mutations {
                let key = mutation.key
                guard let kind = WriteKind(op: mutation.op) else {
                    response.errors.append(Kvrpcpb.KeyError(abort: "unsupported mutation op \(mutation.op)"))
                    continue
                }
                if let (_, commitTs) = try mvcc.mostRecentWrite(key), commitTs >= startTs {
                    let conflict = Kvrpcpb.WriteConflict(startTs: startTs, conflictTs: commitTs, key: key, primary: request.primaryLock)
                    response.errors.append(Kvrpcpb.KeyError(conflict: conflict))
                    continue
                }
                if let lock = try mvcc.lock(key), lock.ts != startTs {
                    response.errors.append(Kvrpcpb.KeyError(locked: lock.info(key: key)))
                    continue
                }
                let shortValue = ShortValue.inline(kind, mutation.value, maxLength: self.shortValueMaxLength)
                switch kind {
                case .put: if shortValue == nil { txn.putValue(key, startTs: startTs, mutation.value) }
                case .delete: txn.deleteValue(key, startTs: startTs)
                case .lock, .rollback: break
                }
                txn.putLock(key, Lock(primary: request.primaryLock, ts: startTs, ttl: request.lockTtl, kind: kind, shortValue: shortValue))
            }
            if !response.errors.isEmpty { txn.discard() }
            return response
        }
    }
}
