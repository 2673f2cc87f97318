import Storage
import Synchronization
import TinyKVProto
import Transport

/// Where requests for a key go: a region, its leader and the leader store's address.
public struct Route: Sendable, Hashable {
    /// Nil for the standalone fallback (one store holds the whole key space).
    public var region: Metapb.Region?
    public var leader: Metapb.Peer?
    public var address: String

    public var startKey: [UInt8] { region?.startKey ?? [] }
    /// Empty: no upper bound.
    public var endKey: [UInt8] { region?.endKey ?? [] }

    /// The request context that stores check (region id, epoch, peer).
    public var context: Kvrpcpb.Context {
        guard let region else { return Kvrpcpb.Context() }
        return Kvrpcpb.Context(regionId: region.id, regionEpoch: region.regionEpoch, peer: leader)
    }

    /// Whether the region holds `routingKey` (a raw key as is, a transactional key encoded:
    /// ``KeySpace/routingKey(_:)``).
    public func contains(_ routingKey: [UInt8]) -> Bool {
        let key = routingKey
        return !key.lexicographicallyPrecedes(startKey) && (endKey.isEmpty || key.lexicographicallyPrecedes(endKey))
    }

    public init(region: Metapb.Region?, leader: Metapb.Peer?, address: String) {
        self.region = region
        self.leader = leader
        self.address = address
    }
}

/// Finds each key's region through the scheduler, caches the answers, keeps one gRPC channel
/// per store, and retries requests that come back with a region error (not leader, epoch not
/// match, region not found, key not in region, store not match) after refreshing the route.
///
/// Region bounds are in the store's routing space (see ``KeySpace``): raw-API keys are looked up
/// as they are, transactional keys by their memcomparable encoding, as TinySQL does. Methods
/// taking a `key` and a `space` convert; ``route(for:)`` and ``routes(from:)`` take routing keys.
///
/// When the scheduler knows no region (not bootstrapped: a standalone store), requests go to
/// `fallbackStore`.
public final class RegionRouter: Sendable {
    public let pd: any PlacementDriver
    public let fallbackStore: String?
    public let maxAttempts: Int
    public let backoff: Duration
    private let cache = Mutex<[Route]>([])
    private let channels = Mutex<[String: GRPCChannel]>([:])

    public init(pd: any PlacementDriver, fallbackStore: String?, maxAttempts: Int = 10, backoff: Duration = .milliseconds(50)) {
        self.pd = pd
        self.fallbackStore = fallbackStore
        self.maxAttempts = max(1, maxAttempts)
        self.backoff = backoff
    }

    /// The channel to `address`, created on first use.
    public func channel(to address: String) -> GRPCChannel {
        channels.withLock { channels in
            if let channel = channels[address] { return channel }
            let channel = GRPCChannel(target: address)
            channels[address] = channel
            return channel
        }
    }

    /// The cached or freshly looked-up route of the routing key `key`.
    public func route(for key: [UInt8]) async throws -> Route {
        if let cached = cache.withLock({ $0.first { $0.contains(key) } }) { return cached }
        let route = try await lookUp(key)
        if route.region != nil {
            cache.withLock { routes in
                routes.removeAll { $0.region?.id == route.region?.id || overlaps($0, route) }
                routes.append(route)
            }
        }
        return route
    }

    private func overlaps(_ a: Route, _ b: Route) -> Bool {
        let aBeforeB = !a.endKey.isEmpty && !b.startKey.lexicographicallyPrecedes(a.endKey)
        let bBeforeA = !b.endKey.isEmpty && !a.startKey.lexicographicallyPrecedes(b.endKey)
        return !(aBeforeB || bBeforeA)
    }

    private func lookUp(_ key: [UInt8]) async throws -> Route {
        let located: (region: Metapb.Region, leader: Metapb.Peer?)?
        do {
            located = try await pd.locate(key)
        } catch let status as GRPCStatus where status.code == .unavailable && fallbackStore != nil {
            located = nil  // no scheduler: talk to the one store we were given
        }
        guard let located else {
            guard let fallbackStore else { throw KVClientError.regionUnavailable("no region holds the key and no fallback store is set") }
            return Route(region: nil, leader: nil, address: fallbackStore)
        }
        let leader = located.leader ?? located.region.peers.first
        guard let leader else { throw KVClientError.regionUnavailable("region \(located.region.id) has no peers") }
        guard let address = try await pd.storeAddress(leader.storeId) else {
            throw KVClientError.regionUnavailable("store \(leader.storeId) of region \(located.region.id) is unknown")
        }
        return Route(region: located.region, leader: leader, address: address)
    }

    /// Every route from the routing key `start` (the standalone fallback when the scheduler knows no region).
    public func routes(from start: [UInt8] = []) async throws -> [Route] {
        var regions: [(region: Metapb.Region, leader: Metapb.Peer?)] = []
        do {
            regions = try await pd.regions(from: start, limit: 0)
        } catch let status as GRPCStatus where status.code == .unavailable && fallbackStore != nil {}
        if regions.isEmpty {
            guard let fallbackStore else { return [] }
            return [Route(region: nil, leader: nil, address: fallbackStore)]
        }
        var out: [Route] = []
        for (region, leader) in regions {
            guard let peer = leader ?? region.peers.first, let address = try await pd.storeAddress(peer.storeId) else { continue }
            out.append(Route(region: region, leader: peer, address: address))
        }
        return out
    }

