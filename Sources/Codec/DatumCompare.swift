/// Ordering of datums as MySQL compares values of possibly different kinds.
extension Datum {
    /// -1, 0 or 1; NULL sorts before everything and equals NULL (the order TopN and MIN/MAX use).
    /// Mixed kinds compare numerically (exactly between integers and decimals); strings compare
    /// bytewise (binary collation) with strings, numerically with numbers.
    public static func compare(_ a: Datum, _ b: Datum) -> Int {
        switch (a, b) {
        case (.null, .null): return 0
        case (.null, _): return -1
        case (_, .null): return 1
        case (.int(let x), .int(let y)): return sign(x, y)
        case (.uint(let x), .uint(let y)): return sign(x, y)
        case (.int(let x), .uint(let y)): return x < 0 ? -1 : sign(UInt64(x), y)
        case (.uint(let x), .int(let y)): return y < 0 ? 1 : sign(x, UInt64(y))
        case (.bytes(let x), .bytes(let y)): return x.lexicographicallyPrecedes(y) ? -1 : (x == y ? 0 : 1)
        case (.time(let x), .time(let y)): return sign(x, y)
        case (.duration(let x), .duration(let y)): return sign(x, y)
        case (.float, _), (_, .float), (.bytes, _), (_, .bytes):
            return sign(a.doubleValue ?? 0, b.doubleValue ?? 0)
        default:
            if let x = a.decimalValue, let y = b.decimalValue { return SQLDecimal.compare(x, y) }
            return sign(a.doubleValue ?? 0, b.doubleValue ?? 0)
        }
    }

    static func sign<T: Comparable>(_ x: T, _ y: T) -> Int { x < y ? -1 : (x > y ? 1 : 0) }
}
