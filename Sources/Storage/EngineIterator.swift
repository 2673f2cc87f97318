import CRocksDB
#if canImport(Glibc)
import Glibc
#endif

/// A cursor over one column family, optionally bounded and pinned to a snapshot.
///
/// Used by one owner at a time. The bounds' bytes are owned here because RocksDB
/// keeps pointers to them for the iterator's lifetime.
public final class EngineIterator {
    private let iterator: OpaquePointer
    private let readOptions: OpaquePointer
    private let lowerBound: UnsafeMutableRawBufferPointer?
    private let upperBound: UnsafeMutableRawBufferPointer?
    /// Keeps the snapshot alive while the iterator reads from it.
    private let snapshot: RocksSnapshot?
    /// The engine, released (see `RocksEngine.retain()`) when the iterator goes.
    private let engine: RocksEngine
    /// Keys the iterator steps over (see ``skipKeys(where:)``).
    private var skip: (([UInt8]) -> Bool)?

    /// The caller has retained `engine` for this iterator.
    init(engine: RocksEngine, db: OpaquePointer, family: OpaquePointer, snapshot: RocksSnapshot?,
         lowerBound: [UInt8]?, upperBound: [UInt8]?, scope: IteratorScope) {
        self.engine = engine
        self.snapshot = snapshot
        readOptions = rocksdb_readoptions_create()!
        switch scope {
        case .anyKeys:
            // A family with a prefix extractor would otherwise seek in prefix mode, whose
            // results past the seek key's prefix are undefined.
            rocksdb_readoptions_set_total_order_seek(readOptions, 1)
        case .versionsOfOneKey:
            rocksdb_readoptions_set_prefix_same_as_start(readOptions, 1)
        }
        if let snapshot { rocksdb_readoptions_set_snapshot(readOptions, snapshot.nativeSnapshot) }
        self.lowerBound = lowerBound.map(Self.copy)
        self.upperBound = upperBound.map(Self.copy)
        if let bound = self.lowerBound {
            rocksdb_readoptions_set_iterate_lower_bound(readOptions, bound.baseAddress?.assumingMemoryBound(to: CChar.self), bound.count)
        }
        if let bound = self.upperBound {
            rocksdb_readoptions_set_iterate_upper_bound(readOptions, bound.baseAddress?.assumingMemoryBound(to: CChar.self), bound.count)
        }
        iterator = rocksdb_create_iterator_cf(db, readOptions, family)!
    }

    deinit {
        rocksdb_iter_destroy(iterator)
        rocksdb_readoptions_destroy(readOptions)
        lowerBound?.deallocate()
        upperBound?.deallocate()
        engine.release()
    }

    private static func copy(_ bytes: [UInt8]) -> UnsafeMutableRawBufferPointer {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        return UnsafeMutableRawBufferPointer(rebasing: buffer[0..<bytes.count])
    }

    /// Whether the cursor is on an entry.
    public var isValid: Bool { rocksdb_iter_valid(iterator) != 0 }

    /// Makes every move step over keys for which `predicate` is true, as if they were not
    /// stored: for views whose bounds cannot be expressed as one key range (a region whose
    /// membership is decided key by key). Set it before the first move.
    public func skipKeys(where predicate: @escaping ([UInt8]) -> Bool) {
        skip = predicate
    }

    /// Moves to the first key at or after `key`.
    public func seek(_ key: [UInt8]) {
        key.withUnsafeBytes { rocksdb_iter_seek(iterator, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
        skipForward()
    }

    /// Moves to the last key at or before `key`.
    public func seekForPrev(_ key: [UInt8]) {
        key.withUnsafeBytes { rocksdb_iter_seek_for_prev(iterator, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
        skipBackward()
    }

    public func seekToFirst() { rocksdb_iter_seek_to_first(iterator); skipForward() }
    public func seekToLast() { rocksdb_iter_seek_to_last(iterator); skipBackward() }
    public func next() { rocksdb_iter_next(iterator); skipForward() }
    public func previous() { rocksdb_iter_prev(iterator); skipBackward() }

    private func skipForward() {
        guard let skip else { return }
        while isValid && skip(key) { rocksdb_iter_next(iterator) }
    }

    private func skipBackward() {
        guard let skip else { return }
        while isValid && skip(key) { rocksdb_iter_prev(iterator) }
    }

    /// The current key; only while ``isValid``.
    public var key: [UInt8] {
        var length = 0
        let pointer = rocksdb_iter_key(iterator, &length)
        return Self.bytes(pointer, length)
    }

    /// The current value; only while ``isValid``.
    public var value: [UInt8] {
        var length = 0
        let pointer = rocksdb_iter_value(iterator, &length)
        return Self.bytes(pointer, length)
    }

    /// The current value's length, without copying it; only while ``isValid``.
    public var valueCount: Int {
        var length = 0
        _ = rocksdb_iter_value(iterator, &length)
        return length
    }

    /// Throws the error that ended the iteration early, if any.
    public func checkError() throws {
        var error: UnsafeMutablePointer<CChar>?
        rocksdb_iter_get_error(iterator, &error)
        if let message = RocksEngine.take(error) { throw StorageError.engine(message) }
    }

    private static func bytes(_ pointer: UnsafePointer<CChar>?, _ length: Int) -> [UInt8] {
        guard let pointer, length > 0 else { return [] }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            [UInt8](UnsafeBufferPointer(start: $0, count: length))
        }
    }
}
