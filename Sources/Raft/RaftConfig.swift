import TinyKVProto
/// Encodes and decodes `Eraftpb.ConfChange` for `EntryConfChange` entries.
///
/// The Raft module has no protobuf encoder, so the application injects one
/// (the raftstore plugs in the generated protobuf codec).
public protocol ConfChangeCodec: Sendable {
  func encode(_ change: Eraftpb.ConfChange) -> [UInt8]
  func decode(_ data: [UInt8]) throws -> Eraftpb.ConfChange
}

/// Why a `RaftConfig` was rejected.
public enum RaftConfigError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalidNodeId
  case heartbeatTickMustBePositive
  case electionTickMustExceedHeartbeatTick
  case maxInflightMsgsMustBePositive
  case maxSizePerMsgMustBePositive
  /// Both `peers` and a non-empty stored ConfState were given; only one may define membership.
  case peersConflictWithStoredConfState

  public var description: String {
    switch self {
    case .invalidNodeId: return "raft config: id must not be 0"
    case .heartbeatTickMustBePositive: return "raft config: heartbeatTick must be greater than 0"
    case .electionTickMustExceedHeartbeatTick: return "raft config: electionTick must be greater than heartbeatTick"
    case .maxInflightMsgsMustBePositive: return "raft config: maxInflightMsgs must be greater than 0"
    case .maxSizePerMsgMustBePositive: return "raft config: maxSizePerMsg must be greater than 0"
    case .peersConflictWithStoredConfState: return "raft config: cannot specify peers when storage already has a ConfState"
    }
  }
}

/// Parameters of one Raft node.
public struct RaftConfig: Sendable {
  /// This node's id; never 0 (0 means "none" on the wire).
  public var id: UInt64
  /// Initial members, used only for a brand-new group (storage ConfState empty).
  public var peers: [UInt64]
  /// Ticks without hearing from a leader before campaigning. The actual timeout
  /// is randomized in `[electionTick, 2 * electionTick)`.
  public var electionTick: Int
  /// Ticks between leader heartbeats.
  public var heartbeatTick: Int
  /// Last index the application already applied (for restarts); 0 for a new node.
  public var applied: UInt64
  /// Byte budget of a single MsgAppend (`.max` = unlimited).
  public var maxSizePerMsg: UInt64
  /// Maximum unacknowledged MsgAppend per follower in replicate state.
  public var maxInflightMsgs: Int
  /// Run a PreVote round before a real election so a rejoining partitioned
  /// node cannot inflate the term and depose a healthy leader.
  public var preVote: Bool
  /// Leader steps down when it has not heard from a quorum within an election
  /// timeout; followers that heard from a leader recently ignore vote requests (lease).
  public var checkQuorum: Bool
  /// Seed of the election-timeout randomizer; runs are fully deterministic given the seed.
  public var randomSeed: UInt64
  /// With `checkQuorum`: a node (re)started from storage ignores vote requests for its first
  /// election timeout, as if it had just heard from a leader. A leader serving lease reads
  /// counts on its followers' promise not to vote for a while after acknowledging it; a
  /// follower that crashed and restarted at once would otherwise forget that promise.
  public var leaseAfterStart: Bool
  /// Encoding of `ConfChange` into entry data; required for membership changes.
  public var confChangeCodec: (any ConfChangeCodec)?
  /// Don't send followers an append just to tell them a new commit index (raft-rs's
  /// `skip_bcast_commit`, on in TiKV): they learn it from the next append or heartbeat. Halves
  /// the messages of a lone write; followers apply up to a heartbeat interval later.
  public var skipBroadcastCommit: Bool

  public init(
    id: UInt64,
    peers: [UInt64] = [],
    electionTick: Int = 10,
    heartbeatTick: Int = 2,
    applied: UInt64 = 0,
    maxSizePerMsg: UInt64 = .max,
    maxInflightMsgs: Int = 256,
    preVote: Bool = false,
    checkQuorum: Bool = false,
    randomSeed: UInt64 = 0,
    leaseAfterStart: Bool = false,
    confChangeCodec: (any ConfChangeCodec)? = nil,
    skipBroadcastCommit: Bool = false
  ) {
    self.id = id
    self.peers = peers
    self.electionTick = electionTick
    self.heartbeatTick = heartbeatTick
    self.applied = applied
    self.maxSizePerMsg = maxSizePerMsg
    self.maxInflightMsgs = maxInflightMsgs
    self.preVote = preVote
    self.checkQuorum = checkQuorum
    self.randomSeed = randomSeed
    self.leaseAfterStart = leaseAfterStart
    self.confChangeCodec = confChangeCodec
    self.skipBroadcastCommit = skipBroadcastCommit
  }

  /// Throws the first problem found in the configuration.
  public func validate() throws(RaftConfigError) {
    if id == 0 { throw .invalidNodeId }
    if heartbeatTick <= 0 { throw .heartbeatTickMustBePositive }
    if electionTick <= heartbeatTick { throw .electionTickMustExceedHeartbeatTick }
    if maxInflightMsgs <= 0 { throw .maxInflightMsgsMustBePositive }
    if maxSizePerMsg == 0 { throw .maxSizePerMsgMustBePositive }
  }
}

/// SplitMix64: tiny, fast, deterministic; good enough for election jitter, and what the
/// tests use to replay a seed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  private var state: UInt64

  public init(seed: UInt64) { state = seed }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
