import Foundation
import XCTest
@testable import Transport

/// TLS between our own server and channel, with certificates made by `openssl` at test time.
final class TLSTests: XCTestCase {
    private static let pki: [String: String]? = makePKI()

    private static func makePKI() -> [String: String]? {
        let dir = NSTemporaryDirectory() + "tinykv-tls-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let ext = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n"
        FileManager.default.createFile(atPath: dir + "/leaf.ext", contents: Data(ext.utf8))
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test-ca"],
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out", "other.pem", "-days", "2", "-subj", "/CN=other-ca"],
        ] + ["server", "client"].flatMap { name in [
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)"],
            ["x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "\(name).pem", "-days", "2", "-extfile", "leaf.ext"],
        ] }
        for args in steps {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = args
            process.currentDirectoryURL = URL(fileURLWithPath: dir)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { return nil }
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { return nil }
        }
        var files: [String: String] = [:]
        for name in ["ca.pem", "other.pem", "server.pem", "server.key", "client.pem", "client.key"] {
            files[name] = try? String(contentsOfFile: dir + "/" + name, encoding: .utf8)
        }
        return files
    }

    private func pki() throws -> [String: String] {
        guard let pki = Self.pki else { throw XCTSkip("openssl is not available") }
        return pki
    }

    private func server(_ tls: TLSConfig) throws -> GRPCServer {
        let server = try GRPCServer(address: "127.0.0.1:0", handlers: testHandlers(probe: Probe()), tls: tls)
        server.start()
        return server
    }

    func testMutualTLS() async throws {
        let pki = try pki()
        let server = try server(TLSConfig(caPEM: pki["ca.pem"], certificatePEM: pki["server.pem"], privateKeyPEM: pki["server.key"]))
        let target = "127.0.0.1:\(server.port)"

        let good = GRPCChannel(target: target, tls: TLSConfig(caPEM: pki["ca.pem"], certificatePEM: pki["client.pem"], privateKeyPEM: pki["client.key"]))
        let reply = try await good.unary(method: "/test.Echo/Unary", request: [4, 2], timeout: .seconds(10))
        XCTAssertEqual(reply, [4, 2])

        // A client certificate is required; plaintext is not spoken; the server must be trusted.
        for channel in [
            GRPCChannel(target: target, tls: TLSConfig(caPEM: pki["ca.pem"])),
            GRPCChannel(target: target),
            GRPCChannel(target: target, tls: TLSConfig(caPEM: pki["other.pem"], certificatePEM: pki["client.pem"], privateKeyPEM: pki["client.key"])),
        ] {
            _ = await XCTAssertThrowsStatus(.unavailable) {
                _ = try await channel.unary(method: "/test.Echo/Unary", request: [1], timeout: .seconds(10))
            }
            channel.close()
        }
        good.close()
        await server.shutdown(gracePeriod: .seconds(1))
    }

    func testServerOnlyTLSAndNameOverride() async throws {
        let pki = try pki()
        let server = try server(TLSConfig(certificatePEM: pki["server.pem"], privateKeyPEM: pki["server.key"]))
        let channel = GRPCChannel(target: "localhost:\(server.port)", tls: TLSConfig(caPEM: pki["ca.pem"], serverNameOverride: "localhost"))
        let reply = try await channel.unary(method: "/test.Echo/Unary", request: [9], timeout: .seconds(10))
        XCTAssertEqual(reply, [9])
        channel.close()
        await server.shutdown(gracePeriod: .seconds(1))
    }

    func testServerNeedsCertificateAndKey() throws {
        XCTAssertThrowsError(try GRPCServer(address: "127.0.0.1:0", handlers: [:], tls: TLSConfig(caPEM: "x")))
    }
}
