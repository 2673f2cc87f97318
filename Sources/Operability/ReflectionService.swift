import TinyKVProto
import Transport

/// gRPC server reflection (`grpc.reflection.v1` and `v1alpha`) over a ``DescriptorPool``,
/// so tools like grpcurl can list, describe and call services without the .proto files.
public struct ReflectionService: Sendable {
    public static let v1 = RPCMethod<ServerReflectionRequest, ServerReflectionResponse>(
        path: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", clientStreaming: true, serverStreaming: true)
    public static let v1alpha = RPCMethod<ServerReflectionRequest, ServerReflectionResponse>(
        path: "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", clientStreaming: true, serverStreaming: true)

    let pool: DescriptorPool
    /// The services this server actually serves (listed in this order).
    let services: [String]

    /// - Parameter services: the fully-qualified names of the services served (reflection and
    ///   health included); only these are listed, each one's file must be in `pool`.
    public init(pool: DescriptorPool = .embedded, services: [String]) {
        self.pool = pool
        self.services = services
    }

    /// Handlers for both protocol versions.
    public var handlers: ServiceHandlers {
        var handlers = ServiceHandlers()
        for method in [Self.v1, Self.v1alpha] {
            handlers.bidiStreaming(method) { requests, responses, _ in
                for try await request in requests {
                    try await responses.send(answer(request))
                }
            }
        }
        return handlers
    }

    /// The response to one request.
    public func answer(_ request: ServerReflectionRequest) -> ServerReflectionResponse {
        var response = ServerReflectionResponse(originalRequest: request, answer: nil)
        response.validHost = request.host
        response.answer = {
            switch request.query {
            case .listServices?:
                return .services(services)
            case .fileByFilename(let name)?:
                guard pool.files[name] != nil else { return notFound("file \"\(name)\" not found") }
                return .fileDescriptors(pool.withDependencies(name).map(\.serialized))
            case .fileContainingSymbol(let symbol)?:
                guard let file = pool.file(containing: symbol) else { return notFound("symbol \"\(symbol)\" not found") }
                return .fileDescriptors(pool.withDependencies(file.name).map(\.serialized))
            case .fileContainingExtension(let type, let number)?:
                return notFound("extension \(number) of \"\(type)\" not found")
            case .allExtensionNumbersOfType(let type)?:
                guard pool.file(containing: type) != nil else { return notFound("type \"\(type)\" not found") }
                return .extensionNumbers(baseTypeName: type, numbers: [])
            case nil:
                return .error(code: Int32(GRPCStatus.Code.invalidArgument.rawValue), message: "empty reflection request")
            }
        }()
        return response
    }

    private func notFound(_ message: String) -> ServerReflectionResponse.Answer {
        .error(code: Int32(GRPCStatus.Code.notFound.rawValue), message: message)
    }
}
