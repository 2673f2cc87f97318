import TinyKVProto

/// Region routing queries, splits, scatter and operator status.
extension SchedulerServer {
    /// GetRegion: the region holding `region_key` and its leader (no region when none is known).
    public func getRegion(_ request: Schedulerpb.GetRegionRequest) async -> Schedulerpb.GetRegionResponse {
        if let header = rejection(request.header) { return Schedulerpb.GetRegionResponse(header: header) }
        return response(for: cluster.region(containing: request.regionKey))
    }

    /// GetPrevRegion: the region just before the one holding `region_key`, if adjacent.
    public func getPrevRegion(_ request: Schedulerpb.GetRegionRequest) async -> Schedulerpb.GetRegionResponse {
        if let header = rejection(request.header) { return Schedulerpb.GetRegionResponse(header: header) }
        return response(for: cluster.region(before: request.regionKey))
    }

    /// GetRegionByID.
    public func getRegionByID(_ request: Schedulerpb.GetRegionByIDRequest) async -> Schedulerpb.GetRegionResponse {
        if let header = rejection(request.header) { return Schedulerpb.GetRegionResponse(header: header) }
        return response(for: cluster.region(id: request.regionId))
    }

    private func response(for info: RegionInfo?) -> Schedulerpb.GetRegionResponse {
        Schedulerpb.GetRegionResponse(header: okHeader, region: info?.region, leader: info?.leader)
    }

    /// ScanRegions: regions from the one holding `start_key` up to `end_key` (empty: no bound),
    /// at most `limit` (0: no limit), each with its leader (an empty peer when unknown).
    public func scanRegions(_ request: Schedulerpb.ScanRegionsRequest) async -> Schedulerpb.ScanRegionsResponse {
        if let header = rejection(request.header) { return Schedulerpb.ScanRegionsResponse(header: header) }
        let regions = cluster.scanRegions(from: request.startKey, to: request.endKey, limit: Int(request.limit))
        return Schedulerpb.ScanRegionsResponse(header: okHeader, regions: regions.map(\.region),
                                               leaders: regions.map { $0.leader ?? Metapb.Peer() })
    }

    /// AskSplit: a new region id and one new peer id per peer of the region being split.
    public func askSplit(_ request: Schedulerpb.AskSplitRequest) async -> Schedulerpb.AskSplitResponse {
        if let header = rejection(request.header) { return Schedulerpb.AskSplitResponse(header: header) }
        guard let region = request.region else {
            return Schedulerpb.AskSplitResponse(header: errorHeader(.unknown, "missing region for split"))
        }
        guard let known = cluster.region(id: region.id) else {
            return Schedulerpb.AskSplitResponse(header: errorHeader(.regionNotFound, "region \(region.id) not found"))
        }
        let epoch = region.regionEpoch ?? Metapb.RegionEpoch()
        if epoch.isStale(comparedTo: known.epoch) {
            return Schedulerpb.AskSplitResponse(header: errorHeader(.unknown, "invalid region epoch for split of region \(region.id)"))
        }
        do {
            let ids = try idAllocator.alloc(count: 1 + region.peers.count)
            return Schedulerpb.AskSplitResponse(header: okHeader, newRegionId: ids.lowerBound,
                                                newPeerIds: Array(ids.dropFirst()))
        } catch {
            return Schedulerpb.AskSplitResponse(header: errorHeader(.unknown, "alloc id: \(error)"))
        }
    }

    /// ScatterRegion: moves one replica of the region from its fullest store to the emptiest
    /// store without one, when that improves the spread (TinyKV itself answers without acting).
    public func scatterRegion(_ request: Schedulerpb.ScatterRegionRequest) async -> Schedulerpb.ScatterRegionResponse {
        if let header = rejection(request.header) { return Schedulerpb.ScatterRegionResponse(header: header) }
        let id = request.regionId != 0 ? request.regionId : (request.region?.id ?? 0)
        guard let region = cluster.region(id: id) else {
            return Schedulerpb.ScatterRegionResponse(header: errorHeader(.regionNotFound, "region \(id) not found"))
        }
        let now = clock()
        if let op = coordinator.scatter(region, now: now), operators.add(op),
           let leaderStore = region.leaderStoreID, var command = operators.dispatch(region, now: now) {
            command.header = okHeader
            streams.send(command, toStore: leaderStore)
        }
        return Schedulerpb.ScatterRegionResponse(header: okHeader)
    }

    /// GetOperator: the running or last finished operator of a region.
    public func getOperator(_ request: Schedulerpb.GetOperatorRequest) async -> Schedulerpb.GetOperatorResponse {
        if let header = rejection(request.header) { return Schedulerpb.GetOperatorResponse(header: header) }
        guard let status = operators.status(of: request.regionId) else {
            return Schedulerpb.GetOperatorResponse(header: errorHeader(.regionNotFound, "Not Found"))
        }
        return Schedulerpb.GetOperatorResponse(header: okHeader, regionId: request.regionId, desc: Array(status.desc.utf8),
                                               status: status.status, kind: Array(status.kind.rawValue.utf8))
    }
}
