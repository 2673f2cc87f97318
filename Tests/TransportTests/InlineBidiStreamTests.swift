import XCTest
@testable import Transport

/// Bidi streams served inline on the poll thread (`MethodHandler.bidiStreamingInline`).
final class InlineBidiStreamTests: XCTestCase {
    func testRepliesInOrderWhileTheClientKeepsSending() async throws {
        let h = try Harness.start()
        let call = try h.channel.bidiStreaming(method: "/test.Echo/BidiInline", timeout: .seconds(20))
        let count = 2000
        let sender = Task {
            for i in 0..<count { try await call.send(u32(UInt32(i))) }
            await call.closeSend()
        }
        var received: [UInt32] = []
        for try await message in call.responses { received.append(readU32(message)) }
        try await sender.value
        XCTAssertEqual(received, (0..<count).map { UInt32($0) })
        let status = await call.status()
        XCTAssertEqual(status.code, .ok)
        await h.stop()
    }

    func testNilResponsesSendNothingAndHalfCloseEndsOK() async throws {
        let h = try Harness.start()
        let call = try h.channel.bidiStreaming(method: "/test.Echo/BidiInline", timeout: .seconds(20))
        try await call.send([])
        try await call.send([7])
        try await call.send([])
        await call.closeSend()
        var received: [[UInt8]] = []
        for try await message in call.responses { received.append(message) }
        XCTAssertEqual(received, [[7]])
        let status = await call.status()
        XCTAssertEqual(status.code, .ok)
        await h.stop()
    }

    func testThrowingEndsTheCallWithThatStatus() async throws {
        let h = try Harness.start()
        let call = try h.channel.bidiStreaming(method: "/test.Echo/BidiInline", timeout: .seconds(20))
        try await call.send([1])
        let first = try await call.receive()
        XCTAssertEqual(first, [1])
        try await call.send([0xEE])
        let status = await XCTAssertThrowsStatus(.failedPrecondition) {
            while try await call.receive() != nil {}
        }
        XCTAssertEqual(status?.message, "refused 0xEE")
        await h.stop()
    }

    func testAClientThatDoesNotReadIsThrottledNotBuffered() async throws {
        let h = try Harness.start()
        let call = try h.channel.bidiStreaming(method: "/test.Echo/BidiInline", timeout: .seconds(30))
        // 64 KiB messages: flow control fills quickly, then the server's queue, then
        // the server stops receiving; the client's sends stall instead of growing memory.
        let big = [UInt8](repeating: 1, count: 64 * 1024)
        let total = InlineBidiStream.maxQueuedResponses * 4
        let sender = Task {
            for _ in 0..<total { try await call.send(big) }
            await call.closeSend()
        }
        try await Task.sleep(for: .milliseconds(500))
        let handled = h.probe.count("inline.requests")
        XCTAssertLessThan(handled, total, "the server should pause receiving while responses are unread")
        // Reading drains everything and the call ends normally.
        var received = 0
        for try await message in call.responses {
            XCTAssertEqual(message.count, big.count)
            received += 1
        }
        try await sender.value
        XCTAssertEqual(received, total)
        let status = await call.status()
        XCTAssertEqual(status.code, .ok)
        await h.stop()
    }

    func testClientCancelEndsTheStream() async throws {
        let h = try Harness.start()
        let call = try h.channel.bidiStreaming(method: "/test.Echo/BidiInline")
        try await call.send([1])
        _ = try await call.receive()
        call.cancel()
        _ = await XCTAssertThrowsStatus(.cancelled) { _ = try await call.receive() }
        // The server keeps serving new streams.
        let again = try h.channel.bidiStreaming(method: "/test.Echo/BidiInline", timeout: .seconds(10))
        try await again.send([9])
        let reply = try await again.receive()
        XCTAssertEqual(reply, [9])
        await again.closeSend()
        await h.stop()
    }
}
