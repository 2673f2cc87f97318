import TinyKVProto
/// The last indexes of MsgAppends sent to a follower but not yet acknowledged,
/// in send order. Bounds how far the leader pipelines ahead (flow control).
public struct Inflights: Sendable, Hashable {
  /// Maximum number of unacknowledged messages.
  public let capacity: Int
  private var indexes: [UInt64] = []
  private var start = 0

  public init(capacity: Int) { self.capacity = capacity }

  public var count: Int { indexes.count - start }
  public var isFull: Bool { count >= capacity }

  /// Records a MsgAppend whose last entry is `lastIndex`.
  mutating func add(_ lastIndex: UInt64) {
    precondition(!isFull, "cannot add into a full inflights")
    indexes.append(lastIndex)
  }

  /// Acknowledges every message whose last index is ≤ `index`.
  mutating func freeTo(_ index: UInt64) {
    while start < indexes.count && indexes[start] <= index { start += 1 }
    compactIfNeeded()
  }

  /// Frees one slot (a heartbeat response proves the follower is alive).
  mutating func freeFirstOne() {
    if start < indexes.count { start += 1 }
    compactIfNeeded()
  }

  mutating func reset() {
    indexes = []
    start = 0
  }

  private mutating func compactIfNeeded() {
    if start == indexes.count {
      indexes.removeAll(keepingCapacity: true)
      start = 0
    } else if start > 64 && start * 2 > indexes.count {
      indexes.removeFirst(start)
      start = 0
    }
  }
}
