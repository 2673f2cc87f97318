import Storage
import TinyKVProto

/// Which stored keys of the kv engine belong to a region.
///
/// Region bounds are raw user keys (what the scheduler, the routing client and the
/// services compare). The data column families store them differently:
///
/// | CF | stored key | user key |
/// |---|---|---|
/// | `lock` | the raw key (Percolator locks) | the key itself |
/// | `write` | `memcomparable(key) ++ ~commitTs` | the decoded key |
/// | `default` | the raw key (raw API) or `memcomparable(key) ++ ~startTs` (transaction values) | raw key, or the decoded key of a well-formed encoded key |
///
/// memcomparable encoding preserves order and no encoded key prefixes another, so the
/// stored keys of user keys in `[start, end)` are exactly `[enc(start), enc(end))` in
/// `write`; every version of one user key lands in the same region. In `default` raw and
/// encoded keys interleave, so range operations there scan `[start, enc(end))` and keep
/// the keys whose user key is inside (a raw key equal to a split key sorts before the
/// encoded split key, so a plain range would hand it to the wrong region).
enum RegionData {
    private static let groupSize = 8
    private static let marker: UInt8 = 0xFF

    /// The memcomparable encoding of `key` (TiDB's `codec.EncodeBytes`).
    static func encode(_ key: [UInt8]) -> [UInt8] { MemComparable.encode(key) }

    /// The user key of `memcomparable(key) ++ 8 timestamp bytes`, or nil when `stored` is not
    /// exactly that (a raw key in `default`).
    static func decodeVersioned(_ stored: [UInt8]) -> [UInt8]? {
        let count = stored.count
        guard count >= 17, (count - 8) % 9 == 0 else { return nil }
        var key: [UInt8] = []
        key.reserveCapacity(count - 8)
        var index = 0
        while index + 9 <= count - 8 {
            let groupMarker = stored[index + 8]
            let last = index + 9 == count - 8
            if groupMarker == marker {
                if last { return nil }
                key.append(contentsOf: stored[index..<(index + 8)])
            } else {
                guard last, groupMarker >= marker - 8 else { return nil }
                let pad = Int(marker - groupMarker)
                key.append(contentsOf: stored[index..<(index + 8 - pad)])
                for padIndex in (index + 8 - pad)..<(index + 8) where stored[padIndex] != 0 { return nil }
            }
            index += 9
        }
        return key
    }

    /// The user key a stored key of `cf` belongs to.
    static func userKey(_ cf: ColumnFamily, _ stored: [UInt8]) -> [UInt8] {
        if cf == .write || cf == .default { return decodeVersioned(stored) ?? stored }
        return stored
    }

    /// Whether the stored key `key` of `cf` belongs to `region` (non-data families: always).
    static func contains(_ region: Metapb.Region, _ cf: ColumnFamily, _ key: [UInt8]) -> Bool {
        guard ColumnFamily.dataFamilies.contains(cf) else { return true }
        return RegionRange.contains(region, userKey(cf, key))
    }

    /// Stored-key bounds covering every key of `region` in `cf` (nil: unbounded). In `default`
    /// the range may hold foreign keys too: filter with ``contains``.
    static func bounds(_ cf: ColumnFamily, _ region: Metapb.Region) -> (lower: [UInt8]?, upper: [UInt8]?) {
        let start = region.startKey, end = region.endKey
        switch cf {
        case .write:
            return (start.isEmpty ? nil : encode(start), end.isEmpty ? nil : encode(end))
        case .default:
            return (start.isEmpty ? nil : start, end.isEmpty ? nil : encode(end))
        default:
            return (start.isEmpty ? nil : start, end.isEmpty ? nil : end)
        }
    }

    /// Whether range operations on `cf` must filter key by key.
    static func needsFilter(_ cf: ColumnFamily) -> Bool { cf == .default }

    /// Calls `body` with every (cf, key, value) of `region` in `reader`, family by family.
    static func forEach(_ region: Metapb.Region, in reader: any KVReader,
                        _ body: (ColumnFamily, [UInt8], [UInt8]) throws -> Void) throws {
        for cf in ColumnFamily.dataFamilies {
            let (lower, upper) = bounds(cf, region)
            let iterator = try reader.makeIterator(cf, lowerBound: lower, upperBound: upper)
            iterator.seekToFirst()
            while iterator.isValid {
                let key = iterator.key
                if !needsFilter(cf) || contains(region, cf, key) { try body(cf, key, iterator.value) }
                iterator.next()
            }
            try iterator.checkError()
        }
    }

