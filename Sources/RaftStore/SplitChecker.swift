import Storage
import TinyKVProto

/// Measures a region and picks its split key in one streaming pass, without holding its keys.
///
/// The region's keys are walked in routing-key order (see ``RegionData``) by merging one
/// iterator per data column family: each family's stored order is its routing-key order
/// (`lock` keys encode monotonically, versions in `write`/`default` follow their encoded user
/// key). All entries with the same routing key form one group (a user key's versions, value
/// and lock; or one raw key). The split key is the first group's routing key after
/// `splitSize` bytes, so a group never straddles the split and, for transactional data, the
/// split key is an encoded user key. Only the current key of each iterator, the current group
/// and the candidate are held, whatever the region's size (``peakRetainedKeys``).
struct SplitChecker {
    let maxSize: UInt64
    let splitSize: UInt64
    /// The most keys held at once during the last check (for tests of bounded state).
    private(set) var peakRetainedKeys = 0

    init(maxSize: UInt64, splitSize: UInt64) {
        self.maxSize = maxSize
        self.splitSize = splitSize
    }

    /// One column family's iterator and the routing key under it.
    private struct Cursor {
        let cf: ColumnFamily
        let iterator: EngineIterator
        /// The routing key and stored-key length of the entry under the iterator (nil: at the end).
        var routing: [UInt8]?
        var keyCount = 0

        init(_ cf: ColumnFamily, _ iterator: EngineIterator) {
            self.cf = cf
            self.iterator = iterator
            iterator.seekToFirst()
            load()
        }

        private mutating func load() {
            guard iterator.isValid else { routing = nil; return }
            let key = iterator.key
            keyCount = key.count
            routing = RegionData.routingKey(cf, key)
        }

        /// Consumes the entries whose routing key is `group`; returns their size (keys + values).
        mutating func take(_ group: [UInt8]) throws -> UInt64 {
            var size: UInt64 = 0
            while let current = routing, current == group {
                size += UInt64(keyCount + iterator.valueCount)  // values are measured, not copied
                iterator.next()
                load()
            }
            if routing == nil { try iterator.checkError() }
            return size
        }
    }

    /// The region's total size (keys + values; counting stops at `2 * maxSize`) and, when it
    /// exceeds `maxSize`, the split key: a routing key strictly inside the region after about
    /// `splitSize` bytes. Nil when the region is small enough or holds a single group.
    mutating func check(_ region: Metapb.Region, in reader: any KVReader) throws -> (size: UInt64, splitKey: [UInt8]?) {
        var cursors = try ColumnFamily.dataFamilies.map { Cursor($0, try RegionData.makeIterator(region, $0, in: reader)) }
        let limit = maxSize.multipliedReportingOverflow(by: 2).overflow ? UInt64.max : maxSize * 2
        var total: UInt64 = 0
        var candidate: [UInt8]?
        peakRetainedKeys = 0
        while total < limit {
            var group: [UInt8]?
            for cursor in cursors {
                if let key = cursor.routing, group.map({ key.lexicographicallyPrecedes($0) }) ?? true { group = key }
            }
            guard let group else { break }
            var retained = 1 + (candidate == nil ? 0 : 1)  // the group and the candidate
            for cursor in cursors where cursor.routing != nil { retained += 1 }
            peakRetainedKeys = max(peakRetainedKeys, retained)
            if candidate == nil, total >= splitSize, total > 0, group != region.startKey, RegionRange.contains(region, group) {
                candidate = group
            }
            for index in cursors.indices { total += try cursors[index].take(group) }
        }
        guard total > maxSize else { return (total, nil) }
        return (total, candidate)
    }
}
