import CRocksDB

/// A consistent read-only view of a ``RocksEngine``, released when the last reference goes.
final class RocksSnapshot: KVReader, @unchecked Sendable {
    private let engine: RocksEngine
    private let db: OpaquePointer
    private let snapshot: OpaquePointer
    private let readOptions: OpaquePointer

    init(engine: RocksEngine, db: OpaquePointer) {
        self.engine = engine
        self.db = db
        snapshot = rocksdb_create_snapshot(db)!
        readOptions = rocksdb_readoptions_create()!
        rocksdb_readoptions_set_snapshot(readOptions, snapshot)
    }

    deinit {
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_release_snapshot(db, snapshot)
        engine.release()  // taken by RocksEngine.snapshot()
    }

    func get(_ cf: ColumnFamily, _ key: [UInt8]) throws -> [UInt8]? {
        try engine.getRetained(cf, key, readOptions: readOptions)
    }

    func makeIterator(_ cf: ColumnFamily, lowerBound: [UInt8]?, upperBound: [UInt8]?,
                      scope: IteratorScope) throws -> EngineIterator {
        let family = try engine.handle(cf)
        engine.retainAgain()
        return EngineIterator(engine: engine, db: db, family: family, snapshot: self,
                              lowerBound: lowerBound, upperBound: upperBound, scope: scope)
    }

    var nativeSnapshot: OpaquePointer { snapshot }
}
