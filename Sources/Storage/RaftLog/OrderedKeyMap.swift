#if canImport(Glibc)
import Glibc
#endif

/// An ordered map of byte-string keys, held in memory as sorted arrays grouped by key prefix.
///
/// Keys sharing their first ``groupPrefixLength`` bytes (for raft keys: one region's log and
/// state, `01 02 <region:8>`) live in one sorted array, so appending a region's next log entry
/// is a binary search and an append, and truncating a log is one range removal. A value type:
/// copying it for a checkpoint is O(1), later writes copy only the groups they touch.
struct OrderedKeyMap: Sendable {
    /// Bytes of the key that pick its group; shorter keys form a group of their own.
    static let groupPrefixLength = 10

    private var groups: [GroupKey: [KeyValue]] = [:]
    /// Bytes of keys and values held.
    private(set) var byteCount = 0
    private(set) var count = 0

    init() {}

    /// A key's first ``groupPrefixLength`` bytes, packed so that comparing two group keys
    /// orders them like the byte strings (zero padding sorts before any byte, then length).
    struct GroupKey: Hashable, Comparable, Sendable {
        var high: UInt64 = 0
        var low: UInt16 = 0
        var length: UInt8 = 0

        init(_ key: [UInt8]) {
            let length = min(key.count, OrderedKeyMap.groupPrefixLength)
            for index in 0..<length {
                if index < 8 { high |= UInt64(key[index]) << (56 - 8 * UInt64(index)) } else { low |= UInt16(key[index]) << (8 - 8 * UInt16(index - 8)) }
            }
            self.length = UInt8(length)
        }

        var isPrefix: Bool { Int(length) == OrderedKeyMap.groupPrefixLength }

        static func < (lhs: GroupKey, rhs: GroupKey) -> Bool {
            (lhs.high, lhs.low, lhs.length) < (rhs.high, rhs.low, rhs.length)
        }
    }

    static func groupKey(_ key: [UInt8]) -> GroupKey { GroupKey(key) }

    func get(_ key: [UInt8]) -> [UInt8]? {
        guard let group = groups[Self.groupKey(key)] else { return nil }
        let position = Self.lowerBound(key, in: group)
        guard position < group.count, Self.compare(group[position].key, key) == 0 else { return nil }
        return group[position].value
    }

    mutating func put(_ key: [UInt8], _ value: [UInt8]) {
        let (added, replaced) = Self.put(key, value, into: &groups[Self.groupKey(key), default: []])
        count += added ? 1 : 0
        byteCount += key.count + value.count - replaced
    }

    /// Puts into one group in place; returns whether the key is new and the bytes it replaced.
    private static func put(_ key: [UInt8], _ value: [UInt8], into group: inout [KeyValue]) -> (added: Bool, replaced: Int) {
        // Raft appends in key order: check the end first.
        if let last = group.last, compare(last.key, key) < 0 {
            group.append(KeyValue(key: key, value: value))
            return (true, 0)
        }
        let position = lowerBound(key, in: group)
        if position < group.count, compare(group[position].key, key) == 0 {
            let replaced = group[position].value.count + key.count
            group[position].value = value
            return (false, replaced)
        }
        group.insert(KeyValue(key: key, value: value), at: position)
        return (true, 0)
    }

    mutating func delete(_ key: [UInt8]) {
        deleteRange(from: key, to: key + [0])
    }

    /// Removes every key in `[start, end)`.
    mutating func deleteRange(from start: [UInt8], to end: [UInt8]) {
        guard Self.compare(start, end) < 0 else { return }
        for groupKey in overlappingGroups(start, end) {
            guard let group = groups[groupKey] else { continue }
            let lower = Self.lowerBound(start, in: group)
            let upper = Self.lowerBound(end, in: group)
            guard lower < upper else { continue }
            for pair in group[lower..<upper] { byteCount -= pair.key.count + pair.value.count }
            count -= upper - lower
            if upper - lower == group.count {
                groups[groupKey] = nil
            } else {
                groups[groupKey]!.removeSubrange(lower..<upper)
            }
        }
    }

    /// Calls `body` with the pairs in `[start, end)` in key order until it returns false.
    func forEach(from start: [UInt8], to end: [UInt8], _ body: (KeyValue) throws -> Bool) rethrows {
        guard Self.compare(start, end) < 0 else { return }
        for groupKey in overlappingGroups(start, end) {
            guard let group = groups[groupKey] else { continue }
            let lower = Self.lowerBound(start, in: group)
            let upper = Self.lowerBound(end, in: group)
            for pair in group[lower..<upper] where try !body(pair) { return }
        }
    }

    /// Every pair, in key order.
    func forEach(_ body: (KeyValue) throws -> Void) rethrows {
        for groupKey in groups.keys.sorted() {
            for pair in groups[groupKey]! { try body(pair) }
        }
    }

    /// The groups that may hold keys in `[start, end)`, in key order: one when both bounds
    /// share a group prefix (a region's range), otherwise found by comparing every group.
    private func overlappingGroups(_ start: [UInt8], _ end: [UInt8]) -> [GroupKey] {
        let first = Self.groupKey(start)
        if first.isPrefix, end.count > Self.groupPrefixLength, Self.groupKey(end) == first {
            return [first]
        }
        let last = Self.groupKey(end)
        return groups.keys.filter { groupKey in
            // Every key of a group starts with the group's bytes: a group sorting before
            // `start`'s prefix holds only keys before `start`, one sorting after `end`'s prefix
            // only keys after `end`.
            groupKey >= first && groupKey <= last
        }.sorted()
    }

    /// The position of the first pair whose key is not less than `key`.
    private static func lowerBound(_ key: [UInt8], in group: [KeyValue]) -> Int {
        var low = 0
        var high = group.count
        while low < high {
            let middle = (low + high) / 2
            if compare(group[middle].key, key) < 0 { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Byte-wise comparison: negative, zero or positive.
    static func compare(_ lhs: [UInt8], _ rhs: [UInt8]) -> Int {
        let shared = min(lhs.count, rhs.count)
        let order = lhs.withUnsafeBytes { l in
            rhs.withUnsafeBytes { r in shared == 0 ? 0 : Int(memcmp(l.baseAddress!, r.baseAddress!, shared)) }
        }
        return order != 0 ? order : lhs.count - rhs.count
    }
}
