import Storage
import TinyKVProto

/// A kv-engine snapshot restricted to one region, handed to the services for a read.
///
/// Point reads of a key outside the region fail with `key_not_in_region`; iterators are
/// clamped to the region so a scan never returns another region's keys. Bounds are
/// compared in each column family's own key space (see ``RegionData``): raw keys in
/// `lock`, memcomparable-encoded keys in `write`, and in `default` the user key of the
/// stored key (raw for the raw API, decoded for transaction values). Iterators over
/// `default` are clamped to the raw range: the raw API scans it, the transaction layer
/// only reads it by point.
struct RegionReader: KVReader {
    let inner: any KVReader
    let region: Metapb.Region

    func get(_ cf: ColumnFamily, _ key: [UInt8]) throws -> [UInt8]? {
        if !RegionData.contains(region, cf, key) {
            throw RegionError(RegionRange.keyNotInRegion(RegionData.userKey(cf, key), region))
        }
        return try inner.get(cf, key)
    }

    func makeIterator(_ cf: ColumnFamily, lowerBound: [UInt8]?, upperBound: [UInt8]?) throws -> EngineIterator {
        guard ColumnFamily.dataFamilies.contains(cf) else {
            return try inner.makeIterator(cf, lowerBound: lowerBound, upperBound: upperBound)
        }
        let bounds: (lower: [UInt8]?, upper: [UInt8]?) = cf == .write
            ? RegionData.bounds(.write, region)
            : (region.startKey.isEmpty ? nil : region.startKey, region.endKey.isEmpty ? nil : region.endKey)
        var lower = lowerBound
        if let regionLower = bounds.lower, lower.map({ $0.lexicographicallyPrecedes(regionLower) }) ?? true {
            lower = regionLower
        }
        var upper = upperBound
        if let regionUpper = bounds.upper, upper.map({ regionUpper.lexicographicallyPrecedes($0) }) ?? true {
            upper = regionUpper
        }
        return try inner.makeIterator(cf, lowerBound: lower, upperBound: upper)
    }
}
