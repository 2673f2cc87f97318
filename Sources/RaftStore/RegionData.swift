import Storage
import TinyKVProto

/// Which stored keys of the kv engine belong to a region.
///
/// Region boundaries are byte strings in one ordered space shared by two key spaces (see
/// ``KeySpace``): transactional data is routed by the memcomparable encoding of its user key
/// (TiDB's `EncodeBytes`; split keys of MVCC data are such encodings, which is what TinySQL's
/// `pd_codec` decodes), raw-API data by the key itself. Every stored key has one **routing
/// key**, and a key belongs to the region whose `[start, end)` holds its routing key:
///
/// | CF | stored key | routing key |
/// |---|---|---|
/// | `write` | `EncodeBytes(key) ++ ~commitTs` | the stored key without its 8 timestamp bytes |
/// | `default` | `EncodeBytes(key) ++ ~startTs` (transaction values) | the stored key without its 8 timestamp bytes |
/// | `default`, `write` | any other key (raw API) | the key itself |
/// | `lock` | the raw user key (Percolator locks, as TinyKV stores them) | `EncodeBytes(key)` |
///
/// So all versions of a user key, its value and its lock fall in the same region whatever the
/// split key. A stored key "looks versioned" when it is one whole encoded key followed by
/// exactly 8 bytes; a raw key of that shape is routed like a versioned one (as in TiKV, whose
/// split observer strips such a suffix too). Raw-API keys in `lock` are routed by their
/// encoding as well, so in a multi-region store a raw request on `lock` whose raw key and
/// encoded key fall in different regions is refused with `key_not_in_region`.
///
/// Range operations (snapshots, destroy, split check, clamped reads) use plain stored-key
/// ranges only where they hold exactly the region's keys (both bounds whole encoded keys or
/// empty: memcomparable encodings preserve order and never prefix one another); otherwise they
/// scan a range that covers the region and filter key by key (``StoredRange/exact``).
enum RegionData {
    /// The memcomparable encoding of `key` (TiDB's `codec.EncodeBytes`).
    static func encode(_ key: [UInt8]) -> [UInt8] { MemComparable.encode(key) }

    /// The length of the encoded user key at the start of `stored` when `stored` is exactly one
    /// encoded key followed by 8 timestamp bytes; nil otherwise (a raw key).
    static func versionedKeyLength(_ stored: [UInt8]) -> Int? {
        let count = stored.count
        guard count >= 17, (count - 8) % 9 == 0 else { return nil }
        guard let length = MemComparable.encodedLength(stored, end: count - 8), length == count - 8 else { return nil }
        return length
    }

    /// The user key of `EncodeBytes(key) ++ 8 timestamp bytes`, or nil when `stored` is not exactly that.
    static func decodeVersioned(_ stored: [UInt8]) -> [UInt8]? {
        guard versionedKeyLength(stored) != nil else { return nil }
        return MemComparable.decodePrefix(stored)?.key
    }

    /// The routing key of the stored key `stored` of `cf`: what is compared with region bounds.
    static func routingKey(_ cf: ColumnFamily, _ stored: [UInt8]) -> [UInt8] {
        if cf == .lock { return encode(stored) }
        if let length = versionedKeyLength(stored) { return Array(stored[0..<length]) }
        return stored
    }

    /// Whether the stored key `key` of `cf` belongs to `region` (non-data families: always).
    static func contains(_ region: Metapb.Region, _ cf: ColumnFamily, _ key: [UInt8]) -> Bool {
        guard ColumnFamily.dataFamilies.contains(cf) else { return true }
        if cf == .lock { return RegionRange.contains(region, encode(key)) }
        // Compare the routing key in place: this runs for every key of every write and filtered scan.
        let routing = key[0..<(versionedKeyLength(key) ?? key.count)]
        return !routing.lexicographicallyPrecedes(region.startKey)
            && (region.endKey.isEmpty || routing.lexicographicallyPrecedes(region.endKey))
    }

    /// The `key_not_in_region` error for the stored key `key` of `cf` (reported by routing key).
    static func keyNotInRegion(_ region: Metapb.Region, _ cf: ColumnFamily, _ key: [UInt8]) -> Errorpb.Error {
        RegionRange.keyNotInRegion(routingKey(cf, key), region)
    }

    /// A stored-key range of one column family covering a region's keys.
    struct StoredRange: Equatable {
        /// Inclusive lower bound (nil: unbounded).
        var lower: [UInt8]?
        /// Exclusive upper bound (nil: unbounded).
        var upper: [UInt8]?
        /// True when the range holds exactly the region's keys; false when it may hold keys of
        /// other regions too, which must be filtered with ``RegionData/contains(_:_:_:)``.
        var exact: Bool
    }

