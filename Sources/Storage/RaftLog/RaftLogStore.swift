/// What the raft store needs from the engine that keeps raft logs and raft states: point
/// reads, ordered range reads and atomic, optionally synced batches, in one key space.
///
/// ``RaftLogEngine`` (the default) and ``RocksEngine`` (its `default` column family) provide it.
public protocol RaftLogStore: AnyObject, Sendable {
    /// The value of `key`, or nil when there is none.
    func get(_ key: [UInt8]) throws -> [UInt8]?

    /// Calls `body` with the pairs in `[start, end)` in key order until it returns false.
    func scan(from start: [UInt8], to end: [UInt8], _ body: (_ key: [UInt8], _ value: [UInt8]) throws -> Bool) throws

    /// Applies `batch` (its operations' column families must be `default`) atomically. With
    /// `sync`, returns once it is on disk.
    func write(_ batch: WriteBatch, sync: Bool) throws

    /// Syncs and closes the engine; later calls fail.
    func close()
}

extension RocksEngine: RaftLogStore {
    public func get(_ key: [UInt8]) throws -> [UInt8]? {
        try get(.default, key)
    }

    public func scan(from start: [UInt8], to end: [UInt8], _ body: (_ key: [UInt8], _ value: [UInt8]) throws -> Bool) throws {
        let iterator = try makeIterator(.default, lowerBound: start, upperBound: end)
        iterator.seek(start)
        while iterator.isValid {
            guard try body(iterator.key, iterator.value) else { return }
            iterator.next()
        }
        try iterator.checkError()
    }
}
