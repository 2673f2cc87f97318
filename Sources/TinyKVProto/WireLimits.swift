/// Limits the wire bridge enforces on untrusted bytes before protobuf-c sees them.
///
/// protobuf-c's unpacker, and the generated Swift conversion after it, recurse once per
/// level of message nesting without any bound. Only one type of the schema is recursive
/// (`tipb.Expr`, through `children`), so only messages that can contain it can nest
/// without bound; a few kilobytes of `Expr { children { children ... } }` would
/// otherwise overflow the decoding thread's stack and crash the server. Like the
/// reference protobuf implementations (C++, Go: 100), decoding refuses nesting deeper
/// than ``maxNestingDepth``.
public enum WireLimits {
    /// The deepest nesting of messages a decoded message may have.
    public static let maxNestingDepth = 100

    /// Message types whose schema can reach `tipb.Expr` (computed from the descriptors of
    /// `proto/`: the only cycle is `tipb.Expr.children`). Other types are bounded by the schema.
    static let unboundedTypes: Set<String> = [
        "tipb.Expr", "tipb.RpnExpr", "tipb.ByItem", "tipb.Executor", "tipb.Selection",
        "tipb.Projection", "tipb.Aggregation", "tipb.TopN", "tipb.DAGRequest",
    ]

    /// Whether `bytes`, read as protobuf fields, nest deeper than `limit` levels.
    ///
    /// Schema-free: a length-delimited field counts as a nested message when its content
    /// is itself a well-formed sequence of fields, so the result is an upper bound of the
    /// real depth. Work is O(bytes × limit).
    static func nestsDeeper(_ bytes: UnsafeRawBufferPointer, than limit: Int) -> Bool {
        guard bytes.count > 2 * limit, let base = bytes.baseAddress else { return false }  // each level costs ≥ 2 bytes
        let p = base.assumingMemoryBound(to: UInt8.self)
        return depth(p, 0, bytes.count, budget: limit) > limit
    }

    private static let malformed = -1

    /// The nesting depth of `p[start..<end]` as fields (0 for no nested message, `malformed`
    /// if it is not a sequence of fields), or anything above `budget` once that is exceeded.
    private static func depth(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, budget: Int) -> Int {
        var i = start
        var deepest = 0
        while i < end {
            guard let tag = varint(p, &i, end), tag >> 3 != 0 else { return malformed }
            switch tag & 7 {
            case 0:
                guard varint(p, &i, end) != nil else { return malformed }
            case 1:
                i += 8
            case 5:
                i += 4
            case 2:
                guard let length = varint(p, &i, end), length <= UInt64(end - i) else { return malformed }
                let childEnd = i + Int(length)
                if budget > 0 && length >= 2 {
                    let child = depth(p, i, childEnd, budget: budget - 1)
                    if child >= 0 {
                        deepest = max(deepest, child + 1)
                        if deepest > budget { return deepest }
                    }
                } else if budget == 0 && length >= 2 {
                    // One more level would exceed the budget if this is a message.
                    var j = i
                    if wellFormedFlat(p, &j, childEnd) { return budget + 1 }
                }
                i = childEnd
            default:
                return malformed  // groups (3, 4) and invalid wire types
            }
        }
        return i == end ? deepest : malformed
    }

    /// Whether `p[i..<end]` is a sequence of fields, not looking inside length-delimited ones.
    private static func wellFormedFlat(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ end: Int) -> Bool {
        while i < end {
            guard let tag = varint(p, &i, end), tag >> 3 != 0 else { return false }
            switch tag & 7 {
            case 0: guard varint(p, &i, end) != nil else { return false }
            case 1: i += 8
            case 5: i += 4
            case 2:
                guard let length = varint(p, &i, end), length <= UInt64(end - i) else { return false }
                i += Int(length)
            default: return false
            }
        }
        return i == end
    }

    private static func varint(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ end: Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while i < end && shift < 70 {
            let byte = p[i]
            i += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        return nil
    }
}
