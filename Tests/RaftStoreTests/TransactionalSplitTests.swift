import Foundation
import Logging
@testable import RaftStore
import Storage
import TinyKVProto
import Transaction
import XCTest

/// Splits of regions holding transactional data: split keys are encoded user keys (what
/// TinySQL's `pd_codec` decodes), transactions route by `EncodeBytes(key)` and may span
/// regions, raw data routes by the raw key, and region id 0 routes by key.
final class TransactionalSplitTests: XCTestCase {
    private var cluster: TestCluster!
    private let logger = Logger(label: "txn-split-test")

    override func tearDown() {
        cluster?.shutdown()
        cluster = nil
    }

    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
    private func key(_ i: Int) -> [UInt8] { bytes(String(format: "t%05d", i)) }

    private func tiles(_ regions: [Metapb.Region]) -> Bool {
        let sorted = regions.sorted { $0.startKey.lexicographicallyPrecedes($1.startKey) }
        guard sorted.first?.startKey.isEmpty == true, sorted.last?.endKey.isEmpty == true else { return false }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.endKey != b.startKey { return false }
        return true
    }

    /// Runs a transactional command on the leader of the region holding `EncodeBytes(userKey)`,
    /// retrying while it answers with a region error.
    private func onLeader<Response: Sendable>(
        of userKey: [UInt8], _ what: String, _ body: @escaping (TransactionService, Kvrpcpb.Context) async -> (Response, Errorpb.Error?)
    ) async throws -> Response {
        let routing = MemComparable.encode(userKey)
        var result: Response?
        var lastError: Errorpb.Error?
        let deadline = ContinuousClock.now + .seconds(15)
        while result == nil, ContinuousClock.now < deadline {
            if let (node, status) = await cluster.leader(forKey: routing) {
                let peer = status.region.peers.first { $0.id == status.peerID }
                let context = Kvrpcpb.Context(regionId: status.region.id, regionEpoch: status.region.regionEpoch, peer: peer)
                let (response, regionError) = await body(TransactionService(storage: node.storage, logger: logger), context)
                if let regionError { lastError = regionError } else { result = response }
            }
            if result == nil { try await Task.sleep(for: .milliseconds(30)) }
        }
        guard let result else {
            XCTFail("\(what) did not succeed in time; last error: \(String(describing: lastError))")
            throw CancellationError()
        }
        return result
    }

    /// Percolator two-phase commit of `writes`, one request per region (grouped by encoded key).
    private func commit(_ writes: [([UInt8], [UInt8])], startTs: UInt64, commitTs: UInt64) async throws {
        let primary = writes[0].0
        for (key, value) in writes {
            let response = try await onLeader(of: key, "prewrite") { service, context in
                let r = await service.prewrite(Kvrpcpb.PrewriteRequest(
                    context: context, mutations: [Kvrpcpb.Mutation(op: .put, key: key, value: value)],
                    primaryLock: primary, startVersion: startTs, lockTtl: 10_000))
                return (r, r.regionError)
            }
            XCTAssertEqual(response.errors, [])
        }
        for (key, _) in writes {
            let response = try await onLeader(of: key, "commit") { service, context in
                let r = await service.commit(Kvrpcpb.CommitRequest(context: context, startVersion: startTs, keys: [key], commitVersion: commitTs))
                return (r, r.regionError)
            }
            XCTAssertNil(response.error)
        }
    }

    private func get(_ key: [UInt8], at ts: UInt64) async throws -> [UInt8]? {
        let response = try await onLeader(of: key, "get") { service, context in
            let r = await service.get(Kvrpcpb.GetRequest(context: context, key: key, version: ts))
            return (r, r.regionError)
        }
        XCTAssertNil(response.error)
        return response.notFound ? nil : response.value
    }

    /// KvScan over every region from `start`, each region's answer cut at its end.
    private func scanAll(at ts: UInt64) async throws -> [[UInt8]] {
        var keys: [[UInt8]] = []
        var next: [UInt8]? = []
        while let start = next {
            let routing = MemComparable.encode(start)
            guard let (_, status) = await cluster.leader(forKey: routing) else { try await Task.sleep(for: .milliseconds(30)); continue }
            let end = status.region.endKey
            let response = try await onLeader(of: start, "scan") { service, context in
                let r = await service.scan(Kvrpcpb.ScanRequest(context: context, startKey: start, limit: 10_000, version: ts))
                return (r, r.regionError)
            }
            for pair in response.pairs {
                XCTAssertTrue(end.isEmpty || MemComparable.encode(pair.key).lexicographicallyPrecedes(end), "a scan stays in its region")
                keys.append(pair.key)
            }
            next = end.isEmpty ? nil : MemComparable.smallestKey(encodedAtLeast: end)
        }
        return keys
    }

