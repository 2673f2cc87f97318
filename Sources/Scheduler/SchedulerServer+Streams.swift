import TinyKVProto

/// The two bidirectional streams: Tso and RegionHeartbeat.
extension SchedulerServer {
    /// Tso: one response per request, carrying the last of `count` consecutive timestamps
    /// (the client derives the others, as with PD). Per-request problems (wrong cluster id,
    /// count 0) are answered with an error header and the stream continues.
    ///
    /// - Throws: only what iterating `requests` or `send` throws (the transport failed).
    public func tso<S: AsyncSequence>(
        requests: S, send: @Sendable (Schedulerpb.TsoResponse) async throws -> Void
    ) async throws where S.Element == Schedulerpb.TsoRequest {
        for try await request in requests {
            try await send(tsoResponse(for: request))
        }
    }

    /// Serves one Tso request (the stream body; also handy for in-process clients and benchmarks).
    /// Never blocks in the common case: the window is extended by the background loop; only a
    /// window that ran out (the loop stalled for half a window) makes the caller wait for an fsync.
    public func tsoResponse(for request: Schedulerpb.TsoRequest) -> Schedulerpb.TsoResponse {
        if let header = rejection(request.header, needsBootstrap: false) { return Schedulerpb.TsoResponse(header: header) }
        do throws(TSOAllocator.Failure) {
            let timestamp = try tsoAllocator.next(count: request.count)
            return Schedulerpb.TsoResponse(header: okHeader, count: request.count, timestamp: timestamp)
        } catch {
            switch error {
            case .invalidCount(let count):
                let message = count == 0 ? "tso count should be positive" : "tso count \(count) exceeds \(TSOAllocator.maxLogical - 1)"
                return Schedulerpb.TsoResponse(header: errorHeader(.unknown, message))
            case .storage(let message):
                logger.error("tso window persistence failed", metadata: ["error": "\(message)"])
                return Schedulerpb.TsoResponse(header: errorHeader(.unknown, "tso: \(message)"))
            }
        }
    }

    /// RegionHeartbeat: region leaders report their regions; the scheduler caches them
    /// and answers with operator commands (change_peer, transfer_leader) whenever an
    /// operator exists for the region. Responses are not 1:1 with requests: commands
    /// also go out when the scheduling loop creates an operator, always on the stream
    /// of the region leader's store (the stream that store last heartbeated on).
    ///
    /// `send` is never called concurrently for one stream.
    ///
    /// - Throws: what iterating `requests` or `send` throws (the transport failed).
    public func regionHeartbeat<S: AsyncSequence>(
        requests: S, send: @escaping @Sendable (Schedulerpb.RegionHeartbeatResponse) async throws -> Void
    ) async throws where S.Element == Schedulerpb.RegionHeartbeatRequest {
        let streamID = streams.newStreamID()
        // Commands are idempotent and re-sent on every heartbeat, so a slow client may lose old ones.
        let (outbound, outbox) = AsyncStream<Schedulerpb.RegionHeartbeatResponse>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        defer {
            streams.unbind(streamID: streamID)
            outbox.finish()
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await response in outbound { try await send(response) }
            }
            for try await request in requests {
                if let reply = handleRegionHeartbeat(request, streamID: streamID, outbox: outbox) {
                    outbox.yield(reply)
                }
            }
            outbox.finish()
            try await group.waitForAll()
        }
    }

    /// Handles one heartbeat. Returns an error response for this stream, if any; operator
    /// commands are routed to the leader store's bound stream instead.
    func handleRegionHeartbeat(_ request: Schedulerpb.RegionHeartbeatRequest, streamID: UInt64,
                               outbox: HeartbeatStreams.Outbox) -> Schedulerpb.RegionHeartbeatResponse? {
        if let header = rejection(request.header) { return Schedulerpb.RegionHeartbeatResponse(header: header) }
        guard let leader = request.leader, leader.storeId != 0 else {
            logger.warning("region heartbeat without leader", metadata: ["region": "\(request.region?.id ?? 0)"])
            return nil
        }
        guard cluster.store(id: leader.storeId) != nil else {
            return Schedulerpb.RegionHeartbeatResponse(header: errorHeader(.unknown, "invalid store ID \(leader.storeId), not found"))
        }
        streams.bind(store: leader.storeId, streamID: streamID, outbox: outbox)
        guard let info = RegionInfo(heartbeat: request), info.id != 0 else {
            return Schedulerpb.RegionHeartbeatResponse(header: errorHeader(.unknown, "invalid request region"))
        }
        if var command = processRegionHeartbeat(info, now: clock()) {
            command.header = okHeader
            streams.send(command, toStore: leader.storeId)
        }
        return nil
    }

    /// Applies a heartbeat to the cache and the operator controller. Returns the command
    /// for the region's running operator, if any. Stale heartbeats are ignored, like TinyKV.
    func processRegionHeartbeat(_ info: RegionInfo, now: UInt64) -> Schedulerpb.RegionHeartbeatResponse? {
        switch cluster.handleRegionHeartbeat(info) {
        case .stale(let reason):
            logger.debug("stale region heartbeat ignored", metadata: ["reason": "\(reason)"])
            return nil
        case .accepted(let persist, let removed):
            for id in removed { operators.cancel(regionID: id) }
            if persist || !removed.isEmpty {
                do {
                    try storage.saveRegions([info], deleting: removed)
                } catch {
                    logger.warning("saving region failed", metadata: ["region": "\(info.id)", "error": "\(error)"])
                }
            }
            return operators.dispatch(info, now: now)
        }
    }
}
