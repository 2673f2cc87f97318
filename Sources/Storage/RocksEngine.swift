import CRocksDB
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A RocksDB database opened with a fixed set of column families.
///
/// RocksDB is safe to use from many threads at once; this type only adds the
/// column family table and error conversion. Calls block the calling thread for
/// the duration of the disk work (a synced write waits for fsync), so callers on
/// Swift's cooperative pool should batch writes through ``GroupCommitter``.
public final class RocksEngine: KVEngine, @unchecked Sendable {
    /// The directory the database lives in.
    public let path: String
    /// The column families the database was opened with.
    public let columnFamilies: [ColumnFamily]

    private let db: OpaquePointer
    private let handles: [ColumnFamily: OpaquePointer]
    private let options: OpaquePointer
    private let syncWrite: OpaquePointer
    private let asyncWrite: OpaquePointer
    private let readOptions: OpaquePointer
    /// Fail-stop state: the first write failure's description, and who to tell about it.
    private let failure = Mutex<(cause: String?, handler: (@Sendable (String) -> Void)?)>((nil, nil))
    /// Open/closed state and the number of calls, snapshots and iterators using the native
    /// database: `close()` releases it only once the last of them is done, so a reader that
    /// outlives `close()` never touches a closed database.
    private let lifetime = Mutex(Lifetime())

    private struct Lifetime {
        var closed = false
        var users = 0
        var released = false
    }

    /// Opens (creating when missing) the database at `path`.
    public init(path: String, columnFamilies: [ColumnFamily] = ColumnFamily.standard) throws {
        self.path = path
        var families = columnFamilies
        if !families.contains(.default) { families.insert(.default, at: 0) }
        self.columnFamilies = families

        let options = rocksdb_options_create()!
        rocksdb_options_set_create_if_missing(options, 1)
        rocksdb_options_set_create_missing_column_families(options, 1)
        rocksdb_options_increase_parallelism(options, 2)
        rocksdb_options_set_max_background_jobs(options, 2)
        rocksdb_options_set_write_buffer_size(options, 64 << 20)

        var names = families.map { strdup($0.name) }
        defer { names.forEach { free($0) } }
        let lockOptions = Self.lockFamilyOptions(copying: options)
        defer { rocksdb_options_destroy(lockOptions) }
        let writeOptions = Self.writeFamilyOptions(copying: options)
        defer { rocksdb_options_destroy(writeOptions) }
        var familyOptions: [OpaquePointer?] = families.map {
            switch $0 {
            case .lock: lockOptions
            case .write: writeOptions
            default: options
            }
        }
        var familyHandles = [OpaquePointer?](repeating: nil, count: families.count)
        var error: UnsafeMutablePointer<CChar>?
        let opened = names.withUnsafeMutableBufferPointer { namePointers in
            namePointers.withMemoryRebound(to: UnsafePointer<CChar>?.self) { constNames in
                rocksdb_open_column_families(
                    options, path, Int32(families.count), constNames.baseAddress,
                    &familyOptions, &familyHandles, &error)
            }
        }
        if let message = Self.take(error) {
            rocksdb_options_destroy(options)
            throw StorageError.engine("open \(path): \(message)")
        }
        guard let opened else {
            rocksdb_options_destroy(options)
            throw StorageError.engine("open \(path) failed")
        }
        db = opened
        self.options = options
        var table: [ColumnFamily: OpaquePointer] = [:]
        for (family, handle) in zip(families, familyHandles) { table[family] = handle! }
        handles = table
        syncWrite = rocksdb_writeoptions_create()!
        rocksdb_writeoptions_set_sync(syncWrite, 1)
        asyncWrite = rocksdb_writeoptions_create()!
        readOptions = rocksdb_readoptions_create()!
    }

