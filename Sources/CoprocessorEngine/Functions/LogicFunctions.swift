import Codec
import TinyKVProto

extension ScalarFunctions {
    /// AND, OR, XOR, NOT, IS NULL, IS TRUE / IS FALSE and the bit operators, with MySQL's
    /// three-valued logic: `false AND NULL` is false, `true OR NULL` is true, otherwise NULL wins.
    static func registerLogic(_ t: inout [Tipb.ScalarFuncSig: ScalarFunction]) {
        t[.logicalAnd] = ScalarFunction(2) { c in
            let a = try c.arg(0).boolValue
            if a == false { return Conversions.bool(false) }
            let b = try c.arg(1).boolValue
            if b == false { return Conversions.bool(false) }
            return a == nil || b == nil ? .null : Conversions.bool(true)
        }
        t[.logicalOr] = ScalarFunction(2) { c in
            let a = try c.arg(0).boolValue
            if a == true { return Conversions.bool(true) }
            let b = try c.arg(1).boolValue
            if b == true { return Conversions.bool(true) }
            return a == nil || b == nil ? .null : Conversions.bool(false)
        }
        t[.logicalXor] = ScalarFunction(2) { c in
            guard let a = try c.arg(0).boolValue, let b = try c.arg(1).boolValue else { return .null }
            return Conversions.bool(a != b)
        }
        for sig in [Tipb.ScalarFuncSig.unaryNotInt, .unaryNotReal, .unaryNotDecimal] {
            t[sig] = ScalarFunction(1) { c in try c.arg(0).boolValue.map { Conversions.bool(!$0) } ?? .null }
        }
        for sig in [Tipb.ScalarFuncSig.intIsNull, .realIsNull, .decimalIsNull, .stringIsNull, .timeIsNull, .durationIsNull] {
            t[sig] = ScalarFunction(1) { c in Conversions.bool(try c.arg(0).isNull) }
        }
        for sig in [Tipb.ScalarFuncSig.intIsTrue, .realIsTrue, .decimalIsTrue] {
            t[sig] = ScalarFunction(1) { c in Conversions.bool(try c.arg(0).boolValue == true) }
        }
        for sig in [Tipb.ScalarFuncSig.intIsFalse, .realIsFalse, .decimalIsFalse] {
            t[sig] = ScalarFunction(1) { c in Conversions.bool(try c.arg(0).boolValue == false) }
        }
        // Bit operators work on the 64-bit pattern and return BIGINT UNSIGNED.
        @Sendable func bits(_ d: Datum) throws -> UInt64? {
            guard let v = try Conversions.integer(d) else { return nil }
            return UInt64(truncatingIfNeeded: v)
        }
        func binary(_ op: @escaping @Sendable (UInt64, UInt64) -> UInt64) -> ScalarFunction {
            ScalarFunction(2) { c in
                guard let a = try bits(c.arg(0)), let b = try bits(c.arg(1)) else { return .null }
                return .uint(op(a, b))
            }
        }
        t[.bitAndSig] = binary(&)
        t[.bitOrSig] = binary(|)
        t[.bitXorSig] = binary(^)
        t[.leftShift] = binary { a, b in b >= 64 ? 0 : a << b }
        t[.rightShift] = binary { a, b in b >= 64 ? 0 : a >> b }
        t[.bitNegSig] = ScalarFunction(1) { c in try bits(c.arg(0)).map { .uint(~$0) } ?? .null }
        t[.bitCount] = ScalarFunction(1) { c in try bits(c.arg(0)).map { .int(Int64($0.nonzeroBitCount)) } ?? .null }
    }
}
