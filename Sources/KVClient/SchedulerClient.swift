import Synchronization
import TinyKVProto
import Transport

/// Errors of the routing client.
public enum KVClientError: Error, Sendable, CustomStringConvertible {
    /// The scheduler answered with an error header.
    case scheduler(String)
    /// A store answered with an error that is not a region error.
    case server(String)
    /// Region errors kept coming back after every retry.
    case regionUnavailable(String)

    public var description: String {
        switch self {
        case .scheduler(let m): return "scheduler: \(m)"
        case .server(let m): return "store: \(m)"
        case .regionUnavailable(let m): return "region unavailable after retries: \(m)"
        }
    }
}

/// What the router needs from the scheduler (faked in tests).
public protocol PlacementDriver: Sendable {
    /// The region holding `key` and its leader; nil when the scheduler knows none
    /// (not bootstrapped, e.g. a standalone store).
    func locate(_ key: [UInt8]) async throws -> (region: Metapb.Region, leader: Metapb.Peer?)?
    /// The address of a store, nil if unknown.
    func storeAddress(_ storeID: UInt64) async throws -> String?
    /// Every region from `start` with its leader (empty when not bootstrapped).
    func regions(from start: [UInt8], limit: Int) async throws -> [(region: Metapb.Region, leader: Metapb.Peer?)]
}

/// A client of `schedulerpb.Scheduler` over gRPC.
public final class SchedulerClient: PlacementDriver {
    public let channel: GRPCChannel
    public let timeout: Duration
    private let clusterIDCache = Mutex<UInt64?>(nil)

    public init(address: String, timeout: Duration = .seconds(5)) {
        self.channel = GRPCChannel(target: address)
        self.timeout = timeout
    }

    private var api: Schedulerpb.Scheduler.Type { Schedulerpb.Scheduler.self }

    /// The cluster id (from GetMembers, cached).
    public func clusterID() async throws -> UInt64 {
        if let id = clusterIDCache.withLock({ $0 }) { return id }
        let members = try await channel.call(api.getMembers, Schedulerpb.GetMembersRequest(), timeout: timeout)
        let id = members.header?.clusterId ?? 0
        clusterIDCache.withLock { $0 = id }
        return id
    }

    public func header() async throws -> Schedulerpb.RequestHeader {
        Schedulerpb.RequestHeader(clusterId: try await clusterID())
    }

    /// Checks a response header: nil when OK, the error type otherwise.
    static func failure(_ header: Schedulerpb.ResponseHeader?) -> Schedulerpb.Error? {
        guard let error = header?.error, error.type != .ok else { return nil }
        return error
    }

    public func members() async throws -> Schedulerpb.GetMembersResponse {
        try await channel.call(api.getMembers, Schedulerpb.GetMembersRequest(header: try await header()), timeout: timeout)
    }

    public func isBootstrapped() async throws -> Bool {
        try await channel.call(api.isBootstrapped, Schedulerpb.IsBootstrappedRequest(header: try await header()), timeout: timeout).bootstrapped
    }

    /// Every store (none when not bootstrapped).
    public func stores() async throws -> [Metapb.Store] {
        let response = try await channel.call(api.getAllStores, Schedulerpb.GetAllStoresRequest(header: try await header()), timeout: timeout)
        if let error = Self.failure(response.header) {
            if error.type == .notBootstrapped { return [] }
            throw KVClientError.scheduler(error.message)
        }
        return response.stores
    }

    public func locate(_ key: [UInt8]) async throws -> (region: Metapb.Region, leader: Metapb.Peer?)? {
        let response = try await channel.call(api.getRegion, Schedulerpb.GetRegionRequest(header: try await header(), regionKey: key), timeout: timeout)
        if let error = Self.failure(response.header) {
            if error.type == .notBootstrapped || error.type == .regionNotFound { return nil }
            throw KVClientError.scheduler(error.message)
        }
        guard let region = response.region else { return nil }
        return (region, response.leader.flatMap { $0.id == 0 && $0.storeId == 0 ? nil : $0 })
    }

    public func storeAddress(_ storeID: UInt64) async throws -> String? {
        let response = try await channel.call(api.getStore, Schedulerpb.GetStoreRequest(header: try await header(), storeId: storeID), timeout: timeout)
        if Self.failure(response.header) != nil { return nil }
        guard let address = response.store?.address, !address.isEmpty else { return nil }
        return address
    }

    public func regions(from start: [UInt8], limit: Int) async throws -> [(region: Metapb.Region, leader: Metapb.Peer?)] {
        let response = try await channel.call(
            api.scanRegions,
            Schedulerpb.ScanRegionsRequest(header: try await header(), startKey: start, limit: Int32(clamping: limit)),
            timeout: timeout)
        if let error = Self.failure(response.header) {
            if error.type == .notBootstrapped { return [] }
            throw KVClientError.scheduler(error.message)
        }
        return response.regions.enumerated().map { index, region in
            let leader = index < response.leaders.count ? response.leaders[index] : nil
            return (region, leader.flatMap { $0.id == 0 && $0.storeId == 0 ? nil : $0 })
        }
    }

    /// `count` timestamps from the TSO: returns the last one, as `physical << 18 | logical`.
    public func timestamp(count: UInt32 = 1) async throws -> UInt64 {
        let call = try channel.bidiStreaming(method: api.tso.path, timeout: timeout)
        try await call.send(Schedulerpb.TsoRequest(header: try await header(), count: count).encode())
        await call.closeSend()
        guard let bytes = try await call.receive() else { throw KVClientError.scheduler("TSO stream ended without a timestamp") }
        return try Self.lastTimestamp(in: bytes, count: count)
    }

    /// The last timestamp of a `Tso` response to a request for `count`, as
    /// `physical << 18 | logical`; throws on an error header or a missing range.
    static func lastTimestamp(in bytes: [UInt8], count: UInt32) throws -> UInt64 {
        let response = try Schedulerpb.TsoResponse(decoding: bytes)
        if let error = failure(response.header) { throw KVClientError.scheduler(error.message) }
        guard let ts = response.timestamp, response.count == count else {
            throw KVClientError.scheduler("TSO response without the requested timestamps")
        }
        return UInt64(ts.physical) << 18 | UInt64(ts.logical)
    }
}
