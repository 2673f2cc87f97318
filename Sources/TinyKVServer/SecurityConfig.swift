import TinyKVConfig
import Transport

/// TLS settings of a server, like TiKV's `[security]` section: `ca-path`, `cert-path`, `key-path`.
///
/// - All empty (the default): plaintext gRPC.
/// - `cert-path` and `key-path`: the gRPC port serves TLS.
/// - With `ca-path` too: mutual TLS — clients must present a certificate signed by that CA,
///   and the process's own client connections (to the scheduler, to other stores) use the
///   same CA to verify servers and present the same certificate.
public struct SecurityConfig: Sendable, Equatable {
    public var caPath = ""
    public var certPath = ""
    public var keyPath = ""

    public init(caPath: String = "", certPath: String = "", keyPath: String = "") {
        self.caPath = caPath
        self.certPath = certPath
        self.keyPath = keyPath
    }

    /// Reads `[security]` of `file` (if present) over these values.
    public mutating func apply(_ file: ConfigFile) throws {
        guard let section = try file.section("security") else { return }
        if let v = try section.string("ca-path") ?? section.string("cacert-path") { caPath = v }
        if let v = try section.string("cert-path") { certPath = v }
        if let v = try section.string("key-path") { keyPath = v }
    }

    public var isEnabled: Bool { !caPath.isEmpty || !certPath.isEmpty || !keyPath.isEmpty }

    public func validate() throws {
        guard isEnabled else { return }
        guard !certPath.isEmpty, !keyPath.isEmpty else {
            throw ConfigError("security: cert-path and key-path must both be set to serve TLS (ca-path alone is not enough)")
        }
    }

    /// The TLS settings for the gRPC server and channels, reading the PEM files; nil when TLS is off.
    public func tls() throws -> TLSConfig? {
        guard isEnabled else { return nil }
        try validate()
        do {
            return try TLSConfig(caPath: caPath, certificatePath: certPath, privateKeyPath: keyPath)
        } catch let error as TLSConfigError {
            throw ConfigError("security: \(error.message)")
        }
    }
}
