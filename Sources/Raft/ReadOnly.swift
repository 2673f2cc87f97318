import TinyKVProto
/// A linearizable read served without writing the log.
public struct ReadState: Sendable, Hashable {
  /// Apply up to this index, then the read may be served from the state machine.
  public var index: UInt64
  /// The caller's context passed to `readIndex(context:)`.
  public var requestContext: [UInt8]

  public init(index: UInt64, requestContext: [UInt8]) {
    self.index = index
    self.requestContext = requestContext
  }
}

/// A ReadIndex request waiting for a quorum of heartbeat acks.
struct ReadIndexStatus {
  /// The request (from 0 or self = local, otherwise a follower to answer).
  var request: Eraftpb.Message
  /// Commit index when the request arrived.
  var index: UInt64
  var acks: Set<UInt64> = []
}

/// Pending ReadIndex requests of a leader, keyed by context, in arrival order.
struct ReadOnly {
  private var pending: [[UInt8]: ReadIndexStatus] = [:]
  private var queue: [[UInt8]] = []

  /// Registers a read at commit index `index`; duplicate contexts are ignored.
  /// No read is waiting for its quorum acknowledgement.
  var isEmpty: Bool { queue.isEmpty }

  mutating func addRequest(index: UInt64, message: Eraftpb.Message) {
    let context = message.context ?? []
    guard pending[context] == nil else { return }
    pending[context] = ReadIndexStatus(request: message, index: index)
    queue.append(context)
  }

  /// Records that `peer` acknowledged the heartbeat carrying `context`;
  /// returns the number of acks so far (0 if the context is unknown).
  mutating func receiveAck(from peer: UInt64, context: [UInt8]) -> Int {
    guard pending[context] != nil else { return 0 }
    pending[context]!.acks.insert(peer)
    return pending[context]!.acks.count
  }

  /// Dequeues every request up to and including `context`: acknowledging a
  /// later heartbeat confirms leadership for all reads queued before it.
  mutating func advance(through context: [UInt8]) -> [ReadIndexStatus] {
    guard let position = queue.firstIndex(of: context) else { return [] }
    let done = queue[...position]
    queue.removeFirst(position + 1)
    return done.compactMap { pending.removeValue(forKey: $0) }
  }

  /// Context of the newest pending read, sent with heartbeats.
  var lastPendingContext: [UInt8]? { queue.last }

  var pendingCount: Int { queue.count }
}
