/// A key-value pair read from the engine.
public struct KeyValue: Sendable, Hashable {
    public var key: [UInt8]
    public var value: [UInt8]

    public init(key: [UInt8], value: [UInt8]) {
        self.key = key
        self.value = value
    }
}

/// Reads from a consistent view of the engine.
public protocol KVReader: Sendable {
    /// The value of `key`, or nil when there is none.
    func get(_ cf: ColumnFamily, _ key: [UInt8]) throws -> [UInt8]?

    /// An iterator over `cf` restricted to `[lowerBound, upperBound)` (nil: unbounded), that
    /// reads as far as `scope` says.
    func makeIterator(_ cf: ColumnFamily, lowerBound: [UInt8]?, upperBound: [UInt8]?,
                      scope: IteratorScope) throws -> EngineIterator
}

/// How far an iterator reads, which decides whether its seeks may skip data by bloom filter.
public enum IteratorScope: Sendable {
    /// Keys in total order, across any number of keys.
    case anyKeys
    /// Only the versions of the one MVCC key its first seek names (the seek key without its
    /// 8-byte timestamp, in the `write` family): the seek may skip every memtable and file whose
    /// prefix bloom filter rules that key out, and the iterator ends after its last version.
    case versionsOfOneKey
}

extension KVReader {
    /// An iterator over `cf` restricted to `[lowerBound, upperBound)` (nil: unbounded), in total order.
    public func makeIterator(_ cf: ColumnFamily, lowerBound: [UInt8]?, upperBound: [UInt8]?) throws -> EngineIterator {
        try makeIterator(cf, lowerBound: lowerBound, upperBound: upperBound, scope: .anyKeys)
    }

    /// Up to `limit` pairs in key order, starting at `start` and stopping before `end`.
    public func scan(_ cf: ColumnFamily, from start: [UInt8], to end: [UInt8]? = nil, limit: Int) throws -> [KeyValue] {
        guard limit > 0 else { return [] }
        let iterator = try makeIterator(cf, lowerBound: start, upperBound: end)
        var pairs: [KeyValue] = []
        iterator.seek(start)
        while iterator.isValid, pairs.count < limit {
            pairs.append(KeyValue(key: iterator.key, value: iterator.value))
            iterator.next()
        }
        try iterator.checkError()
        return pairs
    }
}

/// The storage engine under a store: atomic batches, point reads, bounded
/// iterators and consistent snapshots, in named column families.
public protocol KVEngine: KVReader {
    /// Applies `batch` atomically. With `sync`, returns only once it is on disk.
    func write(_ batch: WriteBatch, sync: Bool) throws

    /// A consistent read-only view as of now.
    func snapshot() throws -> any KVReader

    /// Ingests SST files (``SSTFileWriter``) into `cf`, replacing the engine's values of their keys.
    func ingest(_ cf: ColumnFamily, files: [String]) throws
}
