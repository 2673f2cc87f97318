/// A gRPC method of the schema, with its request and response message types.
///
/// The generated service namespaces list one per method
/// (`Tinykvpb.TinyKv.rawGet`, `Schedulerpb.Scheduler.tso`, ...), so that servers
/// and clients name methods without spelling paths by hand.
public struct RPCMethod<Request: ProtoMessage, Response: ProtoMessage>: Sendable, Hashable {
    /// The HTTP/2 path, such as `/tinykvpb.TinyKv/RawGet`.
    public let path: String
    /// Whether the client sends a stream of requests.
    public let clientStreaming: Bool
    /// Whether the server sends a stream of responses.
    public let serverStreaming: Bool

    public init(path: String, clientStreaming: Bool, serverStreaming: Bool) {
        self.path = path
        self.clientStreaming = clientStreaming
        self.serverStreaming = serverStreaming
    }

    /// The method's name, such as `RawGet`.
    public var name: Substring { path[path.index(after: path.lastIndex(of: "/")!)...] }
}
