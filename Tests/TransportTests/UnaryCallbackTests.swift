import XCTest
@testable import Transport

/// Unary calls answered by callback from any thread (`MethodHandler.unaryCallback`).
final class UnaryCallbackTests: XCTestCase {
    func testResponseFromAnotherThread() async throws {
        let h = try Harness.start()
        let reply = try await h.channel.unary(method: "/test.Echo/CallbackEcho", request: [4, 5, 6], timeout: .seconds(10))
        XCTAssertEqual(reply, [4, 5, 6])
        let empty = try await h.channel.unary(method: "/test.Echo/CallbackEcho", request: [], timeout: .seconds(10))
        XCTAssertEqual(empty, [])
        XCTAssertEqual(h.probe.count("callback.received"), 2)
        await h.stop()
    }

    func testErrorStatusFromRespondAndFromThrowing() async throws {
        let h = try Harness.start()
        let status = await XCTAssertThrowsStatus(.notFound) {
            _ = try await h.channel.unary(method: "/test.Echo/CallbackFail", request: [1], timeout: .seconds(10))
        }
        XCTAssertEqual(status?.message, "no such key: k2")
        let thrown = await XCTAssertThrowsStatus(.failedPrecondition) {
            _ = try await h.channel.unary(method: "/test.Echo/CallbackFail", request: [0xEE], timeout: .seconds(10))
        }
        XCTAssertEqual(thrown?.message, "thrown 0xEE")
        await h.stop()
    }

    func testNeverRespondingEndsAtTheClientDeadlineAndALateAnswerIsHarmless() async throws {
        let h = try Harness.start()
        let before = parkedResponders.withLock { $0.count }
        let start = ContinuousClock.now
        _ = await XCTAssertThrowsStatus(.deadlineExceeded) {
            _ = try await h.channel.unary(method: "/test.Echo/CallbackNever", request: [], timeout: .milliseconds(300))
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))
        let started = await h.probe.wait("never.started")
        XCTAssertTrue(started)
        // Answering after the core closed the call must be a no-op, not a crash.
        let late = parkedResponders.withLock { $0.count > before ? $0[before] : nil }
        late?(.success([1]))
        // The server keeps serving, and shuts down without waiting on the unanswered call.
        let reply = try await h.channel.unary(method: "/test.Echo/CallbackEcho", request: [9], timeout: .seconds(10))
        XCTAssertEqual(reply, [9])
        let stopStart = ContinuousClock.now
        await h.stop()
        XCTAssertLessThan(ContinuousClock.now - stopStart, .seconds(5))
    }

    func testShutdownEndsACallThatIsNeverAnswered() async throws {
        let h = try Harness.start()
        let call = Task {
            try await h.channel.unary(method: "/test.Echo/CallbackNever", request: [], timeout: .seconds(60))
        }
        let started = await h.probe.wait("never.started")
        XCTAssertTrue(started)
        // The answer's batch would have watched the call's close: shutdown must watch it instead,
        // or the call would hold the server open.
        let stopStart = ContinuousClock.now
        await h.stop()
        XCTAssertLessThan(ContinuousClock.now - stopStart, .seconds(10))
        do {
            _ = try await call.value
            XCTFail("an unanswered call succeeded")
        } catch let status as GRPCStatus {
            XCTAssertNotEqual(status.code, .ok)
        }
    }

    func testAResponderReleasedWithoutAnsweringAnswersInternal() async throws {
        let h = try Harness.start()
        let status = await XCTAssertThrowsStatus(.internalError) {
            _ = try await h.channel.unary(method: "/test.Echo/CallbackDrop", request: [1], timeout: .seconds(10))
        }
        XCTAssertEqual(status?.message, "the handler ended without answering")
        XCTAssertEqual(h.probe.count("drop.started"), 1)
        await h.stop()
    }

    func testManyConcurrentCalls() async throws {
        let h = try Harness.start()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<500 {
                group.addTask {
                    let reply = try await h.channel.unary(method: "/test.Echo/CallbackEcho", request: u32(UInt32(i)), timeout: .seconds(30))
                    XCTAssertEqual(readU32(reply), UInt32(i))
                }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(h.probe.count("callback.received"), 500)
        await h.stop()
    }
}
