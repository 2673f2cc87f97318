import Storage
import TinyKVProto
import Transaction
import Transport

/// The raw API (`RawGet`/`RawPut`/`RawDelete`/`RawScan`) routed by key.
public struct RawKVClient: Sendable {
    public let router: RegionRouter
    public let timeout: Duration

    public init(router: RegionRouter, timeout: Duration = .seconds(10)) {
        self.router = router
        self.timeout = timeout
    }

    private var api: Tinykvpb.TinyKv.Type { Tinykvpb.TinyKv.self }

    public func get(_ key: [UInt8], cf: String = "default") async throws -> [UInt8]? {
        let r = try await router.send(api.rawGet, Kvrpcpb.RawGetRequest(key: key, cf: cf), key: key, in: .raw, timeout: timeout)
        return r.notFound ? nil : r.value
    }

    public func put(_ key: [UInt8], _ value: [UInt8], cf: String = "default") async throws {
        _ = try await router.send(api.rawPut, Kvrpcpb.RawPutRequest(key: key, value: value, cf: cf), key: key, in: .raw, timeout: timeout)
    }

    public func delete(_ key: [UInt8], cf: String = "default") async throws {
        _ = try await router.send(api.rawDelete, Kvrpcpb.RawDeleteRequest(key: key, cf: cf), key: key, in: .raw, timeout: timeout)
    }

    /// Up to `limit` pairs from `start` (inclusive) to `end` (exclusive; empty: no bound), across regions.
    public func scan(from start: [UInt8], to end: [UInt8] = [], limit: Int, cf: String = "default") async throws -> [(key: [UInt8], value: [UInt8])] {
        var out: [(key: [UInt8], value: [UInt8])] = []
        var next = start
        while out.count < limit {
            let page = min(limit - out.count, ScanPaging.maxPage)
            let request = Kvrpcpb.RawScanRequest(startKey: next, limit: UInt32(page), cf: cf)
            let (pairs, regionEnd): ([Kvrpcpb.KvPair], [UInt8]) = try await router.withRoute(key: next, in: .raw) { route in
                let (r, regionError) = try await router.send(api.rawScan, request, to: route, timeout: timeout)
                return ((r.kvs, route.endKey), regionError)
            }
            for pair in pairs where out.count < limit {
                if !regionEnd.isEmpty, !pair.key.lexicographicallyPrecedes(regionEnd) { break }
                if !end.isEmpty, !pair.key.lexicographicallyPrecedes(end) { return out }
                out.append((pair.key, pair.value))
            }
            guard let after = ScanPaging.next(after: pairs.map(\.key), page: page, regionEnd: regionEnd, in: .raw) else { break }
            if !end.isEmpty, !after.lexicographicallyPrecedes(end) { break }
            next = after
        }
        return out
    }
}

/// The transactional API routed by key, for ``PercolatorClient``: requests that carry keys are
/// split by region, comparing the keys' memcomparable encodings with region bounds
/// (``KeySpace/transactional``, as TinySQL does); `ResolveLock` (region-wide) goes to every region.
public struct RoutedTxnKVClient: TxnKVClient {
    public let router: RegionRouter
    public let timeout: Duration

    public init(router: RegionRouter, timeout: Duration = .seconds(10)) {
        self.router = router
        self.timeout = timeout
    }

    private var api: Tinykvpb.TinyKv.Type { Tinykvpb.TinyKv.self }

    public func get(_ request: Kvrpcpb.GetRequest) async throws -> Kvrpcpb.GetResponse {
        try await router.send(api.kvGet, request, key: request.key, in: .transactional, timeout: timeout)
    }

    public func scan(_ request: Kvrpcpb.ScanRequest) async throws -> Kvrpcpb.ScanResponse {
        var pairs: [Kvrpcpb.KvPair] = []
        var next = request.startKey
        while pairs.count < Int(request.limit) {
            let page = min(Int(request.limit) - pairs.count, ScanPaging.maxPage)
            var part = request
            part.startKey = next
            part.limit = UInt32(page)
            let (got, regionEnd): ([Kvrpcpb.KvPair], [UInt8]) = try await router.withRoute(key: next, in: .transactional) { route in
                let (r, regionError) = try await router.send(api.kvScan, part, to: route, timeout: timeout)
                return ((r.pairs, route.endKey), regionError)
            }
            for pair in got where pairs.count < Int(request.limit) {
                if !regionEnd.isEmpty, !MemComparable.encode(pair.key).lexicographicallyPrecedes(regionEnd) { break }
                pairs.append(pair)
            }
            guard let after = ScanPaging.next(after: got.map(\.key), page: page, regionEnd: regionEnd, in: .transactional) else { break }
            next = after
        }
        return Kvrpcpb.ScanResponse(pairs: pairs)
    }

