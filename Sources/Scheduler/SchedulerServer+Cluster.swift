import TinyKVProto

/// Membership, IDs, bootstrap, stores, cluster config and GC safe point.
extension SchedulerServer {
    /// GetMembers: this server as the only member and the leader. Not validated: it is how clients learn the cluster id.
    public func getMembers(_ request: Schedulerpb.GetMembersRequest) async -> Schedulerpb.GetMembersResponse {
        let member = Schedulerpb.Member(name: config.name, memberId: memberID, peerUrls: config.peerURLs,
                                        clientUrls: config.clientURLs)
        if !isReady { return Schedulerpb.GetMembersResponse(header: errorHeader(.unknown, "server is shutting down")) }
        return Schedulerpb.GetMembersResponse(header: okHeader, members: [member], leader: member, etcdLeader: member)
    }

    /// AllocID: a new cluster-unique id. Allowed before bootstrap (stores get their id before bootstrapping).
    public func allocID(_ request: Schedulerpb.AllocIDRequest) async -> Schedulerpb.AllocIDResponse {
        if let header = rejection(request.header, needsBootstrap: false) { return Schedulerpb.AllocIDResponse(header: header) }
        do {
            return Schedulerpb.AllocIDResponse(header: okHeader, id: try idAllocator.alloc())
        } catch {
            return Schedulerpb.AllocIDResponse(header: errorHeader(.unknown, "alloc id: \(error)"))
        }
    }

    /// Bootstrap: records the cluster meta and the first store, once.
    public func bootstrap(_ request: Schedulerpb.BootstrapRequest) async -> Schedulerpb.BootstrapResponse {
        if let header = rejection(request.header, needsBootstrap: false) { return Schedulerpb.BootstrapResponse(header: header) }
        guard let store = request.store, store.id != 0 else {
            return Schedulerpb.BootstrapResponse(header: errorHeader(.unknown, "missing store or store id is 0"))
        }
        let now = clock()
        let result: Schedulerpb.ResponseHeader = meta.state.withLock { m in
            // Under the meta lock so two concurrent Bootstraps cannot both succeed.
            if m.cluster != nil { return errorHeader(.alreadyBootstrapped, "cluster is already bootstrapped") }
            let clusterMeta = Metapb.Cluster(id: clusterID, maxPeerCount: config.maxPeerCount)
            do {
                try storage.saveBootstrap(meta: clusterMeta, store: store)
            } catch {
                return errorHeader(.unknown, "bootstrap: \(error)")
            }
            cluster.putStore(store, now: now)
            m.cluster = clusterMeta
            return okHeader
        }
        if result.error == nil { logger.info("cluster bootstrapped", metadata: ["store": "\(store.id)"]) }
        return Schedulerpb.BootstrapResponse(header: result)
    }

    /// IsBootstrapped.
    public func isBootstrapped(_ request: Schedulerpb.IsBootstrappedRequest) async -> Schedulerpb.IsBootstrappedResponse {
        if let header = rejection(request.header, needsBootstrap: false) { return Schedulerpb.IsBootstrappedResponse(header: header) }
        return Schedulerpb.IsBootstrappedResponse(header: okHeader, bootstrapped: isBootstrappedNow)
    }

    /// PutStore: registers a store or updates its address (TinyKV keeps the state of a known store).
    public func putStore(_ request: Schedulerpb.PutStoreRequest) async -> Schedulerpb.PutStoreResponse {
        if let header = rejection(request.header) { return Schedulerpb.PutStoreResponse(header: header) }
        guard let store = request.store, store.id != 0 else {
            return Schedulerpb.PutStoreResponse(header: errorHeader(.unknown, "invalid put store: missing store or store id is 0"))
        }
        let existing = cluster.store(id: store.id)
        if existing?.isTombstone == true {
            return Schedulerpb.PutStoreResponse(header: errorHeader(.storeTombstone, "store \(store.id) is tombstone"))
        }
        if !store.address.isEmpty,
           let other = cluster.stores.first(where: { $0.id != store.id && !$0.isTombstone && $0.meta.address == store.address }) {
            return Schedulerpb.PutStoreResponse(header: errorHeader(.unknown, "duplicated store address: \(store.address), already registered by store \(other.id)"))
        }
        var updated = store
        if let existing {
            updated = existing.meta
            updated.address = store.address
        }
        do {
            try storage.saveStore(updated)
        } catch {
            return Schedulerpb.PutStoreResponse(header: errorHeader(.unknown, "put store: \(error)"))
        }
        cluster.putStore(updated, now: clock())
        logger.info("put store", metadata: ["store": "\(updated.id)", "address": "\(updated.address)"])
        return Schedulerpb.PutStoreResponse(header: okHeader)
    }

    /// Sets a store's state (admin operation, e.g. taking a store offline or marking it tombstone). Returns false when unknown.
    @discardableResult
    public func setStoreState(_ storeID: UInt64, _ state: Metapb.StoreState) -> Bool {
        guard var store = cluster.store(id: storeID)?.meta else { return false }
        store.state = state
        guard (try? storage.saveStore(store)) != nil else { return false }
        cluster.putStore(store, now: clock())
        return true
    }

