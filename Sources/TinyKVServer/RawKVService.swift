import Storage
import TinyKVProto

/// The raw (non-transactional) key-value API: `RawGet`, `RawPut`, `RawDelete`, `RawScan`.
///
/// Semantics follow TinyKV: any column family may be named (empty means `default`),
/// a missing key is `not_found`, scans return up to `limit` pairs in key order from
/// `start_key`, and failures are reported in the response (`region_error` for
/// routing, `error` for anything else), never as a transport failure. Keys are in the raw key
/// space (``KeySpace/raw``): a multi-region store compares them with region bounds as they are.
public struct RawKVService: Sendable {
    private let storage: any KVStorage

    public init(storage: any KVStorage) {
        self.storage = storage
    }

    public func get(_ request: Kvrpcpb.RawGetRequest) async -> Kvrpcpb.RawGetResponse {
        await respond(cf: request.cf) { cf, response in
            let reader = try await storage.reader(request.context ?? Kvrpcpb.Context(), for: .raw(request.key))
            if let value = try reader.get(cf, request.key) {
                response.value = value
            } else {
                response.notFound = true
            }
        }
    }

    public func put(_ request: Kvrpcpb.RawPutRequest) async -> Kvrpcpb.RawPutResponse {
        await respond(cf: request.cf) { cf, response in
            guard !request.key.isEmpty else {
                response.error = "key must not be empty"
                return
            }
            var batch = WriteBatch()
            batch.put(cf, request.key, request.value)
            try await storage.write(request.context ?? Kvrpcpb.Context(), for: .raw(request.key), batch)
        }
    }

    public func delete(_ request: Kvrpcpb.RawDeleteRequest) async -> Kvrpcpb.RawDeleteResponse {
        await respond(cf: request.cf) { cf, _ in
            var batch = WriteBatch()
            batch.delete(cf, request.key)
            try await storage.write(request.context ?? Kvrpcpb.Context(), for: .raw(request.key), batch)
        }
    }

    public func scan(_ request: Kvrpcpb.RawScanRequest) async -> Kvrpcpb.RawScanResponse {
        await respond(cf: request.cf) { cf, response in
            let reader = try await storage.reader(request.context ?? Kvrpcpb.Context(), for: .raw(request.startKey))
            let pairs = try reader.scan(cf, from: request.startKey, limit: Int(request.limit))
            response.kvs = pairs.map { Kvrpcpb.KvPair(key: $0.key, value: $0.value) }
        }
    }

    /// Resolves the column family, runs `body`, and reports what it throws in the response:
    /// routing errors as `region_error`, anything else in `error`.
    private func respond<Response: RawResponse>(
        cf name: String, _ body: (ColumnFamily, inout Response) async throws -> Void
    ) async -> Response {
        var response = Response()
        guard let cf = ColumnFamily.named(name) else {
            response.error = "unknown column family \"\(name)\" (use default, lock or write)"
            return response
        }
        do {
            try await body(cf, &response)
        } catch let region as RegionError {
            response.regionError = region.error
        } catch {
            response.error = "\(error)"
        }
        return response
    }
}

/// The shape shared by the raw API's responses.
protocol RawResponse: ProtoMessage {
    var regionError: Errorpb.Error? { get set }
    var error: String { get set }
}

extension Kvrpcpb.RawGetResponse: RawResponse {}
extension Kvrpcpb.RawPutResponse: RawResponse {}
extension Kvrpcpb.RawDeleteResponse: RawResponse {}
extension Kvrpcpb.RawScanResponse: RawResponse {}
