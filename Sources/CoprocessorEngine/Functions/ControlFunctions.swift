import Codec
import TinyKVProto

extension ScalarFunctions {
    /// IF, IFNULL, COALESCE and CASE WHEN, for every result class.
    static func registerControl(_ t: inout [Tipb.ScalarFuncSig: ScalarFunction]) {
        for sig in [Tipb.ScalarFuncSig.ifInt, .ifReal, .ifDecimal, .ifString, .ifTime, .ifDuration] {
            t[sig] = ScalarFunction(3) { c in try c.arg(0).boolValue == true ? c.arg(1) : c.arg(2) }
        }
        for sig in [Tipb.ScalarFuncSig.ifNullInt, .ifNullReal, .ifNullDecimal, .ifNullString, .ifNullTime, .ifNullDuration] {
            t[sig] = ScalarFunction(2) { c in
                let a = try c.arg(0)
                return a.isNull ? try c.arg(1) : a
            }
        }
        for sig in [Tipb.ScalarFuncSig.coalesceInt, .coalesceReal, .coalesceDecimal, .coalesceString, .coalesceTime, .coalesceDuration] {
            t[sig] = ScalarFunction(1...Int.max) { c in
                for i in 0..<c.count {
                    let v = try c.arg(i)
                    if !v.isNull { return v }
                }
                return .null
            }
        }
        // CASE WHEN c1 THEN v1 [WHEN c2 THEN v2 ...] [ELSE e] END: children c1, v1, c2, v2, ..., [e].
        for sig in [Tipb.ScalarFuncSig.caseWhenInt, .caseWhenReal, .caseWhenDecimal, .caseWhenString, .caseWhenTime, .caseWhenDuration] {
            t[sig] = ScalarFunction(1...Int.max) { c in
                var i = 0
                while i + 1 < c.count {
                    if try c.arg(i).boolValue == true { return try c.arg(i + 1) }
                    i += 2
                }
                return c.count % 2 == 1 ? try c.arg(c.count - 1) : .null
            }
        }
    }
}
