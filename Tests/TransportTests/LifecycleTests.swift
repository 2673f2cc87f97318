import XCTest
@testable import Transport

final class LifecycleTests: XCTestCase {
    func testConnectionToClosedPortIsUnavailable() async throws {
        // Bind then release a port so that nothing listens on it.
        let probe = Probe()
        let server = try GRPCServer(address: "127.0.0.1:0", handlers: testHandlers(probe: probe))
        server.start()
        let port = server.port
        await server.shutdown(gracePeriod: .zero)

        let channel = GRPCChannel(target: "127.0.0.1:\(port)")
        let start = ContinuousClock.now
        _ = await XCTAssertThrowsStatus(.unavailable) {
            _ = try await channel.unary(method: "/test.Echo/Unary", request: [1], timeout: .seconds(10))
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))
        channel.close()
    }

    func testServersOnTheSharedQueueOutliveEachOthersShutdown() async throws {
        // Servers without threads of their own share the process's queue with client calls:
        // shutting one down must leave the queue polling for the others.
        let probe = Probe()
        let first = try GRPCServer(address: "127.0.0.1:0", handlers: testHandlers(probe: probe))
        let second = try GRPCServer(address: "127.0.0.1:0", handlers: testHandlers(probe: probe))
        first.start()
        second.start()
        let toFirst = GRPCChannel(target: "127.0.0.1:\(first.port)")
        let toSecond = GRPCChannel(target: "127.0.0.1:\(second.port)")
        let before = try await toFirst.unary(method: "/test.Echo/Unary", request: [1], timeout: .seconds(10))
        XCTAssertEqual(before, [1])
        await first.shutdown(gracePeriod: .zero)
        for i in 0..<20 {
            let reply = try await toSecond.unary(method: "/test.Echo/Unary", request: [UInt8(i)], timeout: .seconds(10))
            XCTAssertEqual(reply, [UInt8(i)])
        }
        let third = try GRPCServer(address: "127.0.0.1:0", handlers: testHandlers(probe: probe))
        third.start()
        let toThird = GRPCChannel(target: "127.0.0.1:\(third.port)")
        let reply = try await toThird.unary(method: "/test.Echo/Unary", request: [9], timeout: .seconds(10))
        XCTAssertEqual(reply, [9])
        for channel in [toFirst, toSecond, toThird] { channel.close() }
        await second.shutdown(gracePeriod: .zero)
        await third.shutdown(gracePeriod: .zero)
    }

    func testBindingAPortInUseThrows() async throws {
        let h = try Harness.start()
        XCTAssertThrowsError(
            try GRPCServer(address: "127.0.0.1:\(h.server.port)", handlers: [:])
        ) { error in
            XCTAssertEqual(error as? GRPCServerError, .bindFailed(address: "127.0.0.1:\(h.server.port)"))
        }
        await h.stop()
    }

    func testShutdownEndsOpenStreamsWithoutWaitingOutTheGracePeriod() async throws {
        let h = try Harness.start()
        let call = try h.channel.clientStreaming(method: "/test.Echo/CollectInline", timeout: .seconds(60))
        try await call.send([1])
        let received = await h.probe.wait("collect.messages", atLeast: 1)
        XCTAssertTrue(received)
        let start = ContinuousClock.now
        await h.server.shutdown(gracePeriod: .seconds(60))
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(30), "an open stream held shutdown for the grace period")
        _ = await XCTAssertThrowsStatus(.unavailable) { _ = try await call.finish() }
        h.channel.close()
    }

    func testGracefulShutdownLetsInFlightCallsFinish() async throws {
        let h = try Harness.start()
        let channel = h.channel
        let calls = (0..<8).map { i in
            Task { try await channel.unary(method: "/test.Echo/Delay", request: [UInt8(i)]) }
        }
        let started = await h.probe.wait("delay.started", atLeast: 8)
        XCTAssertTrue(started)
        await h.server.shutdown(gracePeriod: .seconds(5))
        for (i, call) in calls.enumerated() {
            let reply = try await call.value
            XCTAssertEqual(reply, [UInt8(i)])
        }
        XCTAssertEqual(h.probe.count("delay.finished"), 8)
        // After shutdown, new calls fail instead of hanging.
        _ = await XCTAssertThrowsStatus(.unavailable) {
            _ = try await channel.unary(method: "/test.Echo/Unary", request: [], timeout: .seconds(5))
        }
        channel.close()
    }

    func testShutdownCancelsCallsPastGracePeriod() async throws {
        let h = try Harness.start()
        let channel = h.channel
        let slow = (0..<4).map { _ in
            Task { try await channel.unary(method: "/test.Echo/Slow", request: []) }
        }
        let streaming = try channel.bidiStreaming(method: "/test.Echo/BidiWatch")
        try await streaming.send([1])
        _ = try await streaming.receive()
        let started = await h.probe.wait("slow.started", atLeast: 4)
        XCTAssertTrue(started)

        let start = ContinuousClock.now
        await h.server.shutdown(gracePeriod: .milliseconds(200))
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))
        for call in slow {
            do {
                _ = try await call.value
                XCTFail("slow call should have been cancelled")
            } catch let status as GRPCStatus {
                XCTAssertTrue([.cancelled, .unavailable].contains(status.code), "\(status)")
            }
        }
        let cancelled = await h.probe.wait("slow.cancelled", atLeast: 4)
        XCTAssertTrue(cancelled)
        let watchFailed = await h.probe.wait("watch.failed")
        XCTAssertTrue(watchFailed)
        do {
            _ = try await streaming.receive()
            XCTFail("stream should fail after server shutdown")
        } catch {}
        channel.close()
    }

    func testShutdownIsIdempotentAndWorksWithoutStart() async throws {
        let server = try GRPCServer(address: "127.0.0.1:0", handlers: [:])
        async let a: Void = server.shutdown(gracePeriod: .zero)
        async let b: Void = server.shutdown(gracePeriod: .zero)
        _ = await (a, b)
        await server.shutdown(gracePeriod: .zero)
    }

    func testChannelReconnectsToRestartedServer() async throws {
        let probe = Probe()
        let first = try GRPCServer(address: "127.0.0.1:0", handlers: testHandlers(probe: probe))
        first.start()
        let port = first.port
        let channel = GRPCChannel(target: "127.0.0.1:\(port)")
        let firstReply = try await channel.unary(method: "/test.Echo/Unary", request: [1])
        XCTAssertEqual(firstReply, [1])
        await first.shutdown(gracePeriod: .zero)

        let second = try GRPCServer(address: "127.0.0.1:\(port)", handlers: testHandlers(probe: probe))
        second.start()
        // The first attempt may race the reconnect; a retry loop bounds it.
        var reply: [UInt8]?
        for _ in 0..<50 where reply == nil {
            reply = try? await channel.unary(method: "/test.Echo/Unary", request: [2], timeout: .seconds(1))
            if reply == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        XCTAssertEqual(reply, [2])
        channel.close()
        await second.shutdown(gracePeriod: .zero)
    }
}
