import Codec
import Foundation
import TinyKVProto

extension ScalarFunctions {
    /// + - * / DIV % and unary minus over integers (exact, overflow is an error), doubles and decimals.
    /// Division or modulo by zero is NULL, as MySQL returns outside strict DML.
    static func registerArithmetic(_ t: inout [Tipb.ScalarFuncSig: ScalarFunction]) {
        func ints(_ op: @escaping @Sendable (Int128, Int128) -> Int128?) -> ScalarFunction {
            ScalarFunction(2) { c in
                guard let a = try Conversions.integer(c.arg(0)), let b = try Conversions.integer(c.arg(1)) else { return .null }
                guard let r = op(a, b) else { return .null }
                return try Conversions.makeInteger(r, unsigned: c.type.isUnsigned)
            }
        }
        for sig in [Tipb.ScalarFuncSig.plusInt, .plusIntUnsignedUnsigned, .plusIntUnsignedSigned, .plusIntSignedUnsigned, .plusIntSignedSigned] {
            t[sig] = ints { $0 + $1 }
        }
        t[.minusInt] = ints { $0 - $1 }
        t[.multiplyInt] = ints { $0 * $1 }
        t[.multiplyIntUnsigned] = ints { $0 * $1 }
        t[.intDivideInt] = ints { $1 == 0 ? nil : $0 / $1 }
        t[.modInt] = ints { $1 == 0 ? nil : $0 % $1 }

        func reals(_ op: @escaping @Sendable (Double, Double) -> Double?) -> ScalarFunction {
            ScalarFunction(2) { c in
                guard let a = Conversions.real(try c.arg(0)), let b = Conversions.real(try c.arg(1)) else { return .null }
                guard let r = op(a, b) else { return .null }
                return try Conversions.makeReal(r)
            }
        }
        t[.plusReal] = reals { $0 + $1 }
        t[.minusReal] = reals { $0 - $1 }
        t[.multiplyReal] = reals { $0 * $1 }
        t[.divideReal] = reals { $1 == 0 ? nil : $0 / $1 }
        t[.modReal] = reals { $1 == 0 ? nil : fmod($0, $1) }

        func decimals(_ op: @escaping @Sendable (SQLDecimal, SQLDecimal) throws -> SQLDecimal?) -> ScalarFunction {
            ScalarFunction(2) { c in
                guard let a = Conversions.decimal(try c.arg(0)), let b = Conversions.decimal(try c.arg(1)) else { return .null }
                do {
                    return try op(a, b).map(Datum.decimal) ?? .null
                } catch is DecimalOverflow {
                    throw CoprocessorError.outOfRange("DECIMAL")
                }
            }
        }
        t[.plusDecimal] = decimals { try $0.adding($1) }
        t[.minusDecimal] = decimals { try $0.subtracting($1) }
        t[.multiplyDecimal] = decimals { try $0.multiplied(by: $1) }
        t[.divideDecimal] = decimals { try $0.divided(by: $1) }
        t[.modDecimal] = decimals { a, b in
            if b.isZero { return nil }
            let s = max(a.scale, b.scale)
            let x = try a.rescaled(to: s).unscaled, y = try b.rescaled(to: s).unscaled
            return SQLDecimal(unscaled: x % y, scale: s)
        }
        t[.intDivideDecimal] = ScalarFunction(2) { c in
            guard let a = Conversions.decimal(try c.arg(0)), let b = Conversions.decimal(try c.arg(1)) else { return .null }
            if b.isZero { return .null }
            let s = max(a.scale, b.scale)
            do {
                let q = try a.rescaled(to: s).unscaled / b.rescaled(to: s).unscaled
                return try Conversions.makeInteger(q, unsigned: c.type.isUnsigned)
            } catch is DecimalOverflow {
                throw CoprocessorError.outOfRange("DECIMAL")
            }
        }

        t[.unaryMinusInt] = ScalarFunction(1) { c in
            guard let a = try Conversions.integer(c.arg(0)) else { return .null }
            return try Conversions.makeInteger(-a, unsigned: false)
        }
        t[.unaryMinusReal] = ScalarFunction(1) { c in Conversions.real(try c.arg(0)).map { .float(-$0) } ?? .null }
        t[.unaryMinusDecimal] = ScalarFunction(1) { c in Conversions.decimal(try c.arg(0)).map { .decimal($0.negated()) } ?? .null }
    }
}
