import Foundation

/// TLS settings of a server or a channel, as PEM text.
///
/// - Server: `certificatePEM` and `privateKeyPEM` are required; with `caPEM`, clients
///   must present a certificate signed by that CA (mutual TLS), as TiKV does when its
///   `[security]` section is set.
/// - Channel: the server's certificate is verified against `caPEM` (the system roots
///   without it); `certificatePEM` and `privateKeyPEM`, when both set, are presented
///   as the client certificate.
public struct TLSConfig: Sendable, Equatable {
    public var caPEM: String?
    public var certificatePEM: String?
    public var privateKeyPEM: String?
    /// For channels: the name to check the server's certificate against instead of the target's host.
    public var serverNameOverride: String?

    public init(caPEM: String? = nil, certificatePEM: String? = nil, privateKeyPEM: String? = nil, serverNameOverride: String? = nil) {
        self.caPEM = caPEM
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
        self.serverNameOverride = serverNameOverride
    }

    /// Reads the PEM files; empty paths are left out.
    public init(caPath: String?, certificatePath: String?, privateKeyPath: String?) throws {
        func read(_ path: String?, _ what: String) throws -> String? {
            guard let path, !path.isEmpty else { return nil }
            do {
                return try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw TLSConfigError("cannot read the \(what) \(path): \(error.localizedDescription)")
            }
        }
        self.init(caPEM: try read(caPath, "CA certificate"), certificatePEM: try read(certificatePath, "certificate"),
                  privateKeyPEM: try read(privateKeyPath, "private key"))
    }

    /// Whether a server can be built from these settings.
    func validateForServer() throws {
        guard certificatePEM != nil, privateKeyPEM != nil else {
            throw TLSConfigError("a TLS server needs both a certificate and a private key")
        }
    }
}

/// Unusable TLS settings (missing or unreadable files, a certificate without its key).
public struct TLSConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
