import TinyKVProto

/// The regions the scheduler knows, indexed by id and by start key.
///
/// Regions never overlap, so start keys are unique and one sorted array of start
/// keys answers "which region holds key k" by binary search in O(log n). Inserting
/// a region with a new start key shifts the array (a memmove), which is cheap for
/// the region counts a TinyKV cluster has; the frequent case, a heartbeat for a
/// region whose range did not change, is an in-place update.
///
/// Not thread-safe: ``BasicCluster`` guards it.
struct RegionCache: Sendable {
    private struct Entry: Sendable {
        var startKey: [UInt8]
        var id: UInt64
    }

    private var byID: [UInt64: RegionInfo] = [:]
    private var sorted: [Entry] = []

    /// Bumped by every change; a heartbeat that repeats what is known changes nothing.
    private(set) var version: UInt64 = 0

    var count: Int { byID.count }
    var all: Dictionary<UInt64, RegionInfo>.Values { byID.values }

    func region(id: UInt64) -> RegionInfo? { byID[id] }

    /// Index of the last entry whose start key is <= key, or -1.
    private func floorIndex(_ key: [UInt8]) -> Int {
        var low = 0, high = sorted.count  // first index with startKey > key
        while low < high {
            let mid = (low + high) / 2
            if compareBytes(sorted[mid].startKey, key) <= 0 { low = mid + 1 } else { high = mid }
        }
        return low - 1
    }

    /// Index of the region containing key, if any.
    private func indexContaining(_ key: [UInt8]) -> Int? {
        let i = floorIndex(key)
        guard i >= 0, let info = byID[sorted[i].id], isBelowEnd(key, info.endKey) else { return nil }
        return i
    }

    /// The region whose range holds `key`.
    func region(containing key: [UInt8]) -> RegionInfo? {
        indexContaining(key).flatMap { byID[sorted[$0].id] }
    }

    /// The region just before the one holding `key`, when the two are adjacent (PD's GetPrevRegion).
    func region(before key: [UInt8]) -> RegionInfo? {
        guard let i = indexContaining(key), i > 0,
              let current = byID[sorted[i].id], let previous = byID[sorted[i - 1].id],
              previous.endKey == current.startKey else { return nil }
        return previous
    }

    /// Regions in key order starting with the one holding `start` (or the first after it),
    /// stopping before `end` (empty = no bound) or after `limit` regions (0 = no limit).
    func scan(from start: [UInt8], to end: [UInt8], limit: Int) -> [RegionInfo] {
        var i = max(floorIndex(start), 0)
        if i < sorted.count, let info = byID[sorted[i].id], !isBelowEnd(start, info.endKey) { i += 1 }
        var result: [RegionInfo] = []
        while i < sorted.count, limit <= 0 || result.count < limit {
            let entry = sorted[i]
            if !end.isEmpty, compareBytes(entry.startKey, end) >= 0 { break }
            if let info = byID[entry.id] { result.append(info) }
            i += 1
        }
        return result
    }

    /// Regions other than `excluding` whose ranges intersect `[start, end)`.
    func overlapping(start: [UInt8], end: [UInt8], excluding: UInt64) -> [RegionInfo] {
        var i = max(floorIndex(start), 0)
        var result: [RegionInfo] = []
        while i < sorted.count {
            let entry = sorted[i]
            if !end.isEmpty, compareBytes(entry.startKey, end) >= 0 { break }
            if let info = byID[entry.id], info.id != excluding, info.overlaps(start: start, end: end) {
                result.append(info)
            }
            i += 1
        }
        return result
    }

    /// Inserts or replaces a region, dropping every other region its range overlaps.
    /// Returns the ids of the dropped regions.
    @discardableResult
    mutating func upsert(_ info: RegionInfo) -> [UInt64] {
        if let old = byID[info.id], old.startKey == info.startKey, old.endKey == info.endKey {
            guard old != info else { return [] }
            byID[info.id] = info  // same range: no index change, no overlap change
            version &+= 1
            return []
        }
        version &+= 1
        if let old = byID[info.id] { removeIndex(of: old) }
        let overlapped = overlapping(start: info.startKey, end: info.endKey, excluding: info.id)
        for victim in overlapped {
            removeIndex(of: victim)
            byID[victim.id] = nil
        }
        byID[info.id] = info
        sorted.insert(Entry(startKey: info.startKey, id: info.id), at: floorIndex(info.startKey) + 1)
        return overlapped.map(\.id)
    }

    /// Removes a region by id.
    mutating func remove(id: UInt64) {
        guard let old = byID.removeValue(forKey: id) else { return }
        version &+= 1
        removeIndex(of: old)
    }

    private mutating func removeIndex(of info: RegionInfo) {
        let i = floorIndex(info.startKey)
        if i >= 0, sorted[i].id == info.id, sorted[i].startKey == info.startKey { sorted.remove(at: i) }
    }
}
