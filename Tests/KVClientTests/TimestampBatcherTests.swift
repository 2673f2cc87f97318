import Synchronization
import Testing
import TinyKVProto
import Transport
@testable import KVClient

/// A minimal TSO over real gRPC: hands out `physical << 18 | logical` ranges and records each
/// request's count; `stall` makes it stop answering (timeout path).
final class TestTSO: Sendable {
    struct State {
        var logical: Int64 = 0
        var counts: [UInt32] = []
        var stall = false
    }
    final class Ledger: Sendable { let state = Mutex(State()) }
    let ledger = Ledger()
    let server: GRPCServer

    init() throws {
        let ledger = self.ledger
        var handlers = ServiceHandlers()
        handlers.unary(Schedulerpb.Scheduler.getMembers) { _, _ in
            Schedulerpb.GetMembersResponse(header: Schedulerpb.ResponseHeader(clusterId: 7))
        }
        handlers.bidiStreamingInline(Schedulerpb.Scheduler.tso) { request, _ in
            ledger.state.withLock { s -> Schedulerpb.TsoResponse? in
                if s.stall { return nil }
                s.counts.append(request.count)
                s.logical += Int64(request.count)
                return Schedulerpb.TsoResponse(header: Schedulerpb.ResponseHeader(clusterId: 7), count: request.count,
                                               timestamp: Schedulerpb.Timestamp(physical: 1000, logical: s.logical))
            }
        }
        server = try GRPCServer(address: "127.0.0.1:0", handlers: handlers.byPath)
        server.start()
    }
}

@Suite struct TimestampBatcherTests {
    @Test func concurrentCallersGetDistinctIncreasingTimestampsInFewRequests() async throws {
        let tso = try TestTSO()
        let oracle = SchedulerTimestampOracle(scheduler: SchedulerClient(address: "127.0.0.1:\(tso.server.port)"))
        let callers = 200
        let stamps = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for _ in 0..<callers { group.addTask { try await oracle.next() } }
            var all: [UInt64] = []
            for try await ts in group { all.append(ts) }
            return all
        }
        #expect(Set(stamps).count == callers)
        // Every handed-out timestamp lies in a range the TSO granted, and the ranges cover them exactly.
        let counts = tso.ledger.state.withLock { $0.counts }
        #expect(counts.reduce(0, +) == UInt32(callers))
        #expect(counts.count < callers, "concurrent callers should share requests")
        #expect(stamps.min() == (1000 << 18) + 1 && stamps.max() == (1000 << 18) + UInt64(callers))
        // Sequential callers still get strictly increasing timestamps.
        let a = try await oracle.next(), b = try await oracle.next()
        #expect(a < b)
        await tso.server.shutdown(gracePeriod: .zero)
    }

    @Test func aSilentSchedulerFailsTheWaitersAndTheNextRequestUsesAFreshStream() async throws {
        let tso = try TestTSO()
        let oracle = SchedulerTimestampOracle(scheduler: SchedulerClient(address: "127.0.0.1:\(tso.server.port)", timeout: .milliseconds(300)))
        _ = try await oracle.next()
        tso.ledger.state.withLock { $0.stall = true }
        await #expect(throws: KVClientError.self) { try await oracle.next() }
        tso.ledger.state.withLock { $0.stall = false }
        let after = try await oracle.next()
        #expect(after > 1000 << 18)
        await tso.server.shutdown(gracePeriod: .zero)
    }
}
