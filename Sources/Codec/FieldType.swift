/// MySQL column type codes and flags (`parser/mysql/type.go`), as `tipb.ColumnInfo.tp` and
/// `tipb.FieldType.tp` carry them.
public enum MySQLType {
    public static let decimal: Int32 = 0
    public static let tiny: Int32 = 1
    public static let short: Int32 = 2
    public static let long: Int32 = 3
    public static let float: Int32 = 4
    public static let double: Int32 = 5
    public static let null: Int32 = 6
    public static let timestamp: Int32 = 7
    public static let longlong: Int32 = 8
    public static let int24: Int32 = 9
    public static let date: Int32 = 10
    public static let duration: Int32 = 11
    public static let datetime: Int32 = 12
    public static let year: Int32 = 13
    public static let newDate: Int32 = 14
    public static let varchar: Int32 = 15
    public static let bit: Int32 = 16
    public static let json: Int32 = 245
    public static let newDecimal: Int32 = 246
    public static let enumType: Int32 = 247
    public static let set: Int32 = 248
    public static let tinyBlob: Int32 = 249
    public static let mediumBlob: Int32 = 250
    public static let longBlob: Int32 = 251
    public static let blob: Int32 = 252
    public static let varString: Int32 = 253
    public static let string: Int32 = 254
    public static let geometry: Int32 = 255

    /// `UnsignedFlag`.
    public static let unsignedFlag: Int32 = 32
    /// `NotNullFlag`.
    public static let notNullFlag: Int32 = 1
}

/// How a column's values are stored and evaluated, derived from its MySQL type code.
public enum ValueClass: Sendable, Hashable {
    case int, uint, real, decimal, string, time, duration

    public init(type tp: Int32, flag: Int32) {
        switch tp {
        case MySQLType.tiny, MySQLType.short, MySQLType.int24, MySQLType.long, MySQLType.longlong, MySQLType.year:
            self = flag & MySQLType.unsignedFlag != 0 ? .uint : .int
        case MySQLType.bit, MySQLType.enumType, MySQLType.set: self = .uint
        case MySQLType.float, MySQLType.double: self = .real
        case MySQLType.newDecimal, MySQLType.decimal: self = .decimal
        case MySQLType.date, MySQLType.datetime, MySQLType.timestamp, MySQLType.newDate: self = .time
        case MySQLType.duration: self = .duration
        default: self = .string
        }
    }
}

extension Datum {
    /// The datum as a column of `valueClass` stores it: integers read from keys become times or
    /// unsigned values where the column says so. Other kinds are returned unchanged.
    public func coerced(to valueClass: ValueClass) -> Datum {
        switch (self, valueClass) {
        case (.int(let v), .uint): return .uint(UInt64(bitPattern: v))
        case (.uint(let v), .int): return .int(Int64(bitPattern: v))
        case (.uint(let v), .time): return .time(v)
        case (.int(let v), .time): return .time(UInt64(bitPattern: v))
        case (.int(let v), .duration): return .duration(v)
        default: return self
        }
    }
}