    /// The lock column family's options: a small memtable, compacted as soon as it is flushed,
    /// and bloom filters for the point reads that find no lock.
    ///
    /// Every lock is deleted again by its commit or rollback, so the family's live data is tiny
    /// but its memtable fills with tombstones, which every scan of the family steps over one by
    /// one (`KvResolveLock` scans a region's locks): with the shared 64 MiB memtable, a resolve
    /// after a few minutes of transactions took tens of milliseconds and the leader's CPU per
    /// transaction rose by half. Flushing at 1 MiB and compacting each flushed file right away
    /// (the bottom level drops a put and its tombstone together) bounds what a scan steps over.
    ///
    /// Most lock reads (a prewrite's check, a read's) find no lock: a whole-key bloom filter on
    /// the memtable and one on each file answer those without a walk down the skiplist, which on
    /// a loaded VM costs a few microseconds of cache misses per read (docs/benchmarks.md).
    private static func lockFamilyOptions(copying options: OpaquePointer) -> OpaquePointer {
        let lock = rocksdb_options_create_copy(options)!
        rocksdb_options_set_write_buffer_size(lock, 1 << 20)
        rocksdb_options_set_level0_file_num_compaction_trigger(lock, 1)
        rocksdb_options_set_memtable_prefix_bloom_size_ratio(lock, 0.1)
        rocksdb_options_set_memtable_whole_key_filtering(lock, 1)
        setFileBloomFilters(lock, wholeKeys: true)
        return lock
    }

    /// The write column family's options: bloom filters on an MVCC key without its timestamp.
    ///
    /// A prewrite's conflict check and a read seek to one key's newest write record, and for a
    /// key never written before (most keys a prewrite sees) they walk the memtable's skiplist
    /// only to land on another key. With a prefix extractor that strips the 8-byte timestamp, a
    /// bloom filter on the memtable and on each file answers most of those seeks without the walk.
    /// Only iterators made for ``IteratorScope/versionsOfOneKey`` use the filters; every other
    /// iterator seeks in total order (`EngineIterator`), so scans across keys see every key.
    private static func writeFamilyOptions(copying options: OpaquePointer) -> OpaquePointer {
        let write = rocksdb_options_create_copy(options)!
        rocksdb_options_set_prefix_extractor(write, tinykv_without_timestamp_transform_create())
        // 2% of the 64 MiB memtable, allocated with it: ~20 bits per record of a full memtable.
        rocksdb_options_set_memtable_prefix_bloom_size_ratio(write, 0.02)
        setFileBloomFilters(write, wholeKeys: false)
        return write
    }

    /// Gives each file of a family a full bloom filter, 10 bits per entry: of whole keys and, with
    /// a prefix extractor, of prefixes (`wholeKeys: false` keeps only the prefixes).
    private static func setFileBloomFilters(_ options: OpaquePointer, wholeKeys: Bool) {
        let table = rocksdb_block_based_options_create()!
        rocksdb_block_based_options_set_filter_policy(table, rocksdb_filterpolicy_create_bloom_full(10))
        rocksdb_block_based_options_set_whole_key_filtering(table, wholeKeys ? 1 : 0)
        rocksdb_options_set_block_based_table_factory(options, table)
        rocksdb_block_based_options_destroy(table)
    }

    deinit {
        close()
        rocksdb_writeoptions_destroy(syncWrite)
        rocksdb_writeoptions_destroy(asyncWrite)
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_options_destroy(options)
    }

    /// Refuses new calls (they throw ``StorageError/closed``) and releases the database as soon
    /// as no call, snapshot or iterator uses it any more.
    public func close() {
        let release = lifetime.withLock { state -> Bool in
            state.closed = true
            return takeRelease(&state)
        }
        if release { releaseNative() }
    }

    /// Registers a user of the native database; throws once the engine is closed.
    func retain() throws {
        try lifetime.withLock { state in
            if state.closed { throw StorageError.closed }
            state.users += 1
        }
    }

    /// Registers one more user on behalf of a caller that already holds a ``retain()`` (a
    /// snapshot opening an iterator), so it works even after `close()`.
    func retainAgain() {
        lifetime.withLock { $0.users += 1 }
    }

    /// Ends a use started with ``retain()``; the last one after `close()` releases the database.
    func release() {
        let release = lifetime.withLock { state -> Bool in
            state.users -= 1
            return takeRelease(&state)
        }
        if release { releaseNative() }
    }

    /// Runs `body` as a registered user of the native database.
    private func using<T>(_ body: () throws -> T) throws -> T {
        try retain()
        defer { release() }
        return try body()
    }

    private func takeRelease(_ state: inout Lifetime) -> Bool {
        guard state.closed, state.users == 0, !state.released else { return false }
        state.released = true
        return true
    }

    private func releaseNative() {
        for handle in handles.values { rocksdb_column_family_handle_destroy(handle) }
        rocksdb_close(db)
    }