    /// The stored keys of `cf` that may belong to `region`.
    static func storedRange(_ cf: ColumnFamily, _ region: Metapb.Region) -> StoredRange {
        let start = region.startKey, end = region.endKey
        guard ColumnFamily.dataFamilies.contains(cf) else { return StoredRange(lower: nil, upper: nil, exact: true) }
        if cf == .lock {
            // Lock keys are raw; their routing keys are their encodings, which preserve order, so
            // `encode(k) >= bound` exactly when `k >= smallestKey(encodedAtLeast: bound)`.
            var range = StoredRange(lower: nil, upper: nil, exact: true)
            if !start.isEmpty {
                if let lower = MemComparable.smallestKey(encodedAtLeast: start) {
                    range.lower = lower
                } else {
                    range.exact = false  // no key encodes at or after `start`: the filter refuses all
                }
            }
            if !end.isEmpty { range.upper = MemComparable.smallestKey(encodedAtLeast: end) }
            return range
        }
        // `write` and `default`: a stored key is its routing key, possibly followed by 8 bytes.
        // It is >= its routing key, so `start` always bounds it below; it is below `end` when
        // its routing key is, unless the routing key is a proper prefix of `end`, which only an
        // `end` that is not a whole encoded key has.
        var range = StoredRange(lower: start.isEmpty ? nil : start, upper: nil, exact: true)
        if !start.isEmpty, MemComparable.encodedLength(start) != start.count { range.exact = false }
        if !end.isEmpty {
            if let length = MemComparable.encodedLength(end) {
                if length == end.count {
                    range.upper = end
                } else {
                    range.upper = prefixSuccessor(Array(end[0..<length]))
                    range.exact = false
                }
            } else {
                range.upper = end
                range.exact = false
            }
        }
        return range
    }

    /// An iterator over the keys of `region` in `cf` within `[lowerBound, upperBound)` (nil:
    /// unbounded), stepping over keys of other regions where the stored range is not exact.
    static func makeIterator(_ region: Metapb.Region, _ cf: ColumnFamily, in reader: any KVReader,
                             lowerBound: [UInt8]? = nil, upperBound: [UInt8]? = nil,
                             scope: IteratorScope = .anyKeys) throws -> EngineIterator {
        let range = storedRange(cf, region)
        var lower = lowerBound
        if let regionLower = range.lower, lower.map({ $0.lexicographicallyPrecedes(regionLower) }) ?? true {
            lower = regionLower
        }
        var upper = upperBound
        if let regionUpper = range.upper, upper.map({ regionUpper.lexicographicallyPrecedes($0) }) ?? true {
            upper = regionUpper
        }
        let iterator = try reader.makeIterator(cf, lowerBound: lower, upperBound: upper, scope: scope)
        if !range.exact { iterator.skipKeys { !contains(region, cf, $0) } }
        return iterator
    }

    /// Calls `body` with every (cf, key, value) of `region` in `reader`, family by family.
    static func forEach(_ region: Metapb.Region, in reader: any KVReader,
                        _ body: (ColumnFamily, [UInt8], [UInt8]) throws -> Void) throws {
        for cf in ColumnFamily.dataFamilies {
            let iterator = try makeIterator(region, cf, in: reader)
            iterator.seekToFirst()
            while iterator.isValid {
                try body(cf, iterator.key, iterator.value)
                iterator.next()
            }
            try iterator.checkError()
        }
    }

    /// Deletes every key of `region` (range deletes where the stored range is exact, key by key elsewhere).
    static func deleteAll(_ region: Metapb.Region, in reader: any KVReader, into batch: inout WriteBatch) throws {
        for cf in ColumnFamily.dataFamilies {
            let range = storedRange(cf, region)
            if range.exact {
                batch.deleteRange(cf, from: range.lower ?? [], to: range.upper ?? maxStoredKey)
                // A range delete's upper bound is exclusive: keys at or above `maxStoredKey` (in an
                // unbounded region) are deleted one by one.
                if range.upper == nil {
                    let tail = try reader.makeIterator(cf, lowerBound: maxStoredKey, upperBound: nil)
                    tail.seekToFirst()
                    while tail.isValid {
                        batch.delete(cf, tail.key)
                        tail.next()
                    }
                    try tail.checkError()
                }
            } else {
                let iterator = try makeIterator(region, cf, in: reader)
                iterator.seekToFirst()
                while iterator.isValid {
                    batch.delete(cf, iterator.key)
                    iterator.next()
                }
                try iterator.checkError()
            }
        }
    }

    /// The upper bound used for "to the end" range deletes and size estimates.
    static let maxStoredKey = [UInt8](repeating: 0xFF, count: 256)

    /// RocksDB's estimate of the region's bytes on disk (memtables not included).
    static func approximateSize(_ region: Metapb.Region, engine: RocksEngine) -> UInt64 {
        var total: UInt64 = 0
        for cf in ColumnFamily.dataFamilies {
            let range = storedRange(cf, region)
            total += (try? engine.approximateSize(cf, from: range.lower ?? [], to: range.upper ?? maxStoredKey)) ?? 0
        }
        return total
    }

    /// The region's size and split key, streaming (see ``SplitChecker``).
    static func splitCheck(_ region: Metapb.Region, in reader: any KVReader, maxSize: UInt64,
                           splitSize: UInt64) throws -> (size: UInt64, splitKey: [UInt8]?) {
        var checker = SplitChecker(maxSize: maxSize, splitSize: splitSize)
        let result = try checker.check(region, in: reader)
        return (result.size, result.splitKey)
    }
}
