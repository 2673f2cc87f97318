import Foundation
import Logging
import Synchronization
import TinyKVProto
import XCTest
@testable import Scheduler

/// A clock tests move by hand.
final class FakeClock: Sendable {
    private let value: Atomic<UInt64>
    init(_ start: UInt64 = 1_700_000_000_000) { value = Atomic(start) }
    var now: UInt64 { value.load(ordering: .relaxed) }
    func advance(_ millis: UInt64) { value.add(millis, ordering: .relaxed) }
    var clock: MillisecondClock { { [self] in self.now } }
}

/// A fresh data directory per test, removed afterwards.
class SchedulerTestCase: XCTestCase {
    var directory: String!
    var servers: [SchedulerServer] = []

    override func setUp() {
        directory = NSTemporaryDirectory() + "sched-\(UUID().uuidString)"
    }

    override func tearDown() {
        servers.forEach { $0.shutdown() }
        servers = []
        try? FileManager.default.removeItem(atPath: directory)
    }

    func makeConfig(_ adjust: (inout SchedulerConfig) -> Void = { _ in }) -> SchedulerConfig {
        var config = SchedulerConfig(name: "pd-test", clientURLs: ["http://127.0.0.1:2379"], dataDirectory: directory)
        adjust(&config)
        return config
    }

    func makeServer(clock: FakeClock? = nil, _ adjust: (inout SchedulerConfig) -> Void = { _ in }) throws -> SchedulerServer {
        var logger = Logger(label: "scheduler-test")
        logger.logLevel = .critical
        let server = try SchedulerServer(config: makeConfig(adjust), logger: logger, clock: clock?.clock ?? wallClockMillis)
        servers.append(server)
        return server
    }

    /// A server bootstrapped with store 1 and stores 2...storeCount, all heartbeating at the clock's now.
    func makeCluster(stores storeCount: Int, clock: FakeClock, _ adjust: (inout SchedulerConfig) -> Void = { _ in }) async throws -> SchedulerServer {
        let server = try makeServer(clock: clock, adjust)
        let boot = await server.bootstrap(.init(header: header(server), store: store(1)))
        XCTAssertNil(boot.header?.error)
        for id in 1...UInt64(storeCount) {
            let put = await server.putStore(.init(header: header(server), store: store(id)))
            XCTAssertNil(put.header?.error)
            _ = await server.storeHeartbeat(.init(header: header(server), stats: .init(storeId: id)))
        }
        return server
    }

    func header(_ server: SchedulerServer) -> Schedulerpb.RequestHeader { .init(clusterId: server.clusterID) }
    func store(_ id: UInt64, state: Metapb.StoreState = .up) -> Metapb.Store {
        .init(id: id, address: "127.0.0.1:\(20160 + id)", state: state)
    }
}

func key(_ s: String) -> [UInt8] { Array(s.utf8) }

/// A region with peers `id*10 + n` on the given stores; the leader is on `leaderStore` (default: the first store).
func makeRegion(_ id: UInt64, _ start: String, _ end: String, stores: [UInt64], leaderStore: UInt64? = nil,
                version: UInt64 = 1, confVer: UInt64 = 1) -> RegionInfo {
    let peers = stores.enumerated().map { Metapb.Peer(id: id * 10 + UInt64($0.offset), storeId: $0.element) }
    let region = Metapb.Region(id: id, startKey: key(start), endKey: key(end),
                               regionEpoch: .init(confVer: confVer, version: version), peers: peers)
    let leader = peers.first { $0.storeId == (leaderStore ?? stores.first) }
    return RegionInfo(region: region, leader: leader)
}

extension RegionInfo {
    var heartbeat: Schedulerpb.RegionHeartbeatRequest {
        .init(region: region, leader: leader, pendingPeers: pendingPeers, approximateSize: approximateSize)
    }

    /// What a TinyKV store does with a scheduling command: apply it and bump the epoch.
    mutating func apply(_ command: Schedulerpb.RegionHeartbeatResponse) {
        if let change = command.changePeer, let peer = change.peer {
            switch change.changeType {
            case .addNode: if !hasPeer(onStore: peer.storeId) { region.peers.append(peer) }
            default: region.peers.removeAll { $0.id == peer.id }
            }
            region.regionEpoch!.confVer += 1
        }
        if let transfer = command.transferLeader, let peer = transfer.peer { leader = peer }
    }
}

/// Collects what a stream sends.
final class Collector<T: Sendable>: Sendable {
    private let items = Mutex<[T]>([])
    func append(_ item: T) { items.withLock { $0.append(item) } }
    var all: [T] { items.withLock { $0 } }
}

// XCTAssert* take autoclosures, which cannot contain `await`; these take plain values.
func expectEqual<T: Equatable>(_ a: T, _ b: T, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a, b, message, file: file, line: line)
}
func expectNil<T>(_ a: T?, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertNil(a, message, file: file, line: line)
}
func expectGreater<T: Comparable>(_ a: T, _ b: T, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertGreaterThan(a, b, message, file: file, line: line)
}
