import Storage
import TinyKVProto

/// A kv-engine snapshot restricted to one region, handed to the services for a read.
///
/// Stored keys belong to the region by their routing key (see ``RegionData``): point reads of a
/// key of another region fail with `key_not_in_region`, and iterators are clamped to the
/// region (a plain range where exact, key-by-key filtering where not), so a scan never returns
/// another region's keys — which on this store may be a lagging follower's copy.
struct RegionReader: KVReader {
    let inner: any KVReader
    let region: Metapb.Region

    func get(_ cf: ColumnFamily, _ key: [UInt8]) throws -> [UInt8]? {
        if !RegionData.contains(region, cf, key) {
            throw RegionError(RegionData.keyNotInRegion(region, cf, key))
        }
        return try inner.get(cf, key)
    }

    func makeIterator(_ cf: ColumnFamily, lowerBound: [UInt8]?, upperBound: [UInt8]?,
                      scope: IteratorScope) throws -> EngineIterator {
        try RegionData.makeIterator(region, cf, in: inner, lowerBound: lowerBound, upperBound: upperBound, scope: scope)
    }

    /// Throws `key_not_in_region` for the first of the request's keys outside the region
    /// (compared in the request's key space); with `wholeRanges`, range ends are checked too.
    func check(_ keys: RequestKeys, wholeRanges: Bool) throws {
        if let outside = keys.firstOutside(start: region.startKey, end: region.endKey, wholeRanges: wholeRanges) {
            throw RegionError(RegionRange.keyNotInRegion(outside, region))
        }
    }
}
