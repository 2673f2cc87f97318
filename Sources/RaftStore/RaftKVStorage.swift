import Storage
import TinyKVProto

/// The ``KVStorage`` of a raft store: the raw and transaction services run on it unchanged.
///
/// `write` proposes one `RaftCmdRequest` (the batch's puts and deletes) on the region's
/// leader and returns once it is applied in the term it was proposed in. `reader`
/// is served from the leader's lease when it holds (see ``LocalReader``), otherwise it
/// confirms leadership with ReadIndex (reads of one round share one confirmation),
/// waits until the read index is applied, and returns a snapshot limited to the region.
/// Routing failures throw ``RegionError`` (`not_leader` with the leader hint,
/// `region_not_found`, `epoch_not_match`, `key_not_in_region`, `stale_command`, `store_not_match`).
///
/// A read checks the request's keys against the region in their key space (range ends too
/// when the request named no region); a write checks the routing key of every key it stores
/// when it is proposed and again when it is applied. Region id 0 routes by key (``locate``).
public struct RaftKVStorage: KVStorage {
    let inbox: Inbox<PollerMessage>
    let localReader: LocalReader?

    init(inbox: Inbox<PollerMessage>, localReader: LocalReader? = nil) {
        self.inbox = inbox
        self.localReader = localReader
    }

    public func reader(_ context: Kvrpcpb.Context, for keys: RequestKeys) async throws -> any KVReader {
        let byKey = context.regionId == 0
        let context = try await locate(context, keys)
        // A leader with a valid lease serves the read right here.
        if let reader = localReader?.read(context) {
            try reader.check(keys, wholeRanges: byKey)
            return reader
        }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<any KVReader, RegionError>, Never>) in
            let accepted = inbox.push(.read(context) { continuation.resume(returning: $0) })
            if !accepted { continuation.resume(returning: .failure(RegionError(RegionErrors.regionNotFound(context.regionId)))) }
        }
        let reader = try result.get()
        try (reader as? RegionReader)?.check(keys, wholeRanges: byKey)
        return reader
    }

    /// For a request without a region id (grpcurl users, tools): the context of the local region
    /// holding its first key in its key space, once every key of the request is checked to be in
    /// it (`key_not_in_region` when they span regions, `region_not_found` when no local region
    /// holds the key). A request with no keys gets the store's only region, if it has one.
    /// Contexts with a region id are returned unchanged.
    func locate(_ context: Kvrpcpb.Context, _ keys: RequestKeys) async throws -> Kvrpcpb.Context {
        guard context.regionId == 0 else { return context }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<UInt64, RegionError>, Never>) in
            let accepted = inbox.push(.inspect { poller in
                let peers = poller.peers.values.filter { $0.storage.isInitialized }
                let region: Metapb.Region?
                if let first = keys.firstRoutingKey {
                    // A lagging peer may still claim a range that split: prefer the leader, then the newest epoch.
                    region = peers.filter { RegionRange.contains($0.region, first) }
                        .max { a, b in
                            (a.isLeader ? 1 : 0, a.region.regionEpoch?.version ?? 0) < (b.isLeader ? 1 : 0, b.region.regionEpoch?.version ?? 0)
                        }?.region
                } else {
                    region = peers.count == 1 ? peers.first?.region : nil
                }
                guard let region else {
                    let message = keys.firstRoutingKey == nil
                        ? "region id 0 needs keys to route by when the store has several regions"
                        : "no region on this store holds the key"
                    return continuation.resume(returning: .failure(RegionError(Errorpb.Error(
                        message: message, regionNotFound: Errorpb.RegionNotFound(regionId: 0)))))
                }
                if let outside = keys.firstOutside(start: region.startKey, end: region.endKey, wholeRanges: true) {
                    var error = RegionRange.keyNotInRegion(outside, region)
                    error.message = "the request's keys span several regions (region id 0 routes by key)"
                    return continuation.resume(returning: .failure(RegionError(error)))
                }
                continuation.resume(returning: .success(region.id))
            })
            if !accepted { continuation.resume(returning: .failure(RegionError(RegionErrors.regionNotFound(0)))) }
        }
        var located = context
        located.regionId = try result.get()
        return located
    }

    public func write(_ context: Kvrpcpb.Context, for keys: RequestKeys, _ batch: WriteBatch) async throws {
        if batch.isEmpty { return }
        let context = try await locate(context, keys)
        var command = RaftCmdpb.RaftCmdRequest(header: RaftCmdpb.RaftRequestHeader(
            regionId: context.regionId, peer: context.peer, regionEpoch: context.regionEpoch, term: context.term))
        for operation in batch.operations {
            switch operation {
            case .put(let cf, let key, let value):
                var request = RaftCmdpb.Request(cmdType: .put)
                request.put = RaftCmdpb.PutRequest(cf: cf.name, key: key, value: value)
                command.requests.append(request)
            case .delete(let cf, let key):
                var request = RaftCmdpb.Request(cmdType: .delete)
                request.delete = RaftCmdpb.DeleteRequest(cf: cf.name, key: key)
                command.requests.append(request)
            case .deleteRange:
                // raft_cmdpb has no DeleteRange request; the services never issue one.
                throw RegionError(Errorpb.Error(message: "delete range is not supported by the raft store"))
            }
        }
        let error = await withCheckedContinuation { (continuation: CheckedContinuation<Errorpb.Error?, Never>) in
            let accepted = inbox.push(.propose(command) { continuation.resume(returning: $0) })
            if !accepted { continuation.resume(returning: RegionErrors.regionNotFound(context.regionId)) }
        }
        if let error { throw RegionError(error) }
    }
}
