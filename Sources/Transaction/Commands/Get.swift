import TinyKVProto

extension TransactionService {
    /// KvGet: the value of `key` in the snapshot at `version`.
    ///
    /// A lock of a transaction that started at or before `version` makes the read fail with
    /// `KeyError.locked` (the client resolves it and retries); newer locks are ignored. A read at
    /// ``Timestamp/max`` is blocked by primary locks only (TinyKV's `IsLockedFor`).
    public func get(_ request: Kvrpcpb.GetRequest) async -> Kvrpcpb.GetResponse {
        await read(getCommand(request))
    }

    /// ``get(_:)`` answered through `done` (see ``answersByCallback``): on the raft store, on the
    /// calling thread for a lease read.
    public func get(_ request: Kvrpcpb.GetRequest, done: @escaping @Sendable (Kvrpcpb.GetResponse) -> Void) {
        read(getCommand(request), done: done)
    }

    func getCommand(_ request: Kvrpcpb.GetRequest) -> ReadCommand<Kvrpcpb.GetResponse> {
        ReadCommand(request.context, keys: [request.key]) { mvcc in
            var response = Kvrpcpb.GetResponse()
            if let lock = try mvcc.lock(request.key), lock.blocksRead(of: request.key, at: request.version) {
                response.error = Kvrpcpb.KeyError(locked: lock.info(key: request.key))
                return response
            }
            if let value = try mvcc.value(request.key, at: request.version) {
                response.value = value
            } else {
                response.notFound = true
            }
            return response
        }
    }
}