    /// Automatic splits of transactional data on three stores.
    func testAutomaticSplitsOfTransactionalDataUseEncodedKeys() async throws {
        cluster = try TestCluster(name: "txn-split")
        cluster.config.regionMaxSize = 12 << 10
        cluster.config.regionSplitSize = 8 << 10
        cluster.config.splitCheckTickInterval = .milliseconds(100)
        for _ in 0..<3 { try await cluster.addStore() }
        try await cluster.waitUntil("3 replicas", timeout: .seconds(20)) {
            await cluster.leader()?.1.region.peers.count == 3
        }
        let value = [UInt8](repeating: 0x76, count: 200)
        var ts: UInt64 = 100
        for batch in 0..<20 {
            ts += 2
            try await commit((0..<10).map { (key(batch * 10 + $0), value) }, startTs: ts - 1, commitTs: ts)
        }
        try await cluster.waitUntil("at least 3 regions known to the scheduler", timeout: .seconds(20)) {
            let known = await cluster.schedulerRegions()
            return known.count >= 3 && tiles(known)
        }
        let known = await cluster.schedulerRegions()
        for region in known {
            for boundary in [region.startKey, region.endKey] where !boundary.isEmpty {
                let decoded = try XCTUnwrap(MemComparable.decode(boundary), "boundary \(boundary) is EncodeBytes(user key)")
                XCTAssertTrue(String(decoding: decoded, as: UTF8.self).hasPrefix("t"))
            }
        }
        // Every key readable by point get through its region and by a scan across regions.
        ts += 1
        for i in 0..<200 {
            let got = try await get(key(i), at: ts)
            XCTAssertEqual(got, value)
        }
        let scanned = try await scanAll(at: ts)
        XCTAssertEqual(scanned, (0..<200).map(key))

        // A transaction spanning two regions commits atomically on both.
        let sorted = known.sorted { $0.startKey.lexicographicallyPrecedes($1.startKey) }
        let boundary = try XCTUnwrap(MemComparable.decode(sorted[1].startKey))
        let left = key(0), right = boundary
        ts += 2
        try await commit([(left, bytes("L")), (right, bytes("R"))], startTs: ts - 1, commitTs: ts)
        let gotLeft = try await get(left, at: ts + 1)
        let gotRight = try await get(right, at: ts + 1)
        XCTAssertEqual(gotLeft, bytes("L"))
        XCTAssertEqual(gotRight, bytes("R"))

        // Raw data still routes by the raw key (compared as is with the encoded bounds).
        for i in 0..<10 { try await cluster.put("raw\(i)", "v\(i)") }
        for i in 0..<10 {
            let got = try await cluster.get("raw\(i)")
            XCTAssertEqual(got, "v\(i)")
        }
        try await cluster.waitUntil("every store runs every region", timeout: .seconds(20)) {
            let ids = Set(await cluster.schedulerRegions().map(\.id))
            for node in cluster.nodes where Set(await node.regions().map(\.region.id)) != ids { return false }
            return true
        }
    }

    /// Region id 0: reads and writes go to the local region holding the key (in the request's
    /// key space); requests spanning regions get `key_not_in_region`, keyless ones on a
    /// multi-region store `region_not_found`.
    func testRegionIDZeroRoutesByKey() async throws {
        cluster = try TestCluster(name: "region-zero")
        let node = try await cluster.addStore()
        try await cluster.waitUntil("leader") { await cluster.leader() != nil }
        let split = MemComparable.encode(bytes("m"))
        try await cluster.split(atBoundary: split)
        try await cluster.waitUntil("two regions with leaders") {
            let statuses = await node.regions()
            return statuses.count == 2 && statuses.allSatisfy(\.isLeader)
        }
        let service = TransactionService(storage: node.storage, logger: logger)
        let zero = Kvrpcpb.Context()
        for (i, user) in ["apple", "zebra"].enumerated() {
            let ts = UInt64(10 + 10 * i)
            let prewrite = await service.prewrite(Kvrpcpb.PrewriteRequest(
                context: zero, mutations: [Kvrpcpb.Mutation(op: .put, key: bytes(user), value: bytes("v"))],
                primaryLock: bytes(user), startVersion: ts, lockTtl: 1000))
            XCTAssertNil(prewrite.regionError)
            XCTAssertEqual(prewrite.errors, [])
            let commit = await service.commit(Kvrpcpb.CommitRequest(context: zero, startVersion: ts, keys: [bytes(user)], commitVersion: ts + 1))
            XCTAssertNil(commit.regionError)
            let get = await service.get(Kvrpcpb.GetRequest(context: zero, key: bytes(user), version: 100))
            XCTAssertEqual(get.value, bytes("v"))
        }
        // One request, keys in both regions.
        let spanning = await service.prewrite(Kvrpcpb.PrewriteRequest(
            context: zero, mutations: [Kvrpcpb.Mutation(op: .put, key: bytes("apple"), value: []), Kvrpcpb.Mutation(op: .put, key: bytes("zebra"), value: [])],
            primaryLock: bytes("apple"), startVersion: 50, lockTtl: 1000))
        XCTAssertNotNil(spanning.regionError?.keyNotInRegion)
        // Scans stay in the region of their start key.
        let scan = await service.scan(Kvrpcpb.ScanRequest(context: zero, startKey: bytes("a"), limit: 10, version: 100))
        XCTAssertEqual(scan.pairs.map(\.key), [bytes("apple")])
        // Raw keys route as they are: raw "m" sorts before EncodeBytes("m"), so it is in the left region.
        var batch = WriteBatch()
        batch.put(.default, bytes("m"), bytes("raw"))
        try await node.storage.write(zero, for: .raw(bytes("m")), batch)
        let reader = try await node.storage.reader(zero, for: .raw(bytes("m")))
        XCTAssertEqual(try reader.get(.default, bytes("m")), bytes("raw"))
        XCTAssertEqual((reader as? RegionReader)?.region.endKey, split)
        // Without keys a multi-region store cannot route.
        do {
            _ = try await node.storage.reader(zero)
            XCTFail("keyless region-0 read served")
        } catch let error as RegionError {
            XCTAssertNotNil(error.error.regionNotFound)
        }
        // An explicit region id is used as given, keys or not.
        do {
            _ = try await node.storage.reader(Kvrpcpb.Context(regionId: 4242), for: .transactional([bytes("zebra")]))
            XCTFail("unknown region served")
        } catch let error as RegionError {
            XCTAssertNotNil(error.error.regionNotFound)
        }
    }
}
