import XCTest
@testable import Transport

final class UnaryTests: XCTestCase {
    func testUnaryEcho() async throws {
        let h = try Harness.start()
        let reply = try await h.channel.unary(method: "/test.Echo/Unary", request: [1, 2, 3])
        XCTAssertEqual(reply, [1, 2, 3])
        let empty = try await h.channel.unary(method: "/test.Echo/Unary", request: [])
        XCTAssertEqual(empty, [])
        await h.stop()
    }

    func testHandlerStatusReachesClient() async throws {
        let h = try Harness.start()
        let status = await XCTAssertThrowsStatus(.notFound) {
            _ = try await h.channel.unary(method: "/test.Echo/Fail", request: [])
        }
        XCTAssertEqual(status?.message, "no such key: k1")
        let plain = await XCTAssertThrowsStatus(.unknown) {
            _ = try await h.channel.unary(method: "/test.Echo/Plain", request: [])
        }
        XCTAssertEqual(plain?.message, "plain failure")
        await h.stop()
    }

    func testUnknownMethodIsUnimplementedAndServerKeepsServing() async throws {
        let h = try Harness.start()
        _ = await XCTAssertThrowsStatus(.unimplemented) {
            _ = try await h.channel.unary(method: "/test.Echo/Nope", request: [9])
        }
        let reply = try await h.channel.unary(method: "/test.Echo/Unary", request: [7])
        XCTAssertEqual(reply, [7])
        await h.stop()
    }

    func testMetadataRoundTrip() async throws {
        let h = try Harness.start()
        let reply = try await h.channel.unary(
            method: "/test.Echo/Metadata", request: [], timeout: .seconds(5), metadata: [("x-token", "secret-42")])
        XCTAssertEqual(String(decoding: reply, as: UTF8.self), "secret-42|/test.Echo/Metadata|true|true")
        let noDeadline = try await h.channel.unary(method: "/test.Echo/Metadata", request: [])
        XCTAssertEqual(String(decoding: noDeadline, as: UTF8.self), "<none>|/test.Echo/Metadata|true|false")
        await h.stop()
    }

    func testClientTimeoutIsDeadlineExceededAndServerSeesCancel() async throws {
        let h = try Harness.start()
        let start = ContinuousClock.now
        _ = await XCTAssertThrowsStatus(.deadlineExceeded) {
            _ = try await h.channel.unary(method: "/test.Echo/Slow", request: [], timeout: .milliseconds(200))
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(3))
        let cancelled = await h.probe.wait("slow.contextCancelled")
        XCTAssertTrue(cancelled, "server handler task should be cancelled by the deadline")
        await h.stop()
    }

    func testTaskCancellationCancelsCall() async throws {
        let h = try Harness.start()
        let channel = h.channel
        let task = Task {
            try await channel.unary(method: "/test.Echo/Slow", request: [])
        }
        let started = await h.probe.wait("slow.started")
        XCTAssertTrue(started)
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("expected cancellation")
        } catch let status as GRPCStatus {
            XCTAssertEqual(status.code, .cancelled)
        }
        let serverSaw = await h.probe.wait("slow.cancelled")
        XCTAssertTrue(serverSaw, "server handler should be cancelled when the client cancels")
        await h.stop()
    }

    func testAlreadyCancelledTaskFailsFast() async throws {
        let h = try Harness.start()
        let channel = h.channel
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await channel.unary(method: "/test.Echo/Slow", request: [])
        }
        _ = await XCTAssertThrowsStatus(.cancelled) { _ = try await task.value }
        await h.stop()
    }

    func testManyConcurrentCalls() async throws {
        let h = try Harness.start()
        let channel = h.channel
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<64 {
                group.addTask {
                    for i in 0..<50 {
                        let payload = u32(UInt32(worker * 1000 + i))
                        let reply = try await channel.unary(method: "/test.Echo/Unary", request: payload)
                        XCTAssertEqual(reply, payload)
                    }
                }
            }
            try await group.waitForAll()
        }
        await h.stop()
    }

    func testLargeMessage() async throws {
        let h = try Harness.start()
        let big = (0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let reply = try await h.channel.unary(method: "/test.Echo/Unary", request: big, timeout: .seconds(20))
        XCTAssertEqual(reply.count, big.count)
        XCTAssertTrue(reply == big)
        await h.stop()
    }

    func testClosedChannelThrowsUnavailable() async throws {
        let h = try Harness.start()
        h.channel.close()
        _ = await XCTAssertThrowsStatus(.unavailable) {
            _ = try await h.channel.unary(method: "/test.Echo/Unary", request: [])
        }
        await h.server.shutdown(gracePeriod: .seconds(1))
    }
}
