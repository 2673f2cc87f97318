import Storage
import TinyKVProto
import CoprocessorEngine
import Transaction
import Transport

/// The `tinykvpb.TinyKv` methods this store serves, bound to their services.
///
/// Methods not listed here are answered with `UNIMPLEMENTED` by the transport. Every request
/// is checked against `limits` first (`RESOURCE_EXHAUSTED` when over).
public enum TinyKvHandlers {
    public static func make(
        raw: RawKVService, transactions: TransactionService, coprocessor: CoprocessorService,
        limits: RequestLimits = RequestLimits()
    ) -> ServiceHandlers {
        var handlers = ServiceHandlers()
        let service = Tinykvpb.TinyKv.self
        func serve<Request: LimitedRequest, Response>(
            _ method: RPCMethod<Request, Response>, _ body: @escaping @Sendable (Request) async -> Response
        ) {
            handlers.unary(method) { request, _ in
                try request.check(limits)
                return await body(request)
            }
        }
        // Answered by callback: the request is checked and started on the transport's poll thread
        // and answered from the thread that settles it, with no Swift task hop on either side.
        func answer<Request: LimitedRequest, Response>(
            _ method: RPCMethod<Request, Response>,
            _ body: @escaping @Sendable (Request, _ done: @escaping @Sendable (Response) -> Void) -> Void
        ) {
            handlers.unaryCallback(method) { request, _, respond in
                try request.check(limits)
                body(request) { respond(.success($0)) }
            }
        }
        if raw.answersByCallback {
            // The raft store answers raw point operations by callback, from the raft thread that
            // settles them (lease reads on the poll thread itself).
            answer(service.rawGet) { raw.get($0, done: $1) }
            answer(service.rawPut) { raw.put($0, done: $1) }
            answer(service.rawDelete) { raw.delete($0, done: $1) }
        } else {
            serve(service.rawGet) { await raw.get($0) }
            serve(service.rawPut) { await raw.put($0) }
            serve(service.rawDelete) { await raw.delete($0) }
        }
        serve(service.rawScan) { await raw.scan($0) }
        if transactions.answersByCallback {
            // Likewise the transactional point commands: latches, snapshot, decision and raft write
            // chain by callbacks; writes are answered from the apply thread. KvScan and
            // KvResolveLock scan ranges, which the poll and raft threads must not, so they stay async.
            answer(service.kvGet) { transactions.get($0, done: $1) }
            answer(service.kvPrewrite) { transactions.prewrite($0, done: $1) }
            answer(service.kvCommit) { transactions.commit($0, done: $1) }
            answer(service.kvCheckTxnStatus) { transactions.checkTxnStatus($0, done: $1) }
            answer(service.kvBatchRollback) { transactions.batchRollback($0, done: $1) }
        } else {
            serve(service.kvGet) { await transactions.get($0) }
            serve(service.kvPrewrite) { await transactions.prewrite($0) }
            serve(service.kvCommit) { await transactions.commit($0) }
            serve(service.kvCheckTxnStatus) { await transactions.checkTxnStatus($0) }
            serve(service.kvBatchRollback) { await transactions.batchRollback($0) }
        }
        serve(service.kvScan) { await transactions.scan($0) }
        serve(service.kvResolveLock) { await transactions.resolveLock($0) }
        serve(service.coprocessor) { await coprocessor.handle($0) }
        return handlers
    }
}
