import XCTest
@testable import Transport

final class ListenAddressTests: XCTestCase {
    func testAPortAServerHoldsIsReportedInUse() async throws {
        let h = try Harness.start()
        let address = "127.0.0.1:\(h.server.port)"
        XCTAssertThrowsError(try ListenAddress.checkBindable(address)) { error in
            guard case .addressUnavailable(let reported, let reason)? = error as? GRPCServerError else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(reported, address)
            XCTAssertEqual(reason, "Address already in use")
        }
        await h.stop()
    }

    func testAFreePortChecksAndStaysFreeForTheServer() async throws {
        try ListenAddress.checkBindable("127.0.0.1:0")
        // The check closes its socket: a server can bind the same port right after.
        let first = try GRPCServer(address: "127.0.0.1:0", handlers: [:])
        let port = first.port
        await first.shutdown(gracePeriod: .zero)
        try ListenAddress.checkBindable("127.0.0.1:\(port)")
        let second = try GRPCServer(address: "127.0.0.1:\(port)", handlers: [:])
        XCTAssertEqual(second.port, port)
        await second.shutdown(gracePeriod: .zero)
    }

    /// A server holds its port from init, before its handlers exist: nothing else can take the
    /// address meanwhile, and `start(adding:)` then serves the handlers given late.
    func testAServerBindsAtInitAndServesHandlersGivenAtStart() async throws {
        let server = try GRPCServer(address: "127.0.0.1:0")
        let address = "127.0.0.1:\(server.port)"
        XCTAssertThrowsError(try ListenAddress.checkBindable(address))
        XCTAssertThrowsError(try GRPCServer(address: address))
        server.start(adding: testHandlers(probe: Probe()))
        let channel = GRPCChannel(target: address)
        let reply = try await channel.unary(method: "/test.Echo/Unary", request: [4, 2])
        XCTAssertEqual(reply, [4, 2])
        channel.close()
        await server.shutdown(gracePeriod: .seconds(1))
    }

    func testMalformedAndUnresolvableAddressesAreRefused() {
        for address in ["127.0.0.1", "127.0.0.1:", "[::1]", "no-such-host.invalid:20160"] {
            XCTAssertThrowsError(try ListenAddress.checkBindable(address), address)
        }
    }

    func testSplitsHostAndPort() {
        XCTAssertEqual(ListenAddress.split("127.0.0.1:20160")?.host, "127.0.0.1")
        XCTAssertEqual(ListenAddress.split("127.0.0.1:20160")?.port, "20160")
        XCTAssertEqual(ListenAddress.split("[::1]:20160")?.host, "::1")
        XCTAssertEqual(ListenAddress.split("[::1]:20160")?.port, "20160")
        XCTAssertEqual(ListenAddress.split(":20160")?.host, "")
        XCTAssertNil(ListenAddress.split("localhost"))
    }
}
