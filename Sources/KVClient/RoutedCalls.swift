import Storage
import TinyKVProto
import Transport

/// A request that carries the region routing context.
public protocol RoutedRequest: ProtoMessage {
    var context: Kvrpcpb.Context? { get set }
}

/// A response that may carry a region error (the request must be re-routed and retried).
public protocol RegionAnswer: ProtoMessage {
    var regionError: Errorpb.Error? { get }
    /// A failure reported in the response that is not a routing problem ("" when none).
    var serverError: String { get }
}

extension RegionAnswer {
    public var serverError: String { "" }
}

extension Kvrpcpb.RawGetRequest: RoutedRequest {}
extension Kvrpcpb.RawPutRequest: RoutedRequest {}
extension Kvrpcpb.RawDeleteRequest: RoutedRequest {}
extension Kvrpcpb.RawScanRequest: RoutedRequest {}
extension Kvrpcpb.GetRequest: RoutedRequest {}
extension Kvrpcpb.ScanRequest: RoutedRequest {}
extension Kvrpcpb.PrewriteRequest: RoutedRequest {}
extension Kvrpcpb.CommitRequest: RoutedRequest {}
extension Kvrpcpb.CheckTxnStatusRequest: RoutedRequest {}
extension Kvrpcpb.BatchRollbackRequest: RoutedRequest {}
extension Kvrpcpb.ResolveLockRequest: RoutedRequest {}

extension Kvrpcpb.RawGetResponse: RegionAnswer { public var serverError: String { error } }
extension Kvrpcpb.RawPutResponse: RegionAnswer { public var serverError: String { error } }
extension Kvrpcpb.RawDeleteResponse: RegionAnswer { public var serverError: String { error } }
extension Kvrpcpb.RawScanResponse: RegionAnswer { public var serverError: String { error } }
extension Kvrpcpb.GetResponse: RegionAnswer {}
extension Kvrpcpb.ScanResponse: RegionAnswer {}
extension Kvrpcpb.PrewriteResponse: RegionAnswer {}
extension Kvrpcpb.CommitResponse: RegionAnswer {}
extension Kvrpcpb.CheckTxnStatusResponse: RegionAnswer {}
extension Kvrpcpb.BatchRollbackResponse: RegionAnswer {}
extension Kvrpcpb.ResolveLockResponse: RegionAnswer {}

extension RegionRouter {
    /// Sends `request` to `route`'s leader with the route's context; returns the response and its
    /// region error. A non-routing failure in the response is thrown as ``KVClientError/server(_:)``.
    public func send<Request: RoutedRequest, Response: RegionAnswer>(
        _ method: RPCMethod<Request, Response>, _ request: Request, to route: Route, timeout: Duration
    ) async throws -> (Response, Errorpb.Error?) {
        var request = request
        request.context = route.context
        let response = try await channel(to: route.address).call(method, request, timeout: timeout)
        if response.regionError == nil, !response.serverError.isEmpty { throw KVClientError.server(response.serverError) }
        return (response, response.regionError)
    }

    /// Sends `request` to the leader of the region of `key` (in `space`: raw requests by the key,
    /// transactional ones by its encoding), re-routing and retrying on region errors.
    public func send<Request: RoutedRequest, Response: RegionAnswer>(
        _ method: RPCMethod<Request, Response>, _ request: Request, key: [UInt8], in space: KeySpace, timeout: Duration
    ) async throws -> Response {
        try await withRoute(key: key, in: space) { route in try await send(method, request, to: route, timeout: timeout) }
    }
}
