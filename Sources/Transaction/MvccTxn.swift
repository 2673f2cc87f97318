import Storage

/// The writes one command makes, accumulated in MVCC terms and applied later as one atomic batch.
///
/// Reads never see these writes; commands read the snapshot they started from.
public struct MvccTxn: Sendable {
    /// The engine writes so far, in order.
    public private(set) var batch = WriteBatch()

    public init() {}

    /// Whether no write has been made.
    public var isEmpty: Bool { batch.isEmpty }

    /// Drops every write made so far.
    public mutating func discard() { batch = WriteBatch() }

    /// Locks `key` (the `lock` CF is keyed by the raw user key).
    public mutating func putLock(_ key: [UInt8], _ lock: Lock) {
        batch.put(.lock, key, lock.encode())
    }

    /// Removes the lock on `key`.
    public mutating func deleteLock(_ key: [UInt8]) {
        batch.delete(.lock, key)
    }

    /// Stores the value written by the transaction started at `startTs`.
    public mutating func putValue(_ key: [UInt8], startTs: UInt64, _ value: [UInt8]) {
        batch.put(.default, MvccKey.encode(key, ts: startTs), value)
    }

    /// Removes the value written by the transaction started at `startTs`.
    public mutating func deleteValue(_ key: [UInt8], startTs: UInt64) {
        batch.delete(.default, MvccKey.encode(key, ts: startTs))
    }

    /// Records `write` as committed (or rolled back) at `commitTs`.
    public mutating func putWrite(_ key: [UInt8], commitTs: UInt64, _ write: Write) {
        batch.put(.write, MvccKey.encode(key, ts: commitTs), write.encode())
    }
}
