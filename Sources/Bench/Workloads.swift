import KVClient
import TinyKVProto
import Transaction
import Transport

/// The benchmark workloads over the TinyKV and scheduler APIs, through the routing client.
public enum Workloads {
    /// One raw put of a random key.
    public static func rawPut(client: RawKVClient, keys: KeyGenerator, valueSize: Int) -> @Sendable (Int) async -> OperationOutcome {
        let value = [UInt8](repeating: UInt8(ascii: "v"), count: valueSize)
        return { _ in
            var rng = SystemRandomNumberGenerator()
            return await outcome { try await client.put(keys.key(keys.nextIndex(using: &rng)), value) }
        }
    }

    /// One raw get of a random key.
    public static func rawGet(client: RawKVClient, keys: KeyGenerator) -> @Sendable (Int) async -> OperationOutcome {
        { _ in
            var rng = SystemRandomNumberGenerator()
            return await outcome { _ = try await client.get(keys.key(keys.nextIndex(using: &rng))) }
        }
    }

    /// Gets with probability `readRatio`, puts otherwise.
    public static func rawMixed(client: RawKVClient, keys: KeyGenerator, valueSize: Int, readRatio: Double) -> @Sendable (Int) async -> OperationOutcome {
        let put = rawPut(client: client, keys: keys, valueSize: valueSize)
        let get = rawGet(client: client, keys: keys)
        return { worker in
            Double.random(in: 0..<1) < readRatio ? await get(worker) : await put(worker)
        }
    }

    /// A Percolator transaction that reads `keysPerTxn` random keys and writes them back (with
    /// `readFirst` false, only writes them); a conflict counts as a retry (an abort), not as a
    /// completed transaction.
    public static func txn(client: PercolatorClient, keys: KeyGenerator, keysPerTxn: Int, valueSize: Int,
                           readFirst: Bool = true) -> @Sendable (Int) async -> OperationOutcome {
        let value = [UInt8](repeating: UInt8(ascii: "t"), count: valueSize)
        return { _ in
            var rng = SystemRandomNumberGenerator()
            var chosen = Set<Int>()
            while chosen.count < min(keysPerTxn, keys.keyCount) { chosen.insert(keys.nextIndex(using: &rng)) }
            do {
                var txn = try await client.begin()
                let startTs = txn.startTs
                // The reads are independent: issue them together, as a SQL layer's batch get does.
                if readFirst {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for index in chosen {
                            group.addTask { _ = try await client.get(keys.key(index), at: startTs) }
                        }
                        try await group.waitForAll()
                    }
                }
                for index in chosen { txn.set(keys.key(index), value) }
                _ = try await client.commit(txn)
                return .ok
            } catch is PercolatorError {
                return .retry
            } catch {
                return .error
            }
        }
    }

    /// Writes every key once, `concurrency` at a time.
    public static func prefill(client: RawKVClient, keys: KeyGenerator, valueSize: Int, concurrency: Int) async {
        let value = [UInt8](repeating: UInt8(ascii: "v"), count: valueSize)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    // Worker w writes keys w, w + concurrency, w + 2 * concurrency, ...
                    for index in stride(from: worker, to: keys.keyCount, by: concurrency) {
                        _ = await outcome { try await client.put(keys.key(index), value) }
                    }
                }
            }
        }
    }

    /// Timestamp requests of `count` each, one `Tso` stream per worker.
    public static func tso(scheduler: GRPCChannel, count: UInt32, streams: Int) throws -> @Sendable (Int) async -> OperationOutcome {
        let calls = try (0..<streams).map { _ in try scheduler.bidiStreaming(method: Schedulerpb.Scheduler.tso.path) }
        let request = Schedulerpb.TsoRequest(header: Schedulerpb.RequestHeader(), count: count).encode()
        return { worker in
            let call = calls[worker % calls.count]
            do {
                guard let bytes = try await call.exchange(request) else { return .error }
                let response = try Schedulerpb.TsoResponse(decoding: bytes)
                return response.header?.error == nil && response.count == count ? .ok : .error
            } catch {
                return .error
            }
        }
    }

    private static func outcome(_ body: () async throws -> Void) async -> OperationOutcome {
        do {
            try await body()
            return .ok
        } catch {
            return .error
        }
    }
}