    /// Forgets `route` after a region error, learning the new leader from a NotLeader hint.
    public func invalidate(_ route: Route, because error: Errorpb.Error) async {
        cache.withLock { routes in routes.removeAll { $0 == route } }
        // After a split the store lists the regions it has now (like TiKV clients, cache them
        // at once instead of waiting for the scheduler to hear of the split): their peer on
        // the same store is the likely leader; a wrong guess costs one NotLeader hint.
        if let current = error.epochNotMatch?.currentRegions, !current.isEmpty, let storeID = route.leader?.storeId {
            let fresh = current.compactMap { region -> Route? in
                guard let peer = region.peers.first(where: { $0.storeId == storeID }) else { return nil }
                return Route(region: region, leader: peer, address: route.address)
            }
            cache.withLock { routes in
                for route in fresh {
                    routes.removeAll { $0.region?.id == route.region?.id || overlaps($0, route) }
                    routes.append(route)
                }
            }
        }
        if let hint = error.notLeader?.leader, let region = route.region, hint.storeId != 0,
           let address = try? await pd.storeAddress(hint.storeId) {
            let updated = Route(region: region, leader: hint, address: address)
            cache.withLock { routes in
                routes.removeAll { $0.region?.id == region.id }
                routes.append(updated)
            }
        }
    }

    /// Runs `body` on the route of `key` (in `space`); on a region error refreshes the route,
    /// backs off and tries again, up to ``maxAttempts`` times.
    public func withRoute<T: Sendable>(
        key: [UInt8], in space: KeySpace = .raw, _ body: (Route) async throws -> (T, Errorpb.Error?)
    ) async throws -> T {
        var lastError: Errorpb.Error?
        let routingKey = space.routingKey(key)
        for attempt in 0..<maxAttempts {
            if attempt > 0 { try await Task.sleep(for: backoff * min(attempt, 10)) }
            let route = try await route(for: routingKey)
            let (result, regionError) = try await body(route)
            guard let regionError else { return result }
            lastError = regionError
            await invalidate(route, because: regionError)
        }
        throw KVClientError.regionUnavailable(Self.describe(lastError))
    }

    /// Groups `keys` (in `space`) by route and runs `body` once per group with the keys as given,
    /// the groups concurrently (one round trip for a request spanning regions, as TiDB's 2PC does);
    /// groups that meet a region error are regrouped (their region may have split or moved) and retried.
    public func forEachGroup<T: Sendable>(
        keys: [[UInt8]], in space: KeySpace = .raw, _ body: @escaping @Sendable (Route, [[UInt8]]) async throws -> (T, Errorpb.Error?)
    ) async throws -> [T] {
        var pending = keys
        var results: [T] = []
        var lastError: Errorpb.Error?
        for attempt in 0..<maxAttempts {
            if pending.isEmpty { return results }
            if attempt > 0 { try await Task.sleep(for: backoff * min(attempt, 10)) }
            var groups: [(Route, [[UInt8]])] = []
            for key in pending {
                let route = try await route(for: space.routingKey(key))
                if let i = groups.firstIndex(where: { $0.0 == route }) { groups[i].1.append(key) } else { groups.append((route, [key])) }
            }
            pending = []
            for (route, group, (result, regionError)) in try await Self.runConcurrently(groups, body) {
                if let regionError {
                    lastError = regionError
                    await invalidate(route, because: regionError)
                    pending += group
                } else {
                    results.append(result)
                }
            }
        }
        if pending.isEmpty { return results }
        throw KVClientError.regionUnavailable(Self.describe(lastError))
    }

    /// Runs `body` for every group, concurrently when there are several; results in group order.
    private static func runConcurrently<T: Sendable>(
        _ groups: [(Route, [[UInt8]])], _ body: @escaping @Sendable (Route, [[UInt8]]) async throws -> (T, Errorpb.Error?)
    ) async throws -> [(Route, [[UInt8]], (T, Errorpb.Error?))] {
        if groups.count == 1, let (route, keys) = groups.first { return [(route, keys, try await body(route, keys))] }
        return try await withThrowingTaskGroup(of: (Int, (T, Errorpb.Error?)).self) { tasks in
            for (index, (route, keys)) in groups.enumerated() {
                tasks.addTask { (index, try await body(route, keys)) }
            }
            var outcomes: [(T, Errorpb.Error?)?] = Array(repeating: nil, count: groups.count)
            for try await (index, outcome) in tasks { outcomes[index] = outcome }
            return groups.enumerated().map { index, group in (group.0, group.1, outcomes[index]!) }
        }
    }

    static func describe(_ error: Errorpb.Error?) -> String {
        guard let error else { return "unknown region error" }
        if !error.message.isEmpty { return error.message }
        if error.notLeader != nil { return "not leader" }
        if error.epochNotMatch != nil { return "epoch not match" }
        if error.regionNotFound != nil { return "region not found" }
        if error.keyNotInRegion != nil { return "key not in region" }
        if error.storeNotMatch != nil { return "store not match" }
        if error.staleCommand != nil { return "stale command" }
        return "region error"
    }
}
