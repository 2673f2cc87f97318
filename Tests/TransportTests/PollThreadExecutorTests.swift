import XCTest
@testable import Transport

/// Tasks run on the shared completion queue's poll thread (`PollThreadExecutor`).
final class PollThreadExecutorTests: XCTestCase {
    /// The kernel's name of the calling thread.
    private static func threadName() -> String {
        (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    func testTasksRunOnThePollThreadAcrossCalls() async throws {
        let h = try Harness.start()
        let names = try await withTaskExecutorPreference(PollThreadExecutor.shared) {
            var names = [Self.threadName()]
            for i in 0..<20 {
                let reply = try await h.channel.unary(method: "/test.Echo/Unary", request: u32(UInt32(i)))
                XCTAssertEqual(readU32(reply), UInt32(i))
                names.append(Self.threadName())
            }
            return names
        }
        XCTAssertEqual(Set(names), ["grpc-cq"])
        await h.stop()
    }

    func testJobsFromOtherThreadsWakeThePollThread() async throws {
        // Nothing else is on the queue: each resumption from a pool thread must wake it.
        for _ in 0..<200 {
            let name = await withTaskExecutorPreference(PollThreadExecutor.shared) {
                await Task.yield()
                try? await Task.sleep(for: .microseconds(50))
                return Self.threadName()
            }
            XCTAssertEqual(name, "grpc-cq")
        }
    }

    func testManyConcurrentTasksAllFinish() async throws {
        let h = try Harness.start()
        let total = try await withThrowingTaskGroup(of: UInt32.self) { group in
            for worker in 0..<64 {
                group.addTask(executorPreference: PollThreadExecutor.shared) {
                    var sum: UInt32 = 0
                    for i in 0..<50 {
                        let value = UInt32(worker * 1000 + i)
                        sum &+= readU32(try await h.channel.unary(method: "/test.Echo/Unary", request: u32(value)))
                    }
                    return sum
                }
            }
            return try await group.reduce(0, &+)
        }
        let expected = (0..<64).flatMap { w in (0..<50).map { UInt32(w * 1000 + $0) } }.reduce(0, &+)
        XCTAssertEqual(total, expected)
        await h.stop()
    }
}
