import TinyKVProto

/// `grpc.reflection.v1(alpha).ServerReflectionRequest` (both versions share the wire format).
public struct ServerReflectionRequest: ProtoMessage {
    public static let protoName = "grpc.reflection.v1.ServerReflectionRequest"

    public enum Query: Sendable, Hashable {
        case fileByFilename(String)
        case fileContainingSymbol(String)
        case fileContainingExtension(containingType: String, number: Int32)
        case allExtensionNumbersOfType(String)
        case listServices(String)
    }

    public var host = ""
    public var query: Query?

    public init() {}

    public init(host: String = "", query: Query?) {
        self.host = host
        self.query = query
    }

    public init(decoding bytes: UnsafeRawBufferPointer) throws {
        self.init()
        try Self.read(bytes) { reader in
            while let (field, value) = try reader.next() {
                switch field {
                case 1: host = value.string ?? ""
                case 3: query = .fileByFilename(value.string ?? "")
                case 4: query = .fileContainingSymbol(value.string ?? "")
                case 5:
                    var type = ""
                    var number: Int32 = 0
                    if let nested = value.data {
                        try nested.withUnsafeBytes { raw in
                            var inner = ProtoReader(raw)
                            while let (f, v) = try inner.next() {
                                if f == 1 { type = v.string ?? "" }
                                if f == 2 { number = Int32(truncatingIfNeeded: v.int ?? 0) }
                            }
                        }
                    }
                    query = .fileContainingExtension(containingType: type, number: number)
                case 6: query = .allExtensionNumbersOfType(value.string ?? "")
                case 7: query = .listServices(value.string ?? "")
                default: break
                }
            }
        }
    }

    public func encode() -> [UInt8] {
        var w = ProtoWriter()
        w.string(1, host)
        switch query {
        case .fileByFilename(let s): w.string(3, s, always: true)
        case .fileContainingSymbol(let s): w.string(4, s, always: true)
        case .fileContainingExtension(let type, let number):
            var inner = ProtoWriter()
            inner.string(1, type)
            inner.int(2, Int64(number))
            w.bytes(5, inner.bytes, always: true)
        case .allExtensionNumbersOfType(let s): w.string(6, s, always: true)
        case .listServices(let s): w.string(7, s, always: true)
        case nil: break
        }
        return w.bytes
    }
}

/// `grpc.reflection.v1(alpha).ServerReflectionResponse`.
public struct ServerReflectionResponse: ProtoMessage {
    public static let protoName = "grpc.reflection.v1.ServerReflectionResponse"

    public enum Answer: Sendable, Hashable {
        /// Serialized FileDescriptorProtos.
        case fileDescriptors([[UInt8]])
        case extensionNumbers(baseTypeName: String, numbers: [Int32])
        case services([String])
        case error(code: Int32, message: String)
    }

    public var validHost = ""
    public var originalRequest: ServerReflectionRequest?
    public var answer: Answer?

    public init() {}

    public init(originalRequest: ServerReflectionRequest?, answer: Answer?) {
        self.originalRequest = originalRequest
        self.answer = answer
    }

    public init(decoding bytes: UnsafeRawBufferPointer) throws {
        self.init()
        try Self.read(bytes) { reader in
            while let (field, value) = try reader.next() {
                guard let data = value.data else { continue }
                switch field {
                case 1: validHost = value.string ?? ""
                case 2: originalRequest = try data.withUnsafeBytes { try ServerReflectionRequest(decoding: $0) }
                case 4:
                    var files: [[UInt8]] = []
                    try Self.fields(data) { f, v in if f == 1, let d = v.data { files.append(d) } }
                    answer = .fileDescriptors(files)
                case 5:
                    var base = ""
                    var numbers: [Int32] = []
                    try Self.fields(data) { f, v in
                        if f == 1 { base = v.string ?? "" }
                        if f == 2, let n = v.int { numbers.append(Int32(truncatingIfNeeded: n)) }
                        if f == 2, let packed = v.data {  // packed repeated int32 (proto3's default)
                            try packed.withUnsafeBytes { raw in
                                var inner = ProtoReader(raw)
                                while let n = try inner.nextVarint() { numbers.append(Int32(truncatingIfNeeded: Int64(bitPattern: n))) }
                            }
                        }
                    }
                    answer = .extensionNumbers(baseTypeName: base, numbers: numbers)
                case 6:
                    var names: [String] = []
                    try Self.fields(data) { f, v in
                        guard f == 1, let service = v.data else { return }
                        try Self.fields(service) { f2, v2 in if f2 == 1 { names.append(v2.string ?? "") } }
                    }
                    answer = .services(names)
                case 7:
                    var code: Int32 = 0
                    var message = ""
                    try Self.fields(data) { f, v in
                        if f == 1 { code = Int32(truncatingIfNeeded: v.int ?? 0) }
                        if f == 2 { message = v.string ?? "" }
                    }
                    answer = .error(code: code, message: message)
                default: break
                }
            }
        }
    }