    /// Deletes every key of `region` (range deletes where exact, key by key in `default`).
    static func deleteAll(_ region: Metapb.Region, in reader: any KVReader, into batch: inout WriteBatch) throws {
        for cf in ColumnFamily.dataFamilies {
            let (lower, upper) = bounds(cf, region)
            if needsFilter(cf) {
                let iterator = try reader.makeIterator(cf, lowerBound: lower, upperBound: upper)
                iterator.seekToFirst()
                while iterator.isValid {
                    let key = iterator.key
                    if contains(region, cf, key) { batch.delete(cf, key) }
                    iterator.next()
                }
                try iterator.checkError()
            } else {
                batch.deleteRange(cf, from: lower ?? [], to: upper ?? [UInt8](repeating: 0xFF, count: 256))
            }
        }
    }

    /// RocksDB's estimate of the region's bytes on disk (memtables not included).
    static func approximateSize(_ region: Metapb.Region, engine: RocksEngine) -> UInt64 {
        var total: UInt64 = 0
        for cf in ColumnFamily.dataFamilies {
            let (lower, upper) = bounds(cf, region)
            total += (try? engine.approximateSize(cf, from: lower ?? [], to: upper ?? [UInt8](repeating: 0xFF, count: 256))) ?? 0
        }
        return total
    }

    /// The region's full size and the user key near its middle, by the bytes of its largest
    /// column family (TiKV's "half" split, approximated the same way): two streaming passes,
    /// nothing kept per key. Nil when no key past the start qualifies (e.g. a single key).
    static func middleKey(_ region: Metapb.Region, in reader: any KVReader,
                          splitSize: UInt64) throws -> (size: UInt64, key: [UInt8])? {
        var perFamily: [ColumnFamily: UInt64] = [:]
        try forEach(region, in: reader) { cf, key, value in perFamily[cf, default: 0] += UInt64(key.count + value.count) }
        let total = perFamily.values.reduce(0, +)
        guard let (family, familySize) = perFamily.max(by: { $0.value < $1.value }) else { return nil }
        let half = max(familySize / 2, min(splitSize, familySize))
        var accumulated: UInt64 = 0
        var found: [UInt8]?
        struct Found: Error {}
        do {
            try forEach(region, in: reader) { cf, key, value in
                guard cf == family else { return }
                let user = userKey(cf, key)
                if accumulated >= half, user != region.startKey, RegionRange.contains(region, user) {
                    found = user
                    throw Found()
                }
                accumulated += UInt64(key.count + value.count)
            }
        } catch is Found {}
        return found.map { (total, $0) }
    }

    /// Scans the region: its total size (keys + values) and, once it exceeds `maxSize`, the
    /// user key where the first `splitSize` bytes end (all versions of a user key stay on one
    /// side; the key is strictly after the region's start). Scanning stops early at
    /// `maxSize * 2` bytes; a region that large is split near its middle instead
    /// (``middleKey``). Returns a nil key when the region is small enough or has a single key.
    static func splitCheck(_ region: Metapb.Region, in reader: any KVReader, maxSize: UInt64,
                           splitSize: UInt64) throws -> (size: UInt64, splitKey: [UInt8]?) {
        var entries: [(key: [UInt8], size: UInt64)] = []
        var total: UInt64 = 0
        let limit = maxSize.multipliedReportingOverflow(by: 2).overflow ? UInt64.max : maxSize * 2
        struct Enough: Error {}
        do {
            try forEach(region, in: reader) { cf, key, value in
                let size = UInt64(key.count + value.count)
                total += size
                entries.append((userKey(cf, key), size))
                if total >= limit { throw Enough() }
            }
        } catch is Enough {}
        guard total > maxSize else { return (total, nil) }
        if total >= limit, let (size, middle) = try middleKey(region, in: reader, splitSize: splitSize) {
            // At least twice the maximum: halve it. Peeling `splitSize` off the start would take
            // one split per check for every piece (a bulk load or a lowered region size would
            // leave huge regions shrinking by one piece a tick); halving takes log2 rounds.
            return (size, middle)
        }
        entries.sort { $0.key.lexicographicallyPrecedes($1.key) }
        var accumulated: UInt64 = 0
        var index = 0
        while index < entries.count {
            let key = entries[index].key
            if accumulated >= splitSize, key != region.startKey, RegionRange.contains(region, key) {
                return (total, key)
            }
            while index < entries.count && entries[index].key == key {
                accumulated += entries[index].size
                index += 1
            }
        }
        return (total, nil)
    }
}
