/// One SQL value as TinySQL's `types.Datum` carries it between the codecs and the executors.
public enum Datum: Sendable, Hashable, CustomStringConvertible {
    case null
    case int(Int64)
    case uint(UInt64)
    /// FLOAT and DOUBLE (a FLOAT is kept widened, as TinySQL encodes it).
    case float(Double)
    /// CHAR, VARCHAR, BLOB, TEXT and BINARY values, as bytes (binary collation).
    case bytes([UInt8])
    case decimal(SQLDecimal)
    /// DATE, DATETIME and TIMESTAMP in MySQL's packed 64-bit form (kept opaque).
    case time(UInt64)
    /// TIME as nanoseconds.
    case duration(Int64)

    public static func string(_ s: String) -> Datum { .bytes(Array(s.utf8)) }

    public var isNull: Bool { if case .null = self { return true } else { return false } }

    public var description: String {
        switch self {
        case .null: return "NULL"
        case .int(let v): return "\(v)"
        case .uint(let v): return "\(v)"
        case .float(let v): return "\(v)"
        case .bytes(let v): return "\"\(String(decoding: v, as: UTF8.self))\""
        case .decimal(let v): return "\(v)"
        case .time(let v): return "time(\(v))"
        case .duration(let v): return "duration(\(v))"
        }
    }
}

extension Datum {
    /// The value as a double (MySQL's numeric context); strings parse their numeric prefix.
    public var doubleValue: Double? {
        switch self {
        case .null: return nil
        case .int(let v): return Double(v)
        case .uint(let v): return Double(v)
        case .float(let v): return v
        case .decimal(let v): return v.doubleValue
        case .bytes(let v): return Self.parseDoublePrefix(v)
        case .time(let v): return Double(v)
        case .duration(let v): return Double(v)
        }
    }

    /// The value as a decimal; doubles and strings convert through their decimal text.
    public var decimalValue: SQLDecimal? {
        switch self {
        case .null: return nil
        case .int(let v): return SQLDecimal(v)
        case .uint(let v): return SQLDecimal(v)
        case .decimal(let v): return v
        case .float(let v): return SQLDecimal(v)
        case .bytes(let v): return SQLDecimal(Self.parseDoublePrefix(v))
        case .time(let v): return SQLDecimal(v)
        case .duration(let v): return SQLDecimal(v)
        }
    }

    /// MySQL truthiness: non-zero is true; NULL is nil.
    public var boolValue: Bool? {
        switch self {
        case .null: return nil
        case .int(let v): return v != 0
        case .uint(let v): return v != 0
        case .decimal(let v): return !v.isZero
        case .time(let v): return v != 0
        case .duration(let v): return v != 0
        default: return doubleValue.map { $0 != 0 }
        }
    }

    /// The value as text bytes (numbers in their SQL text form).
    public var bytesValue: [UInt8]? {
        switch self {
        case .null: return nil
        case .bytes(let v): return v
        case .int(let v): return Array("\(v)".utf8)
        case .uint(let v): return Array("\(v)".utf8)
        case .float(let v): return Array(Self.formatDouble(v).utf8)
        case .decimal(let v): return Array(v.description.utf8)
        case .time(let v): return Array("\(v)".utf8)
        case .duration(let v): return Array("\(v)".utf8)
        }
    }

    /// MySQL prints integral doubles without a fraction (`3`, not `3.0`).
    static func formatDouble(_ v: Double) -> String {
        if v.isFinite, v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    /// The longest numeric prefix of `bytes` (`"12abc"` -> 12, `"abc"` -> 0), as MySQL converts strings.
    static func parseDoublePrefix(_ bytes: [UInt8]) -> Double {
        let text = String(decoding: bytes, as: UTF8.self).trimmingSpaces
        var best = 0.0
        var i = text.startIndex
        while i < text.endIndex {
            i = text.index(after: i)
            if let v = Double(text[text.startIndex..<i]) { best = v }
        }
        return best
    }
}
