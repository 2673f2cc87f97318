import TinyKVProto

extension TransactionService {
    /// KvScan: up to `limit` pairs from `start_key` on, as of `version`.
    ///
    /// Deleted keys are skipped. A key locked by a transaction that started at or before `version`
    /// yields a pair with only `key` and `error.locked` set; it counts toward the limit.
    public func scan(_ request: Kvrpcpb.ScanRequest) async -> Kvrpcpb.ScanResponse {
        // Async only: a scan can read many entries, which transport and raft threads must not do.
        await read(ReadCommand(request.context, keys: [request.startKey]) { mvcc in
            var response = Kvrpcpb.ScanResponse()
            guard request.limit > 0 else { return response }
            let scanner = try MvccScanner(mvcc, start: request.startKey, ts: request.version)
            while response.pairs.count < Int(request.limit), let entry = try scanner.next() {
                switch entry {
                case .value(let key, let value):
                    response.pairs.append(Kvrpcpb.KvPair(key: key, value: value))
                case .locked(let key, let lock):
                    response.pairs.append(Kvrpcpb.KvPair(error: Kvrpcpb.KeyError(locked: lock.info(key: key)), key: key))
                }
            }
            return response
        })
    }
}
