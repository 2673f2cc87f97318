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
public struct RaftKVStorage: KVStorage {
    let inbox: Inbox<PollerMessage>
    let localReader: LocalReader?

    init(inbox: Inbox<PollerMessage>, localReader: LocalReader? = nil) {
        self.inbox = inbox
        self.localReader = localReader
    }

    public func reader(_ context: Kvrpcpb.Context) async throws -> any KVReader {
        // A leader with a valid lease serves the read right here.
        if let reader = localReader?.read(context) { return reader }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<any KVReader, RegionError>, Never>) in
            let accepted = inbox.push(.read(context) { continuation.resume(returning: $0) })
            if !accepted { continuation.resume(returning: .failure(RegionError(RegionErrors.regionNotFound(context.regionId)))) }
        }
        return try result.get()
    }

    public func write(_ context: Kvrpcpb.Context, _ batch: WriteBatch) async throws {
        if batch.isEmpty { return }
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
