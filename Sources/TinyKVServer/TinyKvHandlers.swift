import Storage
import TinyKVProto
import CoprocessorEngine
import Transaction
import Transport

/// The `tinykvpb.TinyKv` methods this store serves, bound to their services.
///
/// Methods not listed here are answered with `UNIMPLEMENTED` by the transport.
public enum TinyKvHandlers {
    public static func make(raw: RawKVService, transactions: TransactionService, coprocessor: CoprocessorService) -> ServiceHandlers {
        var handlers = ServiceHandlers()
        let service = Tinykvpb.TinyKv.self
        handlers.unary(service.rawGet) { request, _ in await raw.get(request) }
        handlers.unary(service.rawPut) { request, _ in await raw.put(request) }
        handlers.unary(service.rawDelete) { request, _ in await raw.delete(request) }
        handlers.unary(service.rawScan) { request, _ in await raw.scan(request) }
        handlers.unary(service.kvGet) { request, _ in await transactions.get(request) }
        handlers.unary(service.kvScan) { request, _ in await transactions.scan(request) }
        handlers.unary(service.kvPrewrite) { request, _ in await transactions.prewrite(request) }
        handlers.unary(service.kvCommit) { request, _ in await transactions.commit(request) }
        handlers.unary(service.kvCheckTxnStatus) { request, _ in await transactions.checkTxnStatus(request) }
        handlers.unary(service.kvBatchRollback) { request, _ in await transactions.batchRollback(request) }
        handlers.unary(service.kvResolveLock) { request, _ in await transactions.resolveLock(request) }
        handlers.unary(service.coprocessor) { request, _ in await coprocessor.handle(request) }
        return handlers
    }
}
