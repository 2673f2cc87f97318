import TinyKVProto
import Transport

/// Server side of the store-to-store streams: `TinyKv/Raft` (a stream of raft messages)
/// and `TinyKv/Snapshot` (a message followed by its snapshot data in chunks).
enum RaftHandlers {
    static func make(inbox: Inbox<PollerMessage>) -> ServiceHandlers {
        var handlers = ServiceHandlers()
        // Inline on the transport's poll thread: decoding and an inbox push per message, with
        // no task wake-up on the path of every append and acknowledgement.
        handlers.clientStreamingInline(Tinykvpb.TinyKv.raft, { message, _ in
            inbox.push(.raftMessage(message))
        }, done: { RaftServerpb.Done() })
        handlers.clientStreaming(Tinykvpb.TinyKv.snapshot) { chunks, _ in
            // The whole snapshot is reassembled in memory before it is stepped (documented limit).
            var header: RaftServerpb.RaftMessage?
            var data: [UInt8] = []
            for try await chunk in chunks {
                if let message = chunk.message { header = message }
                data.append(contentsOf: chunk.data)
            }
            guard var message = header, message.message?.snapshot != nil else {
                throw GRPCStatus(code: .invalidArgument, message: "snapshot stream without a snapshot message")
            }
            message.message?.snapshot?.data = data
            inbox.push(.raftMessage(message))
            return RaftServerpb.Done()
        }
        return handlers
    }
}
