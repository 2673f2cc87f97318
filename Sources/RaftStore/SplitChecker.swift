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

    /// The region's total size (keys + values; counting stops at `4 * maxSize`) and, when it
    /// exceeds `maxSize`, the split key: a routing key strictly inside the region after about
    /// `splitSize` bytes. Nil when the region is small enough or holds a single group.
    ///
    /// A region of at least `halvingFactor * maxSize` is split near its middle instead
    /// (``middle(of:in:)``): peeling `splitSize` off its start would take one split per check
    /// for every piece (a bulk load or a lowered region size leaves huge regions shrinking by
    /// one piece a tick); halving takes log2 rounds, every half splitting in parallel.
    mutating func check(_ region: Metapb.Region, in reader: any KVReader) throws -> (size: UInt64, splitKey: [UInt8]?) {
        let (total, candidate) = try scan(region, in: reader, limit: Self.times(maxSize, Self.halvingFactor), splitAfter: splitSize)
        guard total > maxSize else { return (total, nil) }
        if total >= Self.times(maxSize, Self.halvingFactor), let (size, middle) = try middle(of: region, in: reader) {
            return (size, middle)
        }
        return (total, candidate)
    }

    /// Whether a region is worth scanning again, `writtenSince` bytes of puts after a scan that
    /// measured `lastMeasured` bytes: never for less than `minWritten`; then when the region may
    /// now exceed `maxSize`, or when the writes reach half the measured size.
    ///
    /// A scan counts every stored key and value once, and a put adds at most its key and value
    /// (an overwrite replaces), so the region holds at most `lastMeasured + writtenSince` bytes:
    /// below `maxSize` a scan could not find a split key. Rescanning every `minWritten` bytes
    /// instead made checking cost grow with the region (a 50 MiB region was read in full for
    /// every 6 MiB written: 5% of a busy leader's CPU). The half-size rule keeps the size reported
    /// to the scheduler within 1.5x of the truth, for scan work proportional to the writes.
    static func needsScan(lastMeasured: UInt64, writtenSince: UInt64, maxSize: UInt64, minWritten: UInt64) -> Bool {
        guard writtenSince >= minWritten else { return false }
        return writtenSince > maxSize - min(lastMeasured, maxSize) || writtenSince >= lastMeasured / 2
    }

    /// Regions this many times `maxSize` or larger are halved rather than peeled.
    static let halvingFactor: UInt64 = 4

    private static func times(_ size: UInt64, _ factor: UInt64) -> UInt64 {
        size.multipliedReportingOverflow(by: factor).overflow ? UInt64.max : size * factor
    }

    /// The region's full size and the first routing key after half of it (strictly inside the
    /// region); two streaming passes. Nil when no such key exists (one group).
    mutating func middle(of region: Metapb.Region, in reader: any KVReader) throws -> (size: UInt64, key: [UInt8])? {
        let (total, _) = try scan(region, in: reader, limit: .max, splitAfter: .max)
        let (_, key) = try scan(region, in: reader, limit: .max, splitAfter: max(1, total / 2), stopAtCandidate: true)
        return key.map { (total, $0) }
    }

    /// Walks the region's groups in routing-key order until `limit` bytes: the bytes seen and
    /// the first group starting after `splitAfter` bytes, strictly inside the region.
    private mutating func scan(_ region: Metapb.Region, in reader: any KVReader, limit: UInt64,
                               splitAfter: UInt64, stopAtCandidate: Bool = false) throws -> (size: UInt64, candidate: [UInt8]?) {
        var cursors = try ColumnFamily.dataFamilies.map { Cursor($0, try RegionData.makeIterator(region, $0, in: reader)) }
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
            if candidate == nil, total >= splitAfter, total > 0, group != region.startKey, RegionRange.contains(region, group) {
                candidate = group
                if stopAtCandidate { break }
            }
            for index in cursors.indices { total += try cursors[index].take(group) }
        }
        return (total, candidate)
    }
}
