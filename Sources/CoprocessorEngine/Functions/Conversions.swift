import Codec

/// MySQL's implicit conversions between value kinds, as the functions' signatures call for.
enum Conversions {
    /// An integer argument, widened so that signed and unsigned values mix exactly.
    static func integer(_ d: Datum) throws -> Int128? {
        switch d {
        case .null: return nil
        case .int(let v): return Int128(v)
        case .uint(let v): return Int128(v)
        case .time(let v): return Int128(v)
        case .duration(let v): return Int128(v)
        case .decimal(let v): return try v.rescaled(to: 0).unscaled
        case .float, .bytes:
            let x = (d.doubleValue ?? 0).rounded(.toNearestOrAwayFromZero)
            guard x.isFinite, abs(x) < 1.8e19 else { throw CoprocessorError.outOfRange("BIGINT") }
            return Int128(x)
        }
    }

    static func real(_ d: Datum) -> Double? { d.doubleValue }

    static func decimal(_ d: Datum) -> SQLDecimal? { d.decimalValue }

    static func string(_ d: Datum) -> [UInt8]? { d.bytesValue }

    /// An integer result: `.uint` for unsigned result types, `.int` otherwise; out of range is an error.
    static func makeInteger(_ v: Int128, unsigned: Bool) throws -> Datum {
        if unsigned {
            guard v >= 0, v <= Int128(UInt64.max) else { throw CoprocessorError.outOfRange("BIGINT UNSIGNED") }
            return .uint(UInt64(v))
        }
        guard v >= Int128(Int64.min), v <= Int128(Int64.max) else { throw CoprocessorError.outOfRange("BIGINT") }
        return .int(Int64(v))
    }

    /// A double result; infinities and NaN are out of range, as in MySQL.
    static func makeReal(_ v: Double) throws -> Datum {
        guard v.isFinite else { throw CoprocessorError.outOfRange("DOUBLE") }
        return .float(v)
    }

    /// `d` as the kind of `type` (what TinySQL's decoder expects for a column of that type).
    static func coerce(_ d: Datum, to type: ResultType) throws -> Datum {
        if d.isNull { return d }
        switch (type.valueClass, d) {
        case (.int, .int), (.uint, .uint), (.real, .float), (.decimal, .decimal), (.string, .bytes), (.time, _), (.duration, _):
            return d
        case (.int, .uint(let v)): return .int(Int64(bitPattern: v))
        case (.uint, .int(let v)): return .uint(UInt64(bitPattern: v))
        case (.int, _), (.uint, _): return try makeInteger(integer(d) ?? 0, unsigned: type.isUnsigned)
        case (.real, _): return .float(d.doubleValue ?? 0)
        case (.decimal, _):
            guard let v = d.decimalValue else { throw CoprocessorError.outOfRange("DECIMAL") }
            return .decimal(v)
        case (.string, _): return .bytes(d.bytesValue ?? [])
        }
    }

    static func bool(_ v: Bool) -> Datum { .int(v ? 1 : 0) }
}
