import Foundation
import Synchronization
import TinyKVProto
import XCTest
@testable import Scheduler

final class AllocatorTests: SchedulerTestCase {
    private func ts(_ server: SchedulerServer, count: UInt32 = 1) -> Schedulerpb.TsoResponse {
        server.tsoResponse(for: .init(header: header(server), count: count))
    }

    func testTSOBatchesAreStrictlyIncreasing() throws {
        let server = try makeServer()
        var last: UInt64 = 0
        for count in [1, 10, 1000, 1, 7] as [UInt32] {
            let response = ts(server, count: count)
            XCTAssertNil(response.header?.error)
            XCTAssertEqual(response.count, count)
            let value = TSOAllocator.compose(response.timestamp!)
            let first = value - UInt64(count) + 1  // the client derives the batch from the last timestamp
            XCTAssertGreaterThan(first, last)
            XCTAssertGreaterThanOrEqual(response.timestamp!.logical, Int64(count))
            last = value
        }
    }

    func testTSOLogicalOverflowAdvancesPhysical() throws {
        let clock = FakeClock()  // frozen: only overflow can move the physical part
        let server = try makeServer(clock: clock)
        let a = ts(server, count: 200_000).timestamp!
        let b = ts(server, count: 200_000).timestamp!
        XCTAssertEqual(a.physical, Int64(clock.now))
        XCTAssertEqual(b.physical, a.physical + 1)
        XCTAssertEqual(b.logical, 200_000)
        XCTAssertLessThan(a.logical, Int64(TSOAllocator.maxLogical))
        XCTAssertGreaterThan(TSOAllocator.compose(b) - 200_000 + 1, TSOAllocator.compose(a))
    }

    func testTSOInvalidCountsAnswerWithErrorHeader() throws {
        let server = try makeServer()
        XCTAssertEqual(ts(server, count: 0).header?.error?.type, .unknown)
        XCTAssertEqual(ts(server, count: UInt32(TSOAllocator.maxLogical)).header?.error?.type, .unknown)
        XCTAssertNil(ts(server, count: UInt32(TSOAllocator.maxLogical - 1)).header?.error)
    }

    func testTSOMonotonicAcrossRestartWithFrozenClock() throws {
        let clock = FakeClock()
        var server = try makeServer(clock: clock)
        var last: UInt64 = 0
        for _ in 0..<3 {
            for _ in 0..<100 { last = TSOAllocator.compose(ts(server, count: 50).timestamp!) }
            server.shutdown()
            server = try makeServer(clock: clock)  // same data dir, same (frozen) clock
            let first = TSOAllocator.compose(ts(server, count: 1).timestamp!)
            XCTAssertGreaterThan(first, last, "restart must resume above every handed-out timestamp")
            last = first
        }
    }

    func testTSOWindowIsExtendedAsTheClockMoves() throws {
        let clock = FakeClock()
        let server = try makeServer(clock: clock) { $0.tsoSaveIntervalMillis = 1_000 }
        var last: UInt64 = 0
        for _ in 0..<50 {
            clock.advance(400)
            let value = TSOAllocator.compose(ts(server, count: 1).timestamp!)
            XCTAssertGreaterThan(value, last)
            XCTAssertEqual(value >> 18, clock.now, "physical follows the clock")
            last = value
        }
        server.shutdown()
        let reopened = try makeServer(clock: clock)
        XCTAssertGreaterThan(TSOAllocator.compose(ts(reopened).timestamp!), last)
    }

    func testConcurrentTSOHasNoDuplicates() async throws {
        let server = try makeServer()
        let tasks = 8, perTask = 10_000
        let start = ContinuousClock.now
        let all = await withTaskGroup(of: [UInt64].self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    var values: [UInt64] = []
                    values.reserveCapacity(perTask)
                    var previous: UInt64 = 0
                    for _ in 0..<perTask {
                        let value = TSOAllocator.compose(server.tsoResponse(for: .init(count: 1)).timestamp!)
                        precondition(value > previous, "per-stream order")
                        previous = value
                        values.append(value)
                    }
                    return values
                }
            }
            var merged: [UInt64] = []
            for await values in group { merged += values }
            return merged
        }
        let elapsed = ContinuousClock.now - start
        XCTAssertEqual(all.count, tasks * perTask)
        XCTAssertEqual(Set(all).count, tasks * perTask, "duplicate timestamps")
        print("TSO unbatched: \(tasks * perTask) requests in \(elapsed)")
    }

    func testTSOThroughputThroughTheStreamAPI() async throws {
        let server = try makeServer()
        let requests = 20_000
        let stream = AsyncStream<Schedulerpb.TsoRequest> { continuation in
            for _ in 0..<requests { continuation.yield(.init(count: 100)) }
            continuation.finish()
        }
        let received = Atomic<Int>(0)
        let start = ContinuousClock.now
        try await server.tso(requests: stream) { response in
            precondition(response.header?.error == nil)
            received.add(1, ordering: .relaxed)
        }
        let elapsed = ContinuousClock.now - start
        XCTAssertEqual(received.load(ordering: .relaxed), requests)
        print("TSO stream: \(requests) requests x 100 in \(elapsed)")
    }

    func testIDsIncreaseAcrossRestarts() async throws {
        var server = try makeServer { $0.idBatch = 10 }
        var last: UInt64 = 0
        for _ in 0..<3 {
            for _ in 0..<25 {
                let response = await server.allocID(.init(header: header(server)))
                XCTAssertNil(response.header?.error)
                XCTAssertGreaterThan(response.id, last)
                last = response.id
            }
            server.shutdown()
            server = try makeServer { $0.idBatch = 10 }
        }
        expectGreater(await server.allocID(.init()).id, last)
    }

    func testIDAllocatorBatchesPersistence() throws {
        let saves = Atomic<Int>(0)
        let allocator = IDAllocator(persistedEnd: 0, batch: 100) { _ in saves.add(1, ordering: .relaxed) }
        let ids = try (0..<1_000).map { _ in try allocator.alloc() }
        XCTAssertEqual(ids, Array(1...1_000))
        XCTAssertLessThanOrEqual(saves.load(ordering: .relaxed), 10)
        XCTAssertEqual(try allocator.alloc(count: 3), 1_001...1_003)
    }

    func testAllocIDThroughput() async throws {
        let server = try makeServer()
        let count = 20_000
        let start = ContinuousClock.now
        var last: UInt64 = 0
        for _ in 0..<count {
            let id = await server.allocID(.init()).id
            XCTAssertGreaterThan(id, last)
            last = id
        }
        print("AllocID: \(count) ids in \(ContinuousClock.now - start)")
    }
}
