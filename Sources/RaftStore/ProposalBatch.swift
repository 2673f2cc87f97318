import TinyKVProto

/// Write commands of one region received in one poller round, to be proposed as ONE raft
/// entry (TiKV batches proposals the same way).
///
/// Each entry costs the same fixed work however small: encoding, a log record, a place in
/// every append message, decoding and storing on each follower, an apply step. With many
/// clients a round brings several puts per region; one entry carrying all their requests
/// does that work once. The requests apply in arrival order, atomically, and every proposer
/// hears the entry's outcome (they were all checked against the same region epoch, so a
/// split or membership change in between fails them alike, as it would have one by one).
struct ProposalBatch {
    /// The batched requests, under the header of the region as the batch was started.
    private(set) var command: RaftCmdpb.RaftCmdRequest?
    private(set) var callbacks: [WriteCallback] = []
    /// Bytes of keys and values batched (a batch is proposed early at ``maxBytes``).
    private(set) var bytes = 0

    /// Larger batches are proposed as soon as they reach this size, keeping entries small.
    static let maxBytes = 1 << 20
    /// The most commands in one entry.
    static let maxCommands = 256

    var isEmpty: Bool { callbacks.isEmpty }
    /// Commands batched.
    var count: Int { callbacks.count }

    /// Whether `command` may join a batch: data writes only (puts and deletes). Reads through
    /// the log and admin commands are proposed alone, after the batch.
    static func canBatch(_ command: RaftCmdpb.RaftCmdRequest) -> Bool {
        command.adminRequest == nil && !command.requests.isEmpty
            && command.requests.allSatisfy { $0.cmdType == .put || $0.cmdType == .delete }
    }

    /// Adds a command checked against the region whose header `header` carries.
    mutating func add(_ command: RaftCmdpb.RaftCmdRequest, header: RaftCmdpb.RaftRequestHeader, callback: @escaping WriteCallback) {
        if self.command == nil { self.command = RaftCmdpb.RaftCmdRequest(header: header) }
        self.command!.requests.append(contentsOf: command.requests)
        callbacks.append(callback)
        for request in command.requests {
            bytes += (request.put.map { $0.key.count + $0.value.count } ?? 0) + (request.delete?.key.count ?? 0)
        }
    }

    var isFull: Bool { bytes >= Self.maxBytes || callbacks.count >= Self.maxCommands }

    /// The batch's command and one callback answering every proposer; the batch is left empty.
    mutating func take() -> (RaftCmdpb.RaftCmdRequest, WriteCallback)? {
        guard let command else { return nil }
        let callbacks = self.callbacks
        self = ProposalBatch()
        if callbacks.count == 1 { return (command, callbacks[0]) }
        return (command, { error in for callback in callbacks { callback(error) } })
    }
}
