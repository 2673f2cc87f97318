import Synchronization
import TinyKVProto
import XCTest
@testable import Transaction

private final class OrderLog: Sendable {
    let entries = Mutex<[Int]>([])
}

final class LatchesTests: XCTestCase {
    func testDisjointKeysDoNotWaitAndSameKeyIsFIFO() async throws {
        let latches = Latches()
        let (release, releaseContinuation) = AsyncStream<Void>.makeStream()
        let holder = Task {
            await latches.withLatches([[1], [2]]) {
                for await _ in release { break }
            }
        }
        while latches.heldCount < 2 { await Task.yield() }

        // A command on other keys runs while [1] and [2] are held.
        let ran = await latches.withLatches([[3]]) { true }
        XCTAssertTrue(ran)

        // Waiters on [2] queue up in order.
        let order = OrderLog()
        var waiters: [Task<Void, Never>] = []
        for index in 0..<5 {
            waiters.append(Task {
                await latches.withLatches([[2], [9]]) { order.entries.withLock { $0.append(index) } }
            })
            try await Task.sleep(for: .milliseconds(5))  // let it enqueue before the next one
        }
        XCTAssertEqual(order.entries.withLock { $0 }, [])
        releaseContinuation.yield()
        await holder.value
        for waiter in waiters { await waiter.value }
        XCTAssertEqual(order.entries.withLock { $0 }, [0, 1, 2, 3, 4])
        XCTAssertEqual(latches.heldCount, 0)
    }

    /// Concurrent prewrites of one key by different transactions: the latches make exactly one win.
    func testConcurrentPrewritesOfOneKeyHaveOneWinner() async throws {
        let f = try Fixture()
        let successes = await withTaskGroup(of: Bool.self) { group in
            for ts in UInt64(100)..<UInt64(164) {
                group.addTask {
                    let response = await f.service.prewrite(Kvrpcpb.PrewriteRequest(
                        mutations: [put(7, [UInt8(ts & 0xFF)])], primaryLock: [7], startVersion: ts, lockTtl: 100))
                    return response.errors.isEmpty
                }
            }
            var count = 0
            for await success in group where success { count += 1 }
            return count
        }
        XCTAssertEqual(successes, 1)
        try f.assertCounts(1, 1, 0)
    }

    /// Many tasks increment one counter through prewrite/commit with retries: no update is lost.
    func testNoLostUpdate() async throws {
        let f = try Fixture()
        let client = PercolatorClient(rpc: f.service, oracle: LocalTimestampOracle(), lockTTL: 1000)
        let tasks = 24, incrementsPerTask = 4
        let key: [UInt8] = Array("counter".utf8)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    for _ in 0..<incrementsPerTask {
                        while true {
                            var txn = try await client.begin()
                            let current = try await client.get(txn, key).map { Int(String(decoding: $0, as: UTF8.self))! } ?? 0
                            txn.set(key, Array(String(current + 1).utf8))
                            do {
                                try await client.commit(txn)
                                break
                            } catch is PercolatorError {
                                continue
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let final = try await client.get(key, at: LocalTimestampOracle().nextTimestamp() | 1 << 62)
        XCTAssertEqual(final.map { String(decoding: $0, as: UTF8.self) }, String(tasks * incrementsPerTask))
    }
}
