import Foundation
import Logging
@testable import RaftStore
import Scheduler
import Synchronization
import TinyKVProto
import Transport
import XCTest

/// ``RaftClient`` over real gRPC: a store's `TinyKv/Raft` handler on a real server, its
/// address resolved through the real scheduler.
final class RaftClientTests: XCTestCase {
    /// A `TinyKv/Raft` endpoint that records what it receives.
    final class RaftEndpoint: Sendable {
        final class Received: Sendable {
            let messages = Mutex<[RaftServerpb.RaftMessage]>([])
        }
        private let log = Received()
        let server: GRPCServer

        init(port: Int = 0) throws {
            let received = log
            server = try GRPCServer(address: "127.0.0.1:\(port)", handlers: [
                Tinykvpb.TinyKv.raft.path: .clientStreamingInline({ _, bytes in
                    let message = try RaftServerpb.RaftMessage(decoding: bytes)
                    received.messages.withLock { $0.append(message) }
                }, { RaftServerpb.Done().encode() }),
            ], completionQueueThreads: 1)
            server.start()
        }

        var count: Int { log.messages.withLock { $0.count } }
        var commits: [UInt64] { log.messages.withLock { $0.map { $0.message?.commit ?? 0 } } }
    }

    /// Unreachable reports, by (region, peer).
    final class Reports: Sendable {
        let unreachable = Mutex<[RaftServerpb.RaftMessage]>([])
        var feedback: TransportFeedback {
            TransportFeedback(unreachable: { [self] message in unreachable.withLock { $0.append(message) } },
                              snapshotFinished: { _, _ in })
        }
    }

    private var directory = ""
    private var scheduler: InProcessScheduler!
    private var logger = Logger(label: "raft-client-test")

    override func setUp() async throws {
        directory = NSTemporaryDirectory() + "raft-client-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        logger.logLevel = .critical
        let server = try SchedulerServer(config: SchedulerConfig(dataDirectory: directory + "/scheduler"), logger: logger)
        scheduler = InProcessScheduler(server: server)
        let bootstrapped = try await scheduler.bootstrap(store: Metapb.Store(id: 1, address: "127.0.0.1:1"))
        XCTAssertTrue(bootstrapped)
    }

    override func tearDown() async throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func heartbeat(_ n: Int, to store: UInt64) -> RaftServerpb.RaftMessage {
        RaftServerpb.RaftMessage(
            regionId: UInt64(n % 7 + 1), fromPeer: Metapb.Peer(id: 10, storeId: 1), toPeer: Metapb.Peer(id: 20, storeId: store),
            message: Eraftpb.Message(msgType: .msgHeartbeat, to: 20, from: 10, term: 1, commit: UInt64(n)))
    }

    private func client() throws -> RaftClient {
        RaftClient(scheduler: scheduler, logger: logger, snapshots: try SnapshotManager(directory: directory + "/snap"))
    }

    private func waitUntil(_ what: String, timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { return XCTFail("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    func testMessagesArriveInOrderAcrossBurstsAndRounds() async throws {
        let endpoint = try RaftEndpoint()
        try await scheduler.putStore(Metapb.Store(id: 2, address: "127.0.0.1:\(endpoint.server.port)"))
        let client = try client()
        let reports = Reports()
        // Rounds of different sizes, some back to back (the stream is busy), some after a pause.
        var sent = 0
        for round in 0..<200 {
            let size = round % 10 == 0 ? 50 : round % 3 + 1
            client.send((sent..<sent + size).map { heartbeat($0, to: 2) }, feedback: reports.feedback)
            sent += size
            if round % 20 == 0 { try await Task.sleep(for: .milliseconds(5)) }
        }
        try await waitUntil("every message") { endpoint.count == sent }
        XCTAssertEqual(endpoint.commits, (0..<sent).map(UInt64.init))
        XCTAssertTrue(reports.unreachable.withLock { $0.isEmpty })
        client.close()
        await endpoint.server.shutdown(gracePeriod: .seconds(1))
    }

    func testAStoreThatIsDownIsReportedUnreachableAndReconnectedLater() async throws {
        // Learn a free port, then leave it closed: the store is down.
        let probe = try RaftEndpoint()
        let port = probe.server.port
        await probe.server.shutdown(gracePeriod: .zero)
        try await scheduler.putStore(Metapb.Store(id: 3, address: "127.0.0.1:\(port)"))
        let client = try client()
        let reports = Reports()
        client.send([heartbeat(0, to: 3)], feedback: reports.feedback)
        try await waitUntil("an unreachable report") { !reports.unreachable.withLock { $0.isEmpty } }

        // The store comes back on the same address: later messages get through.
        let endpoint = try RaftEndpoint(port: port)
        try await waitUntil("a message after the store is back", timeout: .seconds(20)) {
            client.send([heartbeat(1, to: 3)], feedback: reports.feedback)
            return endpoint.count > 0
        }
        client.close()
        await endpoint.server.shutdown(gracePeriod: .seconds(1))
    }
}
