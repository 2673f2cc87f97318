import Foundation

/// One file of proto/ as embedded at build time (see `make proto`).
struct EmbeddedFileDescriptor: Sendable {
    let name: String
    let package: String
    let dependencies: [String]
    let services: [String]
    let symbols: [String]
    let base64: String
}

/// The descriptors a server offers through reflection, indexed by file name and symbol.
public struct DescriptorPool: Sendable {
    public struct File: Sendable {
        public let name: String
        public let package: String
        public let dependencies: [String]
        public let services: [String]
        public let symbols: [String]
        /// The serialized `google.protobuf.FileDescriptorProto`.
        public let serialized: [UInt8]
    }

    public let files: [String: File]
    private let fileBySymbol: [String: String]

    /// Every file of proto/ (TinyKV, scheduler, reflection and health).
    public static let embedded = DescriptorPool(
        EmbeddedDescriptors.files.map {
            File(name: $0.name, package: $0.package, dependencies: $0.dependencies, services: $0.services,
                 symbols: $0.symbols, serialized: [UInt8](Data(base64Encoded: $0.base64) ?? Data()))
        })

    public init(_ files: [File]) {
        var byName: [String: File] = [:]
        var bySymbol: [String: String] = [:]
        for file in files {
            byName[file.name] = file
            for symbol in file.symbols { bySymbol[symbol] = file.name }
        }
        self.files = byName
        self.fileBySymbol = bySymbol
    }

    /// Every service defined by the pool's files, sorted.
    public var services: [String] { files.values.flatMap(\.services).sorted() }

    /// The file defining `symbol` (a service, method, message or enum; fields resolve to their message).
    public func file(containing symbol: String) -> File? {
        var name = Substring(symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol)
        while true {
            if let file = fileBySymbol[String(name)] { return files[file] }
            guard let dot = name.lastIndex(of: ".") else { return nil }
            name = name[..<dot]
            // Only strip one trailing component (a field or enum value), never the package.
            if fileBySymbol[String(name)] == nil { return nil }
        }
    }

    /// `name` followed by its transitive dependencies, each once (what reflection returns).
    public func withDependencies(_ name: String) -> [File] {
        var seen = Set<String>()
        var out: [File] = []
        func visit(_ n: String) {
            guard seen.insert(n).inserted, let file = files[n] else { return }
            out.append(file)
            for dep in file.dependencies { visit(dep) }
        }
        visit(name)
        return out
    }
}
