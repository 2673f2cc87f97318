import TinyKVProto

/// Delivers raft messages to other stores.
///
/// ``RaftClient`` is the gRPC implementation; tests plug in a simulated network.
/// `send` must not block: implementations queue and deliver in the background,
/// reporting failures through `feedback` so Raft can back off (`reportUnreachable`)
/// and finish snapshot sends (`reportSnapshot`).
public protocol RaftTransport: Sendable {
    func send(_ messages: [RaftServerpb.RaftMessage], feedback: TransportFeedback)
}

/// How a transport reports the fate of messages back to the raft store.
public struct TransportFeedback: Sendable {
    /// The message could not be delivered.
    public let unreachable: @Sendable (RaftServerpb.RaftMessage) -> Void
    /// A MsgSnapshot was delivered (true) or failed (false).
    public let snapshotFinished: @Sendable (RaftServerpb.RaftMessage, Bool) -> Void

    public init(unreachable: @escaping @Sendable (RaftServerpb.RaftMessage) -> Void,
                snapshotFinished: @escaping @Sendable (RaftServerpb.RaftMessage, Bool) -> Void) {
        self.unreachable = unreachable
        self.snapshotFinished = snapshotFinished
    }
}
