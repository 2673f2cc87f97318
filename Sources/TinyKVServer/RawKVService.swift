import Storage
import TinyKVProto

/// The raw (non-transactional) key-value API: `RawGet`, `RawPut`, `RawDelete`, `RawScan`.
///
/// Semantics follow TinyKV: any column family may be named (empty means `default`),
/// a missing key is `not_found`, scans return up to `limit` pairs in key order from
/// `start_key`, and failures are reported in the response (`region_error` for
/// routing, `error` for anything else), never as a transport failure.
public struct RawKVService: Sendable {
    private let storage: any KVStorage

    public init(storage: any KVStorage) {
        self.storage = storage
    }

    public func get(_ request: Kvrpcpb.RawGetRequest) async -> Kvrpcpb.RawGetResponse {
        var response = Kvrpcpb.RawGetResponse()
        guard let cf = ColumnFamily.named(request.cf) else {
            response.error = Self.unknownFamily(request.cf)
            return response
        }
        do {
            let reader = try await storage.reader(request.context ?? Kvrpcpb.Context())
            if let value = try reader.get(cf, request.key) {
                response.value = value
            } else {
                response.notFound = true
            }
        } catch {
            Self.report(error, regionError: &response.regionError, message: &response.error)
        }
        return response
    }

    public func put(_ request: Kvrpcpb.RawPutRequest) async -> Kvrpcpb.RawPutResponse {
        var response = Kvrpcpb.RawPutResponse()
        guard let cf = ColumnFamily.named(request.cf) else {
            response.error = Self.unknownFamily(request.cf)
            return response
        }
        guard !request.key.isEmpty else {
            response.error = "key must not be empty"
            return response
        }
        var batch = WriteBatch()
        batch.put(cf, request.key, request.value)
        do {
            try await storage.write(request.context ?? Kvrpcpb.Context(), batch)
        } catch {
            Self.report(error, regionError: &response.regionError, message: &response.error)
        }
        return response
    }

    public func delete(_ request: Kvrpcpb.RawDeleteRequest) async -> Kvrpcpb.RawDeleteResponse {
        var response = Kvrpcpb.RawDeleteResponse()
        guard let cf = ColumnFamily.named(request.cf) else {
            response.error = Self.unknownFamily(request.cf)
            return response
        }
        var batch = WriteBatch()
        batch.delete(cf, request.key)
        do {
            try await storage.write(request.context ?? Kvrpcpb.Context(), batch)
        } catch {
            Self.report(error, regionError: &response.regionError, message: &response.error)
        }
        return response
    }

    public func scan(_ request: Kvrpcpb.RawScanRequest) async -> Kvrpcpb.RawScanResponse {
        var response = Kvrpcpb.RawScanResponse()
        guard let cf = ColumnFamily.named(request.cf) else {
            response.error = Self.unknownFamily(request.cf)
            return response
        }
        do {
            let reader = try await storage.reader(request.context ?? Kvrpcpb.Context())
            let pairs = try reader.scan(cf, from: request.startKey, limit: Int(request.limit))
            response.kvs = pairs.map { Kvrpcpb.KvPair(key: $0.key, value: $0.value) }
        } catch {
            Self.report(error, regionError: &response.regionError, message: &response.error)
        }
        return response
    }

    private static func unknownFamily(_ name: String) -> String {
        "unknown column family \"\(name)\" (use default, lock or write)"
    }

    private static func report(_ error: any Error, regionError: inout Errorpb.Error?, message: inout String) {
        if let region = error as? RegionError {
            regionError = region.error
        } else {
            message = "\(error)"
        }
    }
}
