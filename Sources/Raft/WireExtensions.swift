import TinyKVProto
/// Raft features the TinyKV `eraftpb` schema has no room for, carried in a
/// decoder-safe way (proto3 decoders keep unknown enum numbers, so these
/// types survive a round trip through the real generated code).
extension Eraftpb.MessageType {
  /// PreVote request. `term` is the term the sender *would* campaign in
  /// (its current term + 1); its own term is not changed.
  public static let msgRequestPreVote: Eraftpb.MessageType = .unrecognized(101)
  /// PreVote response. `term` echoes the request's term when granted.
  public static let msgRequestPreVoteResponse: Eraftpb.MessageType = .unrecognized(102)
  /// ReadIndex request forwarded from a follower to the leader; the read
  /// context travels as `entries == [Entry(data: context)]`.
  public static let msgReadIndex: Eraftpb.MessageType = .unrecognized(103)
  /// ReadIndex answer from the leader: `index` is the read index and the
  /// context travels as `entries == [Entry(data: context)]`.
  public static let msgReadIndexResponse: Eraftpb.MessageType = .unrecognized(104)

  /// Messages only a node can send to itself; rejected when they come from the network.
  var isLocalOnly: Bool {
    self == .msgHup || self == .msgBeat
  }

  /// Responses, which are only accepted from peers the node knows about.
  var isResponse: Bool {
    switch self {
    case .msgAppendResponse, .msgRequestVoteResponse, .msgHeartbeatResponse,
      .msgRequestPreVoteResponse, .msgReadIndexResponse:
      return true
    default:
      return false
    }
  }

  var isVoteRequest: Bool { self == .msgRequestVote || self == .msgRequestPreVote }

  /// The response type matching a (pre)vote request type.
  var voteResponseType: Eraftpb.MessageType {
    self == .msgRequestPreVote ? .msgRequestPreVoteResponse : .msgRequestVoteResponse
  }
}

/// Context marker put on vote requests sent because of a leader transfer
/// (MsgTimeoutNow): lets voters ignore their CheckQuorum lease.
let campaignTransferContext: [UInt8] = Array("CampaignTransfer".utf8)

extension Eraftpb.Message {
  /// The opaque context of heartbeat, ReadIndex and vote messages.
  ///
  /// The schema has no `context` field, so it rides in `entries` as exactly
  /// one `Entry(data: context)`. `nil` means "no context" (entries empty),
  /// which keeps an empty context distinguishable from none.
  /// Never use this on MsgAppend, whose entries are real log entries.
  var context: [UInt8]? {
    get { entries.count == 1 ? entries[0].data : nil }
    set { entries = newValue.map { [Eraftpb.Entry(data: $0)] } ?? [] }
  }
}
