import TinyKVProto
import Transport

/// Server side of the store-to-store streams: `TinyKv/Raft` (a stream of raft messages)
/// and `TinyKv/Snapshot` (a message followed by its snapshot files in chunks).
enum RaftHandlers {
    static func make(inbox: Inbox<PollerMessage>, snapshots: SnapshotManager) -> ServiceHandlers {
        var handlers = ServiceHandlers()
        // Inline on the transport's poll thread: decoding and an inbox push per message, with
        // no task wake-up on the path of every append and acknowledgement.
        handlers.clientStreamingInline(Tinykvpb.TinyKv.raft, { message, _ in
            inbox.push(.raftMessage(message))
        }, done: { RaftServerpb.Done() })
        handlers.clientStreaming(Tinykvpb.TinyKv.snapshot) { chunks, _ in
            // Chunks go to files as they arrive; the message reaches Raft only once every file is
            // complete and its checksum matches. Anything else drops the files (Raft resends).
            let receiver: SnapshotReceiver
            do {
                receiver = try SnapshotReceiver(manager: snapshots)
            } catch {
                throw GRPCStatus(code: .resourceExhausted, message: "\(error)")
            }
            do {
                for try await chunk in chunks { try receiver.accept(chunk) }
                inbox.push(.raftMessage(try receiver.finish()))
            } catch let error as SnapshotFileError {
                receiver.abort()
                throw GRPCStatus(code: .invalidArgument, message: error.description)
            } catch {
                receiver.abort()
                throw error
            }
            return RaftServerpb.Done()
        }
        return handlers
    }
}
