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
