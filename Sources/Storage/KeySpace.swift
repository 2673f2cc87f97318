/// The two key spaces of the store, kept apart as in TiKV's API v1.
///
/// Region boundaries are byte strings compared with a request's keys in the space the request
/// belongs to: raw-API keys (`Raw*`) as they are, transactional keys (`Kv*`, `Coprocessor`) in
/// their memcomparable encoding (TiDB's `codec.EncodeBytes`), which is how TinySQL asks the
/// scheduler for regions and what the split checker picks as split keys for MVCC data.
public enum KeySpace: Sendable, Hashable {
    /// Raw API: the key itself is compared with region bounds.
    case raw
    /// Transactions and the coprocessor: `EncodeBytes(key)` is compared with region bounds.
    case transactional

    /// The form of `key` that is compared with region bounds.
    public func routingKey(_ key: [UInt8]) -> [UInt8] {
        switch self {
        case .raw: key
        case .transactional: MemComparable.encode(key)
        }
    }
}

/// The keys one request touches, in its key space: what a multi-region store checks against the
/// region of the request, and routes by when the request names no region (region id 0).
public struct RequestKeys: Sendable, Hashable {
    /// A key range `[start, end)`; an empty `end` is unbounded.
    public struct Range: Sendable, Hashable {
        public var start: [UInt8]
        public var end: [UInt8]

        public init(start: [UInt8], end: [UInt8]) {
            self.start = start
            self.end = end
        }
    }

    public var space: KeySpace
    /// Keys read or written, and the start keys of scans without an end.
    public var keys: [[UInt8]]
    /// Bounded scan ranges (coprocessor); their starts must be in the region, and with region
    /// id 0 their ends too.
    public var ranges: [Range]

    public init(_ space: KeySpace, keys: [[UInt8]] = [], ranges: [Range] = []) {
        self.space = space
        self.keys = keys
        self.ranges = ranges
    }

    /// Raw-API keys.
    public static func raw(_ keys: [UInt8]...) -> RequestKeys { RequestKeys(.raw, keys: keys) }

    /// Transactional keys.
    public static func transactional(_ keys: [[UInt8]]) -> RequestKeys { RequestKeys(.transactional, keys: keys) }

    /// The key to find the request's region by (region id 0): the first key or range start.
    public var firstRoutingKey: [UInt8]? {
        (keys.first ?? ranges.first?.start).map(space.routingKey)
    }

    /// The first key of the request outside `[start, end)` (raw region bounds, empty end
    /// unbounded) as the request gave it, or nil when all are inside. With `wholeRanges`, range
    /// ends must be inside too (an end equal to the region's end is).
    public func firstOutside(start: [UInt8], end: [UInt8], wholeRanges: Bool) -> [UInt8]? {
        func inside(_ key: [UInt8]) -> Bool {
            let routing = space.routingKey(key)
            return !routing.lexicographicallyPrecedes(start) && (end.isEmpty || routing.lexicographicallyPrecedes(end))
        }
        for key in keys where !inside(key) { return key }
        for range in ranges {
            if !inside(range.start) { return range.start }
            guard wholeRanges else { continue }
            if range.end.isEmpty {
                if !end.isEmpty { return range.end }
            } else if !end.isEmpty, end.lexicographicallyPrecedes(space.routingKey(range.end)) {
                return range.end
            }
        }
        return nil
    }
}