    func handle(_ cf: ColumnFamily) throws -> OpaquePointer {
        guard let handle = handles[cf] else { throw StorageError.unknownColumnFamily(cf.name) }
        return handle
    }

    public func get(_ cf: ColumnFamily, _ key: [UInt8]) throws -> [UInt8]? {
        try get(cf, key, readOptions: readOptions)
    }

    func get(_ cf: ColumnFamily, _ key: [UInt8], readOptions: OpaquePointer) throws -> [UInt8]? {
        try using { try getRetained(cf, key, readOptions: readOptions) }
    }

    /// A point read by a caller that already holds a ``retain()`` (a snapshot).
    func getRetained(_ cf: ColumnFamily, _ key: [UInt8], readOptions: OpaquePointer) throws -> [UInt8]? {
        let family = try handle(cf)
        var length = 0
        var error: UnsafeMutablePointer<CChar>?
        let value = key.withUnsafeBufferPointer { keyBuffer in
            keyBuffer.withMemoryRebound(to: CChar.self) {
                rocksdb_get_cf(db, readOptions, family, $0.baseAddress, $0.count, &length, &error)
            }
        }
        if let message = Self.take(error) { throw StorageError.engine(message) }
        guard let value else { return nil }
        defer { rocksdb_free(value) }
        return value.withMemoryRebound(to: UInt8.self, capacity: length) {
            [UInt8](UnsafeBufferPointer(start: $0, count: length))
        }
    }

    /// Why writes are refused, once a write has failed (fail-stop); nil while healthy.
    public var writeFailure: String? { failure.withLock { $0.cause } }

    /// Calls `handler` once, with the cause, when a write first fails and the engine stops
    /// accepting writes (the store logs it).
    public func onWriteFailure(_ handler: @escaping @Sendable (String) -> Void) {
        failure.withLock { $0.handler = handler }
    }

    /// Records the first write failure; every later write throws ``StorageError/writesStopped(cause:)``.
    ///
    /// A write that failed may or may not have reached the disk (RocksDB itself may keep
    /// it in its memtable after a failed WAL sync), so nothing that follows can be
    /// trusted to be durable: the engine refuses writes until restarted. Reads go on.
    private func failStop(_ error: StorageError) {
        let handler: (@Sendable (String) -> Void)? = failure.withLock { state in
            guard state.cause == nil else { return nil }
            state.cause = "\(error)"
            return state.handler
        }
        handler?("\(error)")
    }

    public func write(_ batch: WriteBatch, sync: Bool) throws {
        if batch.isEmpty { return }
        if let cause = writeFailure { throw StorageError.writesStopped(cause: cause) }
        try using { try unsafeWrite(batch, sync: sync) }
    }

    private func unsafeWrite(_ batch: WriteBatch, sync: Bool) throws {
        let native = rocksdb_writebatch_create()!
        defer { rocksdb_writebatch_destroy(native) }
        for operation in batch.operations {
            switch operation {
            case .put(let cf, let key, let value):
                let family = try handle(cf)
                key.withUnsafeBytes { k in
                    value.withUnsafeBytes { v in
                        rocksdb_writebatch_put_cf(native, family, k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count,
                                                  v.baseAddress?.assumingMemoryBound(to: CChar.self), v.count)
                    }
                }
            case .delete(let cf, let key):
                let family = try handle(cf)
                key.withUnsafeBytes { k in
                    rocksdb_writebatch_delete_cf(native, family, k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count)
                }
            case .deleteRange(let cf, let start, let end):
                let family = try handle(cf)
                start.withUnsafeBytes { s in
                    end.withUnsafeBytes { e in
                        rocksdb_writebatch_delete_range_cf(native, family, s.baseAddress?.assumingMemoryBound(to: CChar.self), s.count,
                                                           e.baseAddress?.assumingMemoryBound(to: CChar.self), e.count)
                    }
                }
            }
        }
        if let injected = FailPoints.evaluate("engine.write") {
            failStop(injected)
            throw injected
        }
        // An injected fsync failure: the write happens, unsynced, and is then reported failed.
        let syncFailure = sync ? FailPoints.evaluate("engine.sync") : nil
        var error: UnsafeMutablePointer<CChar>?
        rocksdb_write(db, sync && syncFailure == nil ? syncWrite : asyncWrite, native, &error)
        if let message = Self.take(error) {
            let failed = StorageError.engine(message)
            failStop(failed)
            throw failed
        }
        if let syncFailure {
            failStop(syncFailure)
            throw syncFailure
        }
    }