    public func prewrite(_ request: Kvrpcpb.PrewriteRequest) async throws -> Kvrpcpb.PrewriteResponse {
        let byKey = Dictionary(request.mutations.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last })
        let parts = try await router.forEachGroup(keys: request.mutations.map(\.key), in: .transactional) { route, keys in
            var part = request
            part.mutations = keys.compactMap { byKey[$0] }
            return try await router.send(api.kvPrewrite, part, to: route, timeout: timeout)
        }
        return Kvrpcpb.PrewriteResponse(errors: parts.flatMap(\.errors))
    }

    public func commit(_ request: Kvrpcpb.CommitRequest) async throws -> Kvrpcpb.CommitResponse {
        let parts = try await router.forEachGroup(keys: request.keys, in: .transactional) { route, keys in
            var part = request
            part.keys = keys
            return try await router.send(api.kvCommit, part, to: route, timeout: timeout)
        }
        return Kvrpcpb.CommitResponse(error: parts.compactMap(\.error).first)
    }

    /// The primary (`keys[0]`) and the keys of its region, in one request; the region is
    /// looked up again on every retry, so a split in between only shrinks the batch.
    public func commitPrimaryBatch(_ request: Kvrpcpb.CommitRequest) async throws -> (response: Kvrpcpb.CommitResponse, committed: [[UInt8]]) {
        guard let primary = request.keys.first else { return (Kvrpcpb.CommitResponse(), []) }
        return try await router.withRoute(key: primary, in: .transactional) { route in
            var part = request
            part.keys = [primary] + request.keys.dropFirst().filter { route.contains(KeySpace.transactional.routingKey($0)) }
            let (response, regionError) = try await router.send(api.kvCommit, part, to: route, timeout: timeout)
            return ((response, part.keys), regionError)
        }
    }

    public func checkTxnStatus(_ request: Kvrpcpb.CheckTxnStatusRequest) async throws -> Kvrpcpb.CheckTxnStatusResponse {
        try await router.send(api.kvCheckTxnStatus, request, key: request.primaryKey, in: .transactional, timeout: timeout)
    }

    public func batchRollback(_ request: Kvrpcpb.BatchRollbackRequest) async throws -> Kvrpcpb.BatchRollbackResponse {
        let parts = try await router.forEachGroup(keys: request.keys, in: .transactional) { route, keys in
            var part = request
            part.keys = keys
            return try await router.send(api.kvBatchRollback, part, to: route, timeout: timeout)
        }
        return Kvrpcpb.BatchRollbackResponse(error: parts.compactMap(\.error).first)
    }

    public func resolveLock(_ request: Kvrpcpb.ResolveLockRequest) async throws -> Kvrpcpb.ResolveLockResponse {
        var error: Kvrpcpb.KeyError?
        for route in try await router.routes() {
            let (r, regionError) = try await router.send(api.kvResolveLock, request, to: route, timeout: timeout)
            if let regionError { throw KVClientError.regionUnavailable(RegionRouter.describe(regionError)) }
            if error == nil { error = r.error }
        }
        return Kvrpcpb.ResolveLockResponse(error: error)
    }
}

/// Scans larger than a store's `max-scan-limit` go in pages.
enum ScanPaging {
    /// The largest page asked for (TiKV's and the store's default `max-scan-limit`).
    static let maxPage = 10240

    /// Where the next page starts (a key of `space`): after the last key of a full page (the
    /// region may hold more), else at the first key of the next region — for transactional keys
    /// the smallest key whose encoding reaches `regionEnd` (its decoded form when it is one);
    /// nil when the scan reached the end of the key space.
    static func next(after keys: [[UInt8]], page: Int, regionEnd: [UInt8], in space: KeySpace) -> [UInt8]? {
        if keys.count >= page, let last = keys.last,
           regionEnd.isEmpty || space.routingKey(last).lexicographicallyPrecedes(regionEnd) {
            return last + [0]
        }
        if regionEnd.isEmpty { return nil }
        switch space {
        case .raw: return regionEnd
        case .transactional: return MemComparable.smallestKey(encodedAtLeast: regionEnd)
        }
    }
}
