import Foundation
import Storage
import TinyKVProto

/// The scheduler's durable state in RocksDB under the data directory.
///
/// One column family, small keys. Everything a restart must not forget is written
/// with fsync (cluster id, bootstrap meta, stores, ID and TSO high-water marks, GC
/// safe point). Region records are the "last known regions" cache: they are written
/// without fsync because heartbeats re-send them anyway, and losing the last few
/// only delays routing until the next heartbeat.
final class ClusterStore: Sendable {
    private let engine: RocksEngine

    private enum Key {
        static let clusterID: [UInt8] = Array("meta/cluster_id".utf8)
        /// The `metapb.Cluster` written by Bootstrap; present means bootstrapped.
        static let clusterMeta: [UInt8] = Array("meta/cluster".utf8)
        static let allocID: [UInt8] = Array("meta/alloc_id".utf8)
        static let tso: [UInt8] = Array("meta/tso".utf8)
        static let gcSafePoint: [UInt8] = Array("meta/gc_safe_point".utf8)
        static let storePrefix: [UInt8] = Array("store/".utf8)
        static let regionPrefix: [UInt8] = Array("region/".utf8)
        static func store(_ id: UInt64) -> [UInt8] { storePrefix + id.bigEndianBytes }
        static func region(_ id: UInt64) -> [UInt8] { regionPrefix + id.bigEndianBytes }
    }

    /// Opens (creating when missing) the database at `<directory>/scheduler-meta`.
    init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent("scheduler-meta")
        engine = try RocksEngine(path: path, columnFamilies: [.default])
    }

    func close() { engine.close() }

    // MARK: scalars

    private func loadUInt64(_ key: [UInt8]) throws -> UInt64? {
        guard let bytes = try engine.get(.default, key) else { return nil }
        guard let value = UInt64(bigEndianBytes: bytes) else {
            throw StorageError.engine("corrupt value under \(String(decoding: key, as: UTF8.self))")
        }
        return value
    }

    private func put(_ key: [UInt8], _ value: [UInt8], sync: Bool) throws {
        var batch = WriteBatch()
        batch.put(.default, key, value)
        try engine.write(batch, sync: sync)
    }

    func loadClusterID() throws -> UInt64? { try loadUInt64(Key.clusterID) }
    func saveClusterID(_ id: UInt64) throws { try put(Key.clusterID, id.bigEndianBytes, sync: true) }

    func loadAllocID() throws -> UInt64 { try loadUInt64(Key.allocID) ?? 0 }
    func saveAllocID(_ end: UInt64) throws { try put(Key.allocID, end.bigEndianBytes, sync: true) }

    /// The persisted TSO upper bound in milliseconds: no timestamp at or above it was handed out.
    func loadTSO() throws -> UInt64 { try loadUInt64(Key.tso) ?? 0 }
    func saveTSO(_ bound: UInt64) throws { try put(Key.tso, bound.bigEndianBytes, sync: true) }

    func loadGCSafePoint() throws -> UInt64 { try loadUInt64(Key.gcSafePoint) ?? 0 }
    func saveGCSafePoint(_ point: UInt64) throws { try put(Key.gcSafePoint, point.bigEndianBytes, sync: true) }

    // MARK: messages

    func loadClusterMeta() throws -> Metapb.Cluster? {
        guard let bytes = try engine.get(.default, Key.clusterMeta) else { return nil }
        return try Metapb.Cluster(decoding: bytes)
    }

    /// Bootstrap writes the cluster meta and the first store in one atomic, synced batch,
    /// so a crash leaves either a bootstrapped cluster with its store or nothing.
    func saveBootstrap(meta: Metapb.Cluster, store: Metapb.Store) throws {
        var batch = WriteBatch()
        batch.put(.default, Key.store(store.id), store.encode())
        batch.put(.default, Key.clusterMeta, meta.encode())
        try engine.write(batch, sync: true)
    }

    func saveClusterMeta(_ meta: Metapb.Cluster) throws { try put(Key.clusterMeta, meta.encode(), sync: true) }

    func saveStore(_ store: Metapb.Store) throws { try put(Key.store(store.id), store.encode(), sync: true) }

    func loadStores() throws -> [Metapb.Store] {
        try scanPrefix(Key.storePrefix).map { try Metapb.Store(decoding: $0) }
    }

    /// Saves a region with its leader. The pair is stored as a `GetRegionResponse`
    /// (region + leader), which saves inventing another record format.
    func saveRegions(_ regions: [RegionInfo], deleting removed: [UInt64]) throws {
        var batch = WriteBatch()
        for id in removed { batch.delete(.default, Key.region(id)) }
        for info in regions {
            let record = Schedulerpb.GetRegionResponse(region: info.region, leader: info.leader)
            batch.put(.default, Key.region(info.id), record.encode())
        }
        try engine.write(batch, sync: false)
    }

    func loadRegions() throws -> [RegionInfo] {
        try scanPrefix(Key.regionPrefix).compactMap { bytes in
            let record = try Schedulerpb.GetRegionResponse(decoding: bytes)
            guard let region = record.region else { return nil }
            return RegionInfo(region: region, leader: record.leader)
        }
    }

    private func scanPrefix(_ prefix: [UInt8]) throws -> [[UInt8]] {
        var upper = prefix
        upper[upper.count - 1] &+= 1  // prefixes end in "/", so this never wraps
        return try engine.scan(.default, from: prefix, to: upper, limit: .max).map(\.value)
    }
}
