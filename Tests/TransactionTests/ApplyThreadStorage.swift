import Foundation
import Storage
import Synchronization
import TinyKVProto

/// A ``CallbackKVStorage`` over a real RocksDB engine, completing like the raft store does: a read
/// completes synchronously on the caller's thread (a lease read), a write on a serial "apply" queue
/// once the batch is in the engine. Tests can hold the apply queue (`suspend`) to keep writes in
/// flight, and inject failures for reads or writes.
final class ApplyThreadStorage: CallbackKVStorage {
    private struct Faults {
        var read: (any Error)?
        var write: (any Error)?
        var writes = 0
    }

    let engine: RocksEngine
    let apply = DispatchQueue(label: "apply")
    private let faults = Mutex(Faults())

    init(engine: RocksEngine) { self.engine = engine }

    /// Makes every read and/or write fail with these errors from now on (nil: succeed).
    func fail(read: (any Error)? = nil, write: (any Error)? = nil) {
        faults.withLock {
            $0.read = read
            $0.write = write
        }
    }

    /// How many writes reached the storage (failed ones included).
    var writeCount: Int { faults.withLock { $0.writes } }

    func reader(_ context: Kvrpcpb.Context, for keys: RequestKeys,
                completion: @escaping @Sendable (Result<any KVReader, any Error>) -> Void) {
        let failure = faults.withLock { $0.read }
        completion(Result {
            if let failure { throw failure }
            return try engine.snapshot()
        })
    }

    func write(_ context: Kvrpcpb.Context, for keys: RequestKeys, _ batch: WriteBatch,
               completion: @escaping @Sendable ((any Error)?) -> Void) {
        let failure = faults.withLock { faults -> (any Error)? in
            faults.writes += 1
            return faults.write
        }
        apply.async { [engine] in
            if let failure { return completion(failure) }
            do {
                try engine.write(batch, sync: false)
                completion(nil)
            } catch {
                completion(error)
            }
        }
    }

    func reader(_ context: Kvrpcpb.Context, for keys: RequestKeys) async throws -> any KVReader {
        try await withCheckedContinuation { continuation in
            reader(context, for: keys) { continuation.resume(returning: $0) }
        }.get()
    }

    func write(_ context: Kvrpcpb.Context, for keys: RequestKeys, _ batch: WriteBatch) async throws {
        let error = await withCheckedContinuation { continuation in
            write(context, for: keys, batch) { continuation.resume(returning: $0) }
        }
        if let error { throw error }
    }
}