    private static func fields(_ bytes: [UInt8], _ body: (Int, ProtoReader.Value) throws -> Void) throws {
        try bytes.withUnsafeBytes { raw in
            var reader = ProtoReader(raw)
            while let (f, v) = try reader.next() { try body(f, v) }
        }
    }

    public func encode() -> [UInt8] {
        var w = ProtoWriter()
        w.string(1, validHost)
        if let originalRequest { w.bytes(2, originalRequest.encode(), always: true) }
        switch answer {
        case .fileDescriptors(let files):
            var inner = ProtoWriter()
            for file in files { inner.bytes(1, file, always: true) }
            w.bytes(4, inner.bytes, always: true)
        case .extensionNumbers(let base, let numbers):
            var inner = ProtoWriter()
            inner.string(1, base)
            if !numbers.isEmpty {
                var packed = ProtoWriter()
                for n in numbers { packed.varint(UInt64(bitPattern: Int64(n))) }
                inner.bytes(2, packed.bytes, always: true)
            }
            w.bytes(5, inner.bytes, always: true)
        case .services(let names):
            var inner = ProtoWriter()
            for name in names {
                var service = ProtoWriter()
                service.string(1, name)
                inner.bytes(1, service.bytes, always: true)
            }
            w.bytes(6, inner.bytes, always: true)
        case .error(let code, let message):
            var inner = ProtoWriter()
            inner.int(1, Int64(code))
            inner.string(2, message)
            w.bytes(7, inner.bytes, always: true)
        case nil: break
        }
        return w.bytes
    }
}

/// `grpc.health.v1.HealthCheckRequest`.
public struct HealthCheckRequest: ProtoMessage {
    public static let protoName = "grpc.health.v1.HealthCheckRequest"
    public var service = ""

    public init() {}
    public init(service: String) { self.service = service }

    public init(decoding bytes: UnsafeRawBufferPointer) throws {
        self.init()
        try Self.read(bytes) { reader in
            while let (field, value) = try reader.next() {
                if field == 1 { service = value.string ?? "" }
            }
        }
    }

    public func encode() -> [UInt8] {
        var w = ProtoWriter()
        w.string(1, service)
        return w.bytes
    }
}

/// `grpc.health.v1.HealthCheckResponse`.
public struct HealthCheckResponse: ProtoMessage {
    public static let protoName = "grpc.health.v1.HealthCheckResponse"

    public enum ServingStatus: Int64, Sendable, Hashable, CustomStringConvertible {
        case unknown = 0, serving = 1, notServing = 2, serviceUnknown = 3

        public var description: String {
            switch self {
            case .unknown: return "UNKNOWN"
            case .serving: return "SERVING"
            case .notServing: return "NOT_SERVING"
            case .serviceUnknown: return "SERVICE_UNKNOWN"
            }
        }
    }

    public var status: ServingStatus = .unknown

    public init() {}
    public init(status: ServingStatus) { self.status = status }

    public init(decoding bytes: UnsafeRawBufferPointer) throws {
        self.init()
        try Self.read(bytes) { reader in
            while let (field, value) = try reader.next() {
                if field == 1, let raw = value.int { status = ServingStatus(rawValue: raw) ?? .unknown }
            }
        }
    }

    public func encode() -> [UInt8] {
        var w = ProtoWriter()
        w.int(1, status.rawValue)
        return w.bytes
    }
}
