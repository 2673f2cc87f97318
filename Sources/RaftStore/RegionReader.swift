import Storage
import TinyKVProto

/// A kv-engine snapshot restricted to one region, handed to the services for a read.
///
/// Point reads of a key outside the region fail with `key_not_in_region`; iterators are
/// clamped to the region so a scan never returns another region's keys.
///
/// Bounds are enforced on `default` and `lock`, whose keys are the raw user keys of the
/// raw API and of Percolator locks. The `write` column family holds the transaction
/// layer's memcomparable-encoded keys with a timestamp suffix (as in TinyKV, whose
/// region bounds are raw keys too), so it is not clamped; the transaction layer's
/// `default` values are also stored under encoded keys, whose order matches the raw
/// keys' except around 8-byte group boundaries. With a single region (the whole key
/// space) none of this matters; with splits the transaction API relies on clients
/// routing by raw key, as TinyKV does.
struct RegionReader: KVReader {
    let inner: any KVReader
    let region: Metapb.Region

    /// Whether keys of `cf` are raw keys compared against the region bounds.
    static func isBounded(_ cf: ColumnFamily) -> Bool { cf == .default || cf == .lock }

    func get(_ cf: ColumnFamily, _ key: [UInt8]) throws -> [UInt8]? {
        if Self.isBounded(cf), !RegionRange.contains(region, key) {
            throw RegionError(RegionRange.keyNotInRegion(key, region))
        }
        return try inner.get(cf, key)
    }

    func makeIterator(_ cf: ColumnFamily, lowerBound: [UInt8]?, upperBound: [UInt8]?) throws -> EngineIterator {
        guard Self.isBounded(cf) else { return try inner.makeIterator(cf, lowerBound: lowerBound, upperBound: upperBound) }
        var lower = lowerBound
        if !region.startKey.isEmpty, lower.map({ $0.lexicographicallyPrecedes(region.startKey) }) ?? true {
            lower = region.startKey
        }
        var upper = upperBound
        if !region.endKey.isEmpty, upper.map({ region.endKey.lexicographicallyPrecedes($0) }) ?? true {
            upper = region.endKey
        }
        return try inner.makeIterator(cf, lowerBound: lower, upperBound: upper)
    }
}
