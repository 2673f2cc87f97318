import TinyKVProto
import Transport

/// The benchmark workloads over the TinyKV and scheduler APIs.
public enum Workloads {
    /// One raw put of a random key, routed through the scheduler.
    public static func rawPut(router: RegionRouter, keys: KeyGenerator, valueSize: Int) -> @Sendable (Int) async -> OperationOutcome {
        let value = [UInt8](repeating: UInt8(ascii: "v"), count: valueSize)
        return { _ in
            var rng = SystemRandomNumberGenerator()
            let key = keys.key(keys.nextIndex(using: &rng))
            return await put(router: router, key: key, value: value)
        }
    }

    /// One raw get of a random key.
    public static func rawGet(router: RegionRouter, keys: KeyGenerator) -> @Sendable (Int) async -> OperationOutcome {
        { _ in
            var rng = SystemRandomNumberGenerator()
            return await get(router: router, key: keys.key(keys.nextIndex(using: &rng)))
        }
    }

    /// Gets with probability `readRatio`, puts otherwise.
    public static func rawMixed(router: RegionRouter, keys: KeyGenerator, valueSize: Int, readRatio: Double) -> @Sendable (Int) async -> OperationOutcome {
        let put = rawPut(router: router, keys: keys, valueSize: valueSize)
        let get = rawGet(router: router, keys: keys)
        return { worker in
            Double.random(in: 0..<1) < readRatio ? await get(worker) : await put(worker)
        }
    }

    /// Writes every key once, `concurrency` at a time.
    public static func prefill(router: RegionRouter, keys: KeyGenerator, valueSize: Int, concurrency: Int) async {
        let value = [UInt8](repeating: UInt8(ascii: "v"), count: valueSize)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    // Worker w writes keys w, w + concurrency, w + 2 * concurrency, ...
                    for index in stride(from: worker, to: keys.keyCount, by: concurrency) {
                        var attempts = 0
                        while await put(router: router, key: keys.key(index), value: value) != .ok, attempts < 20 {
                            attempts += 1
                        }
                    }
                }
            }
        }
    }

    static func put(router: RegionRouter, key: [UInt8], value: [UInt8]) async -> OperationOutcome {
        do {
            let route = try await router.route(for: key)
            let response = try await route.channel.call(
                Tinykvpb.TinyKv.rawPut, Kvrpcpb.RawPutRequest(context: route.context, key: key, value: value, cf: "default"))
            if let regionError = response.regionError {
                await router.invalidate(route, error: regionError)
                return .retry
            }
            return response.error.isEmpty ? .ok : .error
        } catch {
            return .error
        }
    }

    static func get(router: RegionRouter, key: [UInt8]) async -> OperationOutcome {
        do {
            let route = try await router.route(for: key)
            let response = try await route.channel.call(
                Tinykvpb.TinyKv.rawGet, Kvrpcpb.RawGetRequest(context: route.context, key: key, cf: "default"))
            if let regionError = response.regionError {
                await router.invalidate(route, error: regionError)
                return .retry
            }
            return response.error.isEmpty ? .ok : .error
        } catch {
            return .error
        }
    }

    /// Timestamp requests of `count` each, one `Tso` stream per worker.
    public static func tso(scheduler: GRPCChannel, count: UInt32, streams: Int) throws -> @Sendable (Int) async -> OperationOutcome {
        let calls = try (0..<streams).map { _ in try scheduler.bidiStreaming(method: Schedulerpb.Scheduler.tso.path) }
        let request = Schedulerpb.TsoRequest(header: Schedulerpb.RequestHeader(), count: count).encode()
        return { worker in
            let call = calls[worker % calls.count]
            do {
                try await call.send(request)
                guard let bytes = try await call.receive() else { return .error }
                let response = try Schedulerpb.TsoResponse(decoding: bytes)
                return response.header?.error == nil && response.count == count ? .ok : .error
            } catch {
                return .error
            }
        }
    }
}
