import Codec
import TinyKVProto

/// How a comparison signature compares its arguments (the `Int`/`Real`/... in `LTInt`, `LTReal`, ...).
enum CompareClass {
    case int, real, decimal, string, other

    /// Both arguments converted to this class's kind, so that ``Datum/compare(_:_:)`` compares them
    /// as the signature intends (numbers numerically, strings bytewise).
    func normalize(_ d: Datum) throws -> Datum {
        if d.isNull { return d }
        switch self {
        case .int:
            switch d {
            case .int, .uint: return d
            default: return try Conversions.makeInteger(Conversions.integer(d) ?? 0, unsigned: false)
            }
        case .real: return .float(d.doubleValue ?? 0)
        case .decimal: return d.decimalValue.map(Datum.decimal) ?? .float(d.doubleValue ?? 0)
        case .string: return .bytes(d.bytesValue ?? [])
        case .other: return d
        }
    }

    /// -1/0/1, or nil when either side is NULL.
    func compare(_ a: Datum, _ b: Datum) throws -> Int? {
        if a.isNull || b.isNull { return nil }
        return Datum.compare(try normalize(a), try normalize(b))
    }
}

extension ScalarFunctions {
    static func registerComparisons(_ t: inout [Tipb.ScalarFuncSig: ScalarFunction]) {
        let classes: [(CompareClass, [Tipb.ScalarFuncSig])] = [
            // Order within each list: LT, LE, GT, GE, EQ, NE, NullEQ, In.
            (.int, [.ltInt, .leInt, .gtInt, .geInt, .eqInt, .neInt, .nullEQInt, .inInt]),
            (.real, [.ltReal, .leReal, .gtReal, .geReal, .eqReal, .neReal, .nullEQReal, .inReal]),
            (.decimal, [.ltDecimal, .leDecimal, .gtDecimal, .geDecimal, .eqDecimal, .neDecimal, .nullEQDecimal, .inDecimal]),
            (.string, [.ltString, .leString, .gtString, .geString, .eqString, .neString, .nullEQString, .inString]),
            (.other, [.ltTime, .leTime, .gtTime, .geTime, .eqTime, .neTime, .nullEQTime, .inTime]),
            (.other, [.ltDuration, .leDuration, .gtDuration, .geDuration, .eqDuration, .neDuration, .nullEQDuration, .inDuration]),
        ]
        let tests: [@Sendable (Int) -> Bool] = [{ $0 < 0 }, { $0 <= 0 }, { $0 > 0 }, { $0 >= 0 }, { $0 == 0 }, { $0 != 0 }]
        for (cls, sigs) in classes {
            for (i, test) in tests.enumerated() {
                t[sigs[i]] = ScalarFunction(2) { c in
                    guard let r = try cls.compare(c.arg(0), c.arg(1)) else { return .null }
                    return Conversions.bool(test(r))
                }
            }
            // `<=>`: NULL-safe, never NULL.
            t[sigs[6]] = ScalarFunction(2) { c in
                let a = try c.arg(0), b = try c.arg(1)
                if a.isNull || b.isNull { return Conversions.bool(a.isNull && b.isNull) }
                return Conversions.bool(try cls.compare(a, b) == 0)
            }
            // `a IN (b, c, ...)`: true on a match; else NULL if `a` or any candidate is NULL; else false.
            t[sigs[7]] = ScalarFunction(1...Int.max) { c in
                let a = try c.arg(0)
                if a.isNull { return .null }
                var sawNull = false
                for i in 1..<c.count {
                    let b = try c.arg(i)
                    if b.isNull { sawNull = true; continue }
                    if try cls.compare(a, b) == 0 { return Conversions.bool(true) }
                }
                return sawNull ? .null : Conversions.bool(false)
            }
        }
        for (cls, greatest, least) in [(CompareClass.int, Tipb.ScalarFuncSig.greatestInt, Tipb.ScalarFuncSig.leastInt),
                                       (.real, .greatestReal, .leastReal), (.decimal, .greatestDecimal, .leastDecimal),
                                       (.string, .greatestString, .leastString)] {
            for (sig, wantGreater) in [(greatest, true), (least, false)] {
                t[sig] = ScalarFunction(2...Int.max) { c in
                    var best = try cls.normalize(c.arg(0))
                    if best.isNull { return .null }
                    for i in 1..<c.count {
                        let v = try cls.normalize(c.arg(i))
                        if v.isNull { return .null }
                        if (Datum.compare(v, best) > 0) == wantGreater && Datum.compare(v, best) != 0 { best = v }
                    }
                    return best
                }
            }
        }
    }
}
