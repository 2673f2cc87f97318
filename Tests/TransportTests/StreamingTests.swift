import XCTest
@testable import Transport

final class StreamingTests: XCTestCase {
    func testClientStreamingSum() async throws {
        let h = try Harness.start()
        let call = try h.channel.clientStreaming(method: "/test.Echo/Sum", timeout: .seconds(10))
        var expected: UInt64 = 0
        for i in 1...500 {
            try await call.send(u32(UInt32(i)))
            expected += UInt64(i)
        }
        let reply = try await call.finish()
        XCTAssertEqual(readU64(reply), expected)
        await h.stop()
    }

    func testClientStreamingUnknownMethod() async throws {
        let h = try Harness.start()
        let call = try h.channel.clientStreaming(method: "/test.Echo/Missing")
        _ = await XCTAssertThrowsStatus(.unimplemented) {
            // Sends may or may not fail first depending on timing; the status wins.
            for i in 0..<10 { try await call.send(u32(UInt32(i))) }
            _ = try await call.finish()
        }
        await h.stop()
    }

    func testServerStreaming() async throws {
        let h = try Harness.start()
        let call = try h.channel.serverStreaming(method: "/test.Echo/Count", request: u32(300))
        var received: [UInt32] = []
        for try await message in call.responses {
            received.append(readU32(message))
        }
        XCTAssertEqual(received, (0..<300).map { UInt32($0) })
        await h.stop()
    }

    func testServerStreamingErrorAfterMessages() async throws {
        let h = try Harness.start()
        let call = try h.channel.serverStreaming(method: "/test.Echo/CountThenFail", request: u32(3))
        var received = 0
        let status = await XCTAssertThrowsStatus(.aborted) {
            while try await call.receive() != nil { received += 1 }
        }
        XCTAssertEqual(received, 3)
        XCTAssertEqual(status?.message, "stopped")
        await h.stop()
    }

    func testBidiEchoConcurrentSendReceive() async throws {
        let h = try Harness.start()
        let call = try h.channel.bidiStreaming(method: "/test.Echo/Bidi", timeout: .seconds(20))
        let count = 1000
        let sender = Task {
            for i in 0..<count {
                try await call.send(u32(UInt32(i)))
            }
            await call.closeSend()
        }
        var received: [UInt32] = []
        for try await message in call.responses {
            received.append(readU32(message))
        }
        try await sender.value
        XCTAssertEqual(received.count, count)
        XCTAssertEqual(received, (0..<count).map { UInt32($0) })
        let status = await call.status()
        XCTAssertEqual(status.code, .ok)
        await h.stop()
    }

    func testExchangeSendsAndReceivesInOneStep() async throws {
        let h = try Harness.start()
        for method in ["/test.Echo/Bidi", "/test.Echo/BidiInline"] {
            let call = try h.channel.bidiStreaming(method: method, timeout: .seconds(20))
            for i in 0..<200 {
                let reply = try await call.exchange(u32(UInt32(i)))
                XCTAssertEqual(reply.map(readU32), UInt32(i), method)
            }
            await call.closeSend()
            let end = try await call.receive()
            XCTAssertNil(end, method)
        }
        await h.stop()
    }

    func testExchangeThrowsTheStatusOfAFailedStream() async throws {
        let h = try Harness.start()
        let call = try h.channel.bidiStreaming(method: "/test.Echo/BidiInline", timeout: .seconds(20))
        let first = try await call.exchange([7])
        XCTAssertEqual(first, [7])
        _ = await XCTAssertThrowsStatus(.failedPrecondition) {
            _ = try await call.exchange([0xEE])
        }
        await h.stop()
    }

    func testClientDisconnectEndsServerStream() async throws {
        let h = try Harness.start()
        let call = try h.channel.bidiStreaming(method: "/test.Echo/BidiWatch")
        try await call.send([1])
        let first = try await call.receive()
        XCTAssertEqual(first, [1])
        call.cancel()
        let failed = await h.probe.wait("watch.failed")
        XCTAssertTrue(failed, "the server's request stream should fail when the client cancels")
        _ = await XCTAssertThrowsStatus(.cancelled) {
            _ = try await call.receive()
        }
        await h.stop()
    }

    func testClosingTheChannelLetsLiveCallsFinish() async throws {
        let h = try Harness.start()
        let call = try h.channel.bidiStreaming(method: "/test.Echo/Bidi")
        try await call.send([1])
        _ = try await call.receive()
        h.channel.close()
        // New calls are refused...
        _ = await XCTAssertThrowsStatus(.unavailable) {
            _ = try await h.channel.unary(method: "/test.Echo/Unary", request: [])
        }
        // ...but the core keeps the connection for calls already running.
        try await call.send([2])
        let second = try await call.receive()
        XCTAssertEqual(second, [2])
        await call.closeSend()
        let end = try await call.receive()
        XCTAssertNil(end)
        await h.server.shutdown(gracePeriod: .seconds(1))
    }

    func testConcurrentSendsOnOneStreamAreRejectedNotCorrupted() async throws {
        let h = try Harness.start()
        let call = try h.channel.clientStreaming(method: "/test.Echo/Sum")
        // Two sends at once: one may be refused by the core; neither crashes.
        let first = Task { try await call.send(u32(1)) }
        let second = Task { try await call.send(u32(2)) }
        var succeeded = 0
        if (try? await first.value) != nil { succeeded += 1 }
        if (try? await second.value) != nil { succeeded += 1 }
        XCTAssertGreaterThanOrEqual(succeeded, 1)
        call.cancel()
        await h.stop()
    }

    func testDroppingStreamingCallCancelsIt() async throws {
        let h = try Harness.start()
        do {
            let call = try h.channel.bidiStreaming(method: "/test.Echo/BidiWatch")
            try await call.send([1])
            _ = try await call.receive()
        }
        let failed = await h.probe.wait("watch.failed")
        XCTAssertTrue(failed)
        await h.stop()
    }

    func testTaskCancellationDuringReceiveCancelsStream() async throws {
        let h = try Harness.start()
        let call = try h.channel.bidiStreaming(method: "/test.Echo/BidiWatch")
        try await call.send([5])
        _ = try await call.receive()
        let reader = Task { try await call.receive() }
        try await Task.sleep(for: .milliseconds(50))
        reader.cancel()
        _ = await XCTAssertThrowsStatus(.cancelled) { _ = try await reader.value }
        let failed = await h.probe.wait("watch.failed")
        XCTAssertTrue(failed)
        await h.stop()
    }
}
