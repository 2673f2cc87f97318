import TinyKVProto
/// Errors reported by `RawNode` to its caller.
public enum RaftError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The proposal could not be accepted: no known leader, a leader transfer is
  /// in progress, or this node was removed from the group. Retry later.
  case proposalDropped
  /// A node-local message type (MsgHup, MsgBeat) arrived from the network.
  case stepLocalMessage
  /// A response arrived from a peer that is not a member of the group.
  case stepPeerNotFound
  /// `proposeConfChange` or conf change decoding without a `ConfChangeCodec` in the config.
  case confChangeCodecMissing
  /// A conf change with an unknown change type.
  case unknownConfChangeType(Int32)
  /// The stable storage failed in a way Raft can surface.
  case storage(RaftStorageError)

  public var description: String {
    switch self {
    case .proposalDropped: return "raft proposal dropped"
    case .stepLocalMessage: return "raft: cannot step raft local message"
    case .stepPeerNotFound: return "raft: cannot step as peer not found"
    case .confChangeCodecMissing: return "raft: no ConfChangeCodec configured"
    case .unknownConfChangeType(let raw): return "raft: unknown conf change type \(raw)"
    case .storage(let error): return "raft storage error: \(error)"
    }
  }
}