    /// GetStore: the store with its last stats (tombstones included: clients filter them).
    public func getStore(_ request: Schedulerpb.GetStoreRequest) async -> Schedulerpb.GetStoreResponse {
        if let header = rejection(request.header) { return Schedulerpb.GetStoreResponse(header: header) }
        guard let store = cluster.store(id: request.storeId) else {
            return Schedulerpb.GetStoreResponse(header: errorHeader(.unknown, "invalid store ID \(request.storeId), not found"))
        }
        return Schedulerpb.GetStoreResponse(header: okHeader, store: store.meta, stats: store.stats)
    }

    /// GetAllStores, optionally without tombstones.
    public func getAllStores(_ request: Schedulerpb.GetAllStoresRequest) async -> Schedulerpb.GetAllStoresResponse {
        if let header = rejection(request.header) { return Schedulerpb.GetAllStoresResponse(header: header) }
        let stores = cluster.stores.filter { !(request.excludeTombstoneStores && $0.isTombstone) }.map(\.meta)
        return Schedulerpb.GetAllStoresResponse(header: okHeader, stores: stores)
    }

    /// StoreHeartbeat: records the store's stats and liveness.
    public func storeHeartbeat(_ request: Schedulerpb.StoreHeartbeatRequest) async -> Schedulerpb.StoreHeartbeatResponse {
        if let header = rejection(request.header) { return Schedulerpb.StoreHeartbeatResponse(header: header) }
        guard let stats = request.stats else {
            return Schedulerpb.StoreHeartbeatResponse(header: errorHeader(.unknown, "invalid store heartbeat: missing stats"))
        }
        if cluster.store(id: stats.storeId)?.isTombstone == true {
            return Schedulerpb.StoreHeartbeatResponse(header: errorHeader(.storeTombstone, "store \(stats.storeId) is tombstone"))
        }
        guard cluster.storeHeartbeat(stats, now: clock()) else {
            return Schedulerpb.StoreHeartbeatResponse(header: errorHeader(.unknown, "store \(stats.storeId) not found"))
        }
        return Schedulerpb.StoreHeartbeatResponse(header: okHeader)
    }

    /// GetClusterConfig: the cluster meta (id, max peer count).
    public func getClusterConfig(_ request: Schedulerpb.GetClusterConfigRequest) async -> Schedulerpb.GetClusterConfigResponse {
        if let header = rejection(request.header) { return Schedulerpb.GetClusterConfigResponse(header: header) }
        return Schedulerpb.GetClusterConfigResponse(header: okHeader, cluster: meta.state.withLock { $0.cluster })
    }

    /// PutClusterConfig: replaces the cluster meta (the id must be ours, or 0 for "this cluster").
    public func putClusterConfig(_ request: Schedulerpb.PutClusterConfigRequest) async -> Schedulerpb.PutClusterConfigResponse {
        if let header = rejection(request.header) { return Schedulerpb.PutClusterConfigResponse(header: header) }
        guard var conf = request.cluster else {
            return Schedulerpb.PutClusterConfigResponse(header: errorHeader(.unknown, "missing cluster config"))
        }
        if conf.id == 0 { conf.id = clusterID }
        guard conf.id == clusterID else {
            return Schedulerpb.PutClusterConfigResponse(header: errorHeader(.unknown, "invalid cluster \(conf.id), this is \(clusterID)"))
        }
        guard conf.maxPeerCount > 0 else {
            return Schedulerpb.PutClusterConfigResponse(header: errorHeader(.unknown, "max peer count must be positive"))
        }
        let header: Schedulerpb.ResponseHeader = meta.state.withLock { m in
            do {
                try storage.saveClusterMeta(conf)
            } catch {
                return errorHeader(.unknown, "put cluster config: \(error)")
            }
            m.cluster = conf
            return okHeader
        }
        return Schedulerpb.PutClusterConfigResponse(header: header)
    }

    /// GetGCSafePoint.
    public func getGCSafePoint(_ request: Schedulerpb.GetGCSafePointRequest) async -> Schedulerpb.GetGCSafePointResponse {
        if let header = rejection(request.header) { return Schedulerpb.GetGCSafePointResponse(header: header) }
        return Schedulerpb.GetGCSafePointResponse(header: okHeader, safePoint: meta.state.withLock { $0.gcSafePoint })
    }

    /// UpdateGCSafePoint: the safe point only moves forward; the answer is the resulting safe point.
    public func updateGCSafePoint(_ request: Schedulerpb.UpdateGCSafePointRequest) async -> Schedulerpb.UpdateGCSafePointResponse {
        if let header = rejection(request.header) { return Schedulerpb.UpdateGCSafePointResponse(header: header) }
        let result: (Schedulerpb.ResponseHeader, UInt64) = meta.state.withLock { m in
            guard request.safePoint > m.gcSafePoint else { return (okHeader, m.gcSafePoint) }
            do {
                try storage.saveGCSafePoint(request.safePoint)
            } catch {
                return (errorHeader(.unknown, "update gc safe point: \(error)"), m.gcSafePoint)
            }
            m.gcSafePoint = request.safePoint
            return (okHeader, m.gcSafePoint)
        }
        return Schedulerpb.UpdateGCSafePointResponse(header: result.0, newSafePoint: result.1)
    }
}
