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
        if raw.answersByCallback {
            // The raft store answers raw point operations by callback: the request is checked and
            // proposed on the transport's poll thread and answered from the raft thread that
            // settles it, with no Swift task hop on either side.
            handlers.unaryCallback(service.rawGet) { request, _, respond in
                try request.check(limits)
                raw.get(request) { respond(.success($0)) }
            }
            handlers.unaryCallback(service.rawPut) { request, _, respond in
                try request.check(limits)
                raw.put(request) { respond(.success($0)) }
            }
            handlers.unaryCallback(service.rawDelete) { request, _, respond in
                try request.check(limits)
                raw.delete(request) { respond(.success($0)) }
            }
        } else {
            serve(service.rawGet) { await raw.get($0) }
            serve(service.rawPut) { await raw.put($0) }
            serve(service.rawDelete) { await raw.delete($0) }
        }
        serve(service.rawScan) { await raw.scan($0) }
        serve(service.kvGet) { await transactions.get($0) }
        serve(service.kvScan) { await transactions.scan($0) }
        serve(service.kvPrewrite) { await transactions.prewrite($0) }
        serve(service.kvCommit) { await transactions.commit($0) }
        serve(service.kvCheckTxnStatus) { await transactions.checkTxnStatus($0) }
        serve(service.kvBatchRollback) { await transactions.batchRollback($0) }
        serve(service.kvResolveLock) { await transactions.resolveLock($0) }
        serve(service.coprocessor) { await coprocessor.handle($0) }
        return handlers
    }
}
