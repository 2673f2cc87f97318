import Testing
import TinyKVProto
@testable import Operability

@Suite struct DescriptorEmbeddingTests {
    let pool = DescriptorPool.embedded

    @Test func everyProtoFileIsEmbeddedWithItsDependencies() {
        for name in ["kvrpcpb.proto", "tinykvpb.proto", "schedulerpb.proto", "metapb.proto", "errorpb.proto",
                     "grpc/health/v1/health.proto", "grpc/reflection/v1/reflection.proto", "grpc/reflection/v1alpha/reflection.proto"] {
            let file = pool.files[name]
            #expect(file != nil, "\(name) missing")
            #expect(file?.serialized.isEmpty == false)
            for dep in file?.dependencies ?? [] { #expect(pool.files[dep] != nil, "\(name) imports missing \(dep)") }
        }
    }

    @Test func symbolsResolveToTheirFiles() {
        #expect(pool.file(containing: "tinykvpb.TinyKv")?.name == "tinykvpb.proto")
        #expect(pool.file(containing: "tinykvpb.TinyKv.RawPut")?.name == "tinykvpb.proto")
        #expect(pool.file(containing: "kvrpcpb.Context")?.name == "kvrpcpb.proto")
        #expect(pool.file(containing: ".kvrpcpb.Context")?.name == "kvrpcpb.proto")
        #expect(pool.file(containing: "kvrpcpb.Context.region_id")?.name == "kvrpcpb.proto")
        #expect(pool.file(containing: "grpc.health.v1.HealthCheckResponse.ServingStatus")?.name == "grpc/health/v1/health.proto")
        #expect(pool.file(containing: "kvrpcpb.Nope.field") == nil)
        #expect(pool.file(containing: "nothing") == nil)
    }

    @Test func dependenciesComeAfterTheFileEachOnce() {
        let names = pool.withDependencies("tinykvpb.proto").map(\.name)
        #expect(names.first == "tinykvpb.proto")
        #expect(Set(names).count == names.count)
        #expect(Set(names).isSuperset(of: ["kvrpcpb.proto", "metapb.proto", "errorpb.proto"]))
    }

    @Test func serializedDescriptorStartsWithItsName() throws {
        // FileDescriptorProto field 1 (name) is written first by protoc.
        let bytes = try #require(pool.files["metapb.proto"]?.serialized)
        #expect(bytes[0] == 0x0A)
        #expect(Array(bytes[2..<2 + Int(bytes[1])]) == Array("metapb.proto".utf8))
    }

    @Test func theServicesOfTheSchema() {
        #expect(pool.services.contains("tinykvpb.TinyKv"))
        #expect(pool.services.contains("schedulerpb.Scheduler"))
        #expect(pool.services.contains("grpc.health.v1.Health"))
    }
}

@Suite struct ReflectionTests {
    let service = ReflectionService(services: ["grpc.health.v1.Health", "tinykvpb.TinyKv"])

    @Test func messagesRoundTrip() throws {
        for query: ServerReflectionRequest.Query in [
            .listServices(""), .fileByFilename("a.proto"), .fileContainingSymbol("x.Y"),
            .fileContainingExtension(containingType: "x.Y", number: 7), .allExtensionNumbersOfType("x.Y"),
        ] {
            let request = ServerReflectionRequest(host: "h", query: query)
            #expect(try ServerReflectionRequest(decoding: request.encode()) == request)
        }
        for answer: ServerReflectionResponse.Answer in [
            .services(["a", "b"]), .fileDescriptors([[1, 2], []]), .extensionNumbers(baseTypeName: "t", numbers: [1, 300]),
            .error(code: 5, message: "nope"),
        ] {
            let response = ServerReflectionResponse(originalRequest: ServerReflectionRequest(query: .listServices("*")), answer: answer)
            #expect(try ServerReflectionResponse(decoding: response.encode()) == response)
        }
    }

    @Test func answers() {
        #expect(service.answer(ServerReflectionRequest(query: .listServices(""))).answer == .services(["grpc.health.v1.Health", "tinykvpb.TinyKv"]))
        guard case .fileDescriptors(let files)? = service.answer(ServerReflectionRequest(query: .fileContainingSymbol("tinykvpb.TinyKv"))).answer else {
            Issue.record("expected descriptors")
            return
        }
        #expect(files.count >= 4)
        guard case .error(let code, _)? = service.answer(ServerReflectionRequest(query: .fileByFilename("nope.proto"))).answer else {
            Issue.record("expected an error")
            return
        }
        #expect(code == 5)
    }

    @Test func malformedBytesAreRejected() {
        #expect(throws: ProtoDecodingError.self) { try ServerReflectionRequest(decoding: [0x1A, 0x05, 0x61]) }
        #expect(throws: ProtoDecodingError.self) { try HealthCheckRequest(decoding: [0xFF]) }
    }
}

@Suite struct HealthTests {
    @Test func statusesAndWatchers() async {
        let health = HealthService(services: ["tinykvpb.TinyKv"])
        #expect(health.status(of: "") == .notServing)
        #expect(health.status(of: "nope") == nil)
        let updates = health.updates(of: "tinykvpb.TinyKv")
        health.setAll(.serving)
        health.shutdown()
        health.set("tinykvpb.TinyKv", .serving)  // ignored after shutdown
        var seen: [HealthService.Status] = []
        for await status in updates { seen.append(status) }
        #expect(seen == [.notServing, .serving, .notServing])
        #expect(health.status(of: "tinykvpb.TinyKv") == .notServing)
        #expect(HealthCheckResponse(status: .serving).encode() == [0x08, 0x01])
    }
}
