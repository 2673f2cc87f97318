import CRocksDB

/// Writes a RocksDB SST file (RocksDB's `SstFileWriter`), for ingestion into an engine with
/// ``RocksEngine/ingest(_:files:)``.
///
/// Keys must be added in strictly increasing order (bytewise, RocksDB's default comparator);
/// the file is usable only after ``finish()``. Memory stays bounded: RocksDB writes blocks to
/// the file as they fill. Used by one owner at a time.
public final class SSTFileWriter {
    /// The file being written.
    public let path: String
    private let envOptions: OpaquePointer
    private let options: OpaquePointer
    private let writer: OpaquePointer
    private var finished = false
    /// Pairs added so far.
    public private(set) var count = 0
    /// The last key added, to refuse out-of-order keys with a clear error.
    private var lastKey: [UInt8]?

    /// Creates (truncating) the file at `path`.
    public init(path: String) throws {
        self.path = path
        envOptions = rocksdb_envoptions_create()!
        options = rocksdb_options_create()!
        writer = rocksdb_sstfilewriter_create(envOptions, options)!
        var error: UnsafeMutablePointer<CChar>?
        rocksdb_sstfilewriter_open(writer, path, &error)
        // Every property is set: deinit releases the native objects when this throws.
        if let message = RocksEngine.take(error) { throw StorageError.engine("open sst \(path): \(message)") }
    }

    deinit {
        rocksdb_sstfilewriter_destroy(writer)
        rocksdb_options_destroy(options)
        rocksdb_envoptions_destroy(envOptions)
    }

    /// Adds `key` → `value`; `key` must sort after every key added before.
    public func put(_ key: [UInt8], _ value: [UInt8]) throws {
        if let lastKey, !lastKey.lexicographicallyPrecedes(key) {
            throw StorageError.engine("sst \(path): keys out of order")
        }
        var error: UnsafeMutablePointer<CChar>?
        key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                rocksdb_sstfilewriter_put(writer, k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count,
                                          v.baseAddress?.assumingMemoryBound(to: CChar.self), v.count, &error)
            }
        }
        if let message = RocksEngine.take(error) { throw StorageError.engine("sst \(path): \(message)") }
        lastKey = key
        count += 1
    }

    /// Completes the file (at least one pair must have been added) and returns its size in bytes.
    @discardableResult
    public func finish() throws -> UInt64 {
        guard !finished else { throw StorageError.engine("sst \(path): already finished") }
        var error: UnsafeMutablePointer<CChar>?
        rocksdb_sstfilewriter_finish(writer, &error)
        if let message = RocksEngine.take(error) { throw StorageError.engine("finish sst \(path): \(message)") }
        finished = true
        var size: UInt64 = 0
        rocksdb_sstfilewriter_file_size(writer, &size)
        return size
    }
}
