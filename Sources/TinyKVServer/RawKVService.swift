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
    /// The same storage when it answers by callback (the raft store).
    private let callbackStorage: (any CallbackKVStorage)?

    public init(storage: any KVStorage) {
        self.storage = storage
        self.callbackStorage = storage as? any CallbackKVStorage
    }

    /// True when the callback forms of get/put/delete run without any Swift task (the
    /// storage answers by callback); otherwise they wrap the async forms in a task.
    public var answersByCallback: Bool { callbackStorage != nil }

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

    // MARK: Callback forms (no Swift task on a callback storage)

    /// ``get(_:)`` answered through `done`, on the thread that settles the read (the caller's
    /// for a lease read, the raft poller's after ReadIndex).
    public func get(_ request: Kvrpcpb.RawGetRequest, done: @escaping @Sendable (Kvrpcpb.RawGetResponse) -> Void) {
        guard let storage = callbackStorage else { return asTask(done) { await get(request) } }
        var response = Kvrpcpb.RawGetResponse()
        guard let cf = Self.columnFamily(request.cf, &response) else { return done(response) }
        storage.reader(request.context ?? Kvrpcpb.Context(), for: .raw(request.key)) { result in
            var response = Kvrpcpb.RawGetResponse()
            do {
                if let value = try result.get().get(cf, request.key) {
                    response.value = value
                } else {
                    response.notFound = true
                }
            } catch {
                Self.record(error, in: &response)
            }
            done(response)
        }
    }

    /// ``put(_:)`` answered through `done`, on the raft apply thread once the write is applied.
    public func put(_ request: Kvrpcpb.RawPutRequest, done: @escaping @Sendable (Kvrpcpb.RawPutResponse) -> Void) {
        guard let storage = callbackStorage else { return asTask(done) { await put(request) } }
        var response = Kvrpcpb.RawPutResponse()
        guard let cf = Self.columnFamily(request.cf, &response) else { return done(response) }
        guard !request.key.isEmpty else {
            response.error = "key must not be empty"
            return done(response)
        }
        var batch = WriteBatch()
        batch.put(cf, request.key, request.value)
        Self.write(storage, request.context, request.key, batch, done)
    }

    /// ``delete(_:)`` answered through `done`, on the raft apply thread once the write is applied.
    public func delete(_ request: Kvrpcpb.RawDeleteRequest, done: @escaping @Sendable (Kvrpcpb.RawDeleteResponse) -> Void) {
        guard let storage = callbackStorage else { return asTask(done) { await delete(request) } }
        var response = Kvrpcpb.RawDeleteResponse()
        guard let cf = Self.columnFamily(request.cf, &response) else { return done(response) }
        var batch = WriteBatch()
        batch.delete(cf, request.key)
        Self.write(storage, request.context, request.key, batch, done)
    }

    private static func write<Response: RawResponse>(
        _ storage: any CallbackKVStorage, _ context: Kvrpcpb.Context?, _ key: [UInt8], _ batch: WriteBatch,
        _ done: @escaping @Sendable (Response) -> Void
    ) {
        storage.write(context ?? Kvrpcpb.Context(), for: .raw(key), batch) { error in
            var response = Response()
            if let error { record(error, in: &response) }
            done(response)
        }
    }

    /// Storage without callbacks: run the async form in a task.
    private func asTask<Response: Sendable>(_ done: @escaping @Sendable (Response) -> Void,
                                            _ body: @escaping @Sendable () async -> Response) {
        Task { done(await body()) }
    }

    /// The named column family, or nil with the error recorded in `response`.
    private static func columnFamily<Response: RawResponse>(_ name: String, _ response: inout Response) -> ColumnFamily? {
        guard let cf = ColumnFamily.named(name) else {
            response.error = "unknown column family \"\(name)\" (use default, lock or write)"
            return nil
        }
        return cf
    }

    /// Routing errors as `region_error`, anything else in `error`.
    private static func record<Response: RawResponse>(_ error: any Error, in response: inout Response) {
        if let region = error as? RegionError {
            response.regionError = region.error
        } else {
            response.error = "\(error)"
        }
    }

    /// Resolves the column family, runs `body`, and reports what it throws in the response:
    /// routing errors as `region_error`, anything else in `error`.
    private func respond<Response: RawResponse>(
        cf name: String, _ body: (ColumnFamily, inout Response) async throws -> Void
    ) async -> Response {
        var response = Response()
        guard let cf = Self.columnFamily(name, &response) else { return response }
        do {
            try await body(cf, &response)
        } catch {
            Self.record(error, in: &response)
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
