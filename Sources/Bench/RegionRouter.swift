import Synchronization
import TinyKVProto
import Transport

/// Finds the store that leads the region of a key, through the scheduler, and
/// caches it: `GetRegion` for the key, `GetStore` for the leader's address.
/// A region error from the store invalidates the entry (or follows its leader hint).
public final class RegionRouter: Sendable {
    /// Where a key's requests go.
    public struct Route: Sendable {
        public var region: Metapb.Region
        public var leader: Metapb.Peer
        public var channel: GRPCChannel

        /// The request context for this region.
        public var context: Kvrpcpb.Context {
            Kvrpcpb.Context(regionId: region.id, regionEpoch: region.regionEpoch, peer: leader)
        }

        public func contains(_ key: [UInt8]) -> Bool {
            key.lexicographicallyPrecedes(region.startKey) == false
                && (region.endKey.isEmpty || key.lexicographicallyPrecedes(region.endKey))
        }
    }

    public let scheduler: GRPCChannel
    private let routes = Mutex<[Route]>([])
    private let channels = Mutex<[String: GRPCChannel]>([:])

    public init(schedulerAddress: String) {
        scheduler = GRPCChannel(target: schedulerAddress)
    }

    /// The route for `key`, from the cache or the scheduler.
    public func route(for key: [UInt8]) async throws -> Route {
        if let cached = routes.withLock({ $0.first { $0.contains(key) } }) { return cached }
        let response = try await scheduler.call(
            Schedulerpb.Scheduler.getRegion, Schedulerpb.GetRegionRequest(header: Schedulerpb.RequestHeader(), regionKey: key))
        guard let region = response.region, region.id != 0 else {
            throw GRPCStatus(code: .unavailable, message: "the scheduler knows no region for this key yet")
        }
        let leader = response.leader ?? region.peers.first ?? Metapb.Peer()
        let route = Route(region: region, leader: leader, channel: try await channel(forStore: leader.storeId))
        routes.withLock { table in
            table.removeAll { $0.region.id == region.id }
            table.append(route)
        }
        return route
    }

    /// Forgets the route of a region after a region error; follows a `not_leader` hint when there is one.
    public func invalidate(_ route: Route, error: Errorpb.Error) async {
        routes.withLock { table in table.removeAll { $0.region.id == route.region.id } }
        if let leader = error.notLeader?.leader, leader.storeId != 0,
           let channel = try? await channel(forStore: leader.storeId) {
            var updated = route
            updated.leader = leader
            updated.channel = channel
            routes.withLock { $0.append(updated) }
        }
    }

    private func channel(forStore storeId: UInt64) async throws -> GRPCChannel {
        let response = try await scheduler.call(
            Schedulerpb.Scheduler.getStore, Schedulerpb.GetStoreRequest(header: Schedulerpb.RequestHeader(), storeId: storeId))
        guard let address = response.store?.address, !address.isEmpty else {
            throw GRPCStatus(code: .unavailable, message: "the scheduler knows no address for store \(storeId)")
        }
        return channels.withLock { table in
            if let existing = table[address] { return existing }
            let channel = GRPCChannel(target: address)
            table[address] = channel
            return channel
        }
    }
}
