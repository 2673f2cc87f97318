import XCTest
@testable import Transport

/// Client streams consumed inline on the poll thread (`MethodHandler.clientStreamingInline`).
final class InlineClientStreamTests: XCTestCase {
    func testEveryMessageIsConsumedThenTheResponseArrives() async throws {
        let h = try Harness.start()
        let call = try h.channel.clientStreaming(method: "/test.Echo/CollectInline", timeout: .seconds(20))
        for i in 0..<1000 { try await call.send(u32(UInt32(i))) }
        let reply = try await call.finish()
        XCTAssertEqual(reply, [0xD0])
        XCTAssertEqual(h.probe.count("collect.messages"), 1000)
        await h.stop()
    }

    func testThrowingEndsTheCallWithThatStatus() async throws {
        let h = try Harness.start()
        let call = try h.channel.clientStreaming(method: "/test.Echo/CollectInline", timeout: .seconds(20))
        try await call.send([1])
        let status = await XCTAssertThrowsStatus(.failedPrecondition) {
            // Sends may or may not fail first depending on timing; the status wins.
            for _ in 0..<10 { try await call.send([0xEE]) }
            _ = try await call.finish()
        }
        XCTAssertEqual(status?.message, "refused 0xEE")
        await h.stop()
    }
}

/// Client-side sends started by callback (`ClientStreamingCall.startSend`), each chained from the
/// previous one's completion on the completion-queue thread, as the raft transport sends.
final class CallbackSendTests: XCTestCase {
    func testSendsChainedFromCompletionsAllArriveThenTheResponse() async throws {
        let h = try Harness.start()
        let call = try h.channel.clientStreaming(method: "/test.Echo/CollectInline", timeout: .seconds(20))
        let done = OneShot<Bool>()
        @Sendable func send(_ i: Int) {
            guard i < 1000 else { return done.fulfill(true) }
            call.startSend(u32(UInt32(i))) { accepted in accepted ? send(i + 1) : done.fulfill(false) }
        }
        send(0)
        let allAccepted = await done.wait()
        XCTAssertTrue(allAccepted)
        let reply = try await call.finish()
        XCTAssertEqual(reply, [0xD0])
        XCTAssertEqual(h.probe.count("collect.messages"), 1000)
        await h.stop()
    }

    func testASendOnAnEndedCallCompletesWithFalse() async throws {
        let h = try Harness.start()
        let call = try h.channel.clientStreaming(method: "/test.Echo/CollectInline", timeout: .seconds(20))
        call.cancel()
        let accepted = await withCheckedContinuation { continuation in
            call.startSend([1]) { continuation.resume(returning: $0) }
        }
        XCTAssertFalse(accepted)
        await h.stop()
    }
}