    public func makeIterator(_ cf: ColumnFamily, lowerBound: [UInt8]?, upperBound: [UInt8]?,
                             scope: IteratorScope) throws -> EngineIterator {
        let family = try handle(cf)
        try retain()
        return EngineIterator(engine: self, db: db, family: family, snapshot: nil,
                              lowerBound: lowerBound, upperBound: upperBound, scope: scope)
    }

    public func snapshot() throws -> any KVReader {
        try retain()
        return RocksSnapshot(engine: self, db: db)
    }

    /// Ingests SST files (written with ``SSTFileWriter``) into `cf`: their keys replace what
    /// the engine has for them, atomically and durably (the manifest is synced). The files are
    /// copied, so the caller keeps them (a snapshot's files stay until its apply finished).
    public func ingest(_ cf: ColumnFamily, files: [String]) throws {
        if files.isEmpty { return }
        if let cause = writeFailure { throw StorageError.writesStopped(cause: cause) }
        try using {
            let family = try handle(cf)
            let options = rocksdb_ingestexternalfileoptions_create()!
            defer { rocksdb_ingestexternalfileoptions_destroy(options) }
            rocksdb_ingestexternalfileoptions_set_move_files(options, 0)
            var names = files.map { strdup($0) }
            defer { names.forEach { free($0) } }
            var error: UnsafeMutablePointer<CChar>?
            names.withUnsafeMutableBufferPointer { pointers in
                pointers.withMemoryRebound(to: UnsafePointer<CChar>?.self) { constNames in
                    rocksdb_ingest_external_file_cf(db, family, constNames.baseAddress, constNames.count, options, &error)
                }
            }
            if let message = Self.take(error) { throw StorageError.engine("ingest into \(cf): \(message)") }
        }
    }

    /// RocksDB's estimate of the bytes stored for `[start, end)` in `cf`.
    public func approximateSize(_ cf: ColumnFamily, from start: [UInt8], to end: [UInt8]) throws -> UInt64 {
        try using { try unsafeApproximateSize(cf, from: start, to: end) }
    }

    private func unsafeApproximateSize(_ cf: ColumnFamily, from start: [UInt8], to end: [UInt8]) throws -> UInt64 {
        let family = try handle(cf)
        var size: UInt64 = 0
        var error: UnsafeMutablePointer<CChar>?
        start.withUnsafeBytes { s in
            end.withUnsafeBytes { e in
                var startPointer: UnsafePointer<CChar>? = s.baseAddress?.assumingMemoryBound(to: CChar.self)
                var endPointer: UnsafePointer<CChar>? = e.baseAddress?.assumingMemoryBound(to: CChar.self)
                var startLength = s.count
                var endLength = e.count
                rocksdb_approximate_sizes_cf(db, family, 1, &startPointer, &startLength, &endPointer, &endLength, &size, &error)
            }
        }
        if let message = Self.take(error) { throw StorageError.engine(message) }
        return size
    }

    /// An integer property of `cf` (e.g. `rocksdb.num-entries-active-mem-table`); nil when
    /// RocksDB does not know it.
    public func integerProperty(_ name: String, of cf: ColumnFamily) throws -> UInt64? {
        try using {
            var value: UInt64 = 0
            return rocksdb_property_int_cf(db, try handle(cf), name, &value) == 0 ? value : nil
        }
    }

    /// Writes `cf`'s memtable to a file and waits for it (tests use it to read from files).
    func flush(_ cf: ColumnFamily) throws {
        try using {
            let options = rocksdb_flushoptions_create()!
            defer { rocksdb_flushoptions_destroy(options) }
            rocksdb_flushoptions_set_wait(options, 1)
            var error: UnsafeMutablePointer<CChar>?
            rocksdb_flush_cf(db, options, try handle(cf), &error)
            if let message = Self.take(error) { throw StorageError.engine("flush \(cf.name): \(message)") }
        }
    }

    /// Turns a RocksDB error pointer into a message and frees it.
    static func take(_ error: UnsafeMutablePointer<CChar>?) -> String? {
        guard let error else { return nil }
        defer { rocksdb_free(error) }
        return String(cString: error)
    }
}
