import Codec
import Foundation
import TinyKVProto

extension ScalarFunctions {
    /// ABS, CEIL, FLOOR, ROUND, SIGN, SQRT, logarithms, trigonometry, CRC32, PI, POW.
    static func registerMath(_ t: inout [Tipb.ScalarFuncSig: ScalarFunction]) {
        func real(_ f: @escaping @Sendable (Double) -> Double?) -> ScalarFunction {
            ScalarFunction(1) { c in
                guard let x = Conversions.real(try c.arg(0)), let r = f(x) else { return .null }
                return try Conversions.makeReal(r)
            }
        }
        func integer(_ f: @escaping @Sendable (Int128) -> Int128) -> ScalarFunction {
            ScalarFunction(1) { c in
                guard let x = try Conversions.integer(c.arg(0)) else { return .null }
                return try Conversions.makeInteger(f(x), unsigned: c.type.isUnsigned)
            }
        }
        func decimal(_ f: @escaping @Sendable (SQLDecimal) throws -> SQLDecimal) -> ScalarFunction {
            ScalarFunction(1) { c in
                guard let x = Conversions.decimal(try c.arg(0)) else { return .null }
                return .decimal(try f(x))
            }
        }
        t[.absInt] = integer { abs($0) }
        t[.absUInt] = integer { $0 }
        t[.absReal] = real { abs($0) }
        t[.absDecimal] = decimal { $0.isNegative ? $0.negated() : $0 }
        t[.ceilIntToInt] = integer { $0 }
        t[.floorIntToInt] = integer { $0 }
        t[.ceilIntToDec] = decimal { $0 }
        t[.floorIntToDec] = decimal { $0 }
        t[.ceilReal] = real { $0.rounded(.up) }
        t[.floorReal] = real { $0.rounded(.down) }
        t[.ceilDecToDec] = decimal { $0.integral(roundingUp: true) }
        t[.floorDecToDec] = decimal { $0.integral(roundingUp: false) }
        t[.ceilDecToInt] = ScalarFunction(1) { c in
            guard let x = Conversions.decimal(try c.arg(0)) else { return .null }
            return try Conversions.makeInteger(x.integral(roundingUp: true).unscaled, unsigned: c.type.isUnsigned)
        }
        t[.floorDecToInt] = ScalarFunction(1) { c in
            guard let x = Conversions.decimal(try c.arg(0)) else { return .null }
            return try Conversions.makeInteger(x.integral(roundingUp: false).unscaled, unsigned: c.type.isUnsigned)
        }
        // ROUND(x): half away from zero, as TinySQL rounds.
        t[.roundReal] = real { $0.rounded(.toNearestOrAwayFromZero) }
        t[.roundInt] = integer { $0 }
        t[.roundDec] = decimal { try $0.rescaled(to: 0) }
        t[.sign] = ScalarFunction(1) { c in
            guard let x = Conversions.real(try c.arg(0)) else { return .null }
            return .int(x > 0 ? 1 : (x < 0 ? -1 : 0))
        }
        t[.sqrt] = real { $0 < 0 ? nil : $0.squareRoot() }
        t[.log1Arg] = real { $0 <= 0 ? nil : log($0) }
        t[.log2] = real { $0 <= 0 ? nil : log2($0) }
        t[.log10] = real { $0 <= 0 ? nil : log10($0) }
        t[.log2Args] = ScalarFunction(2) { c in
            guard let b = Conversions.real(try c.arg(0)), let x = Conversions.real(try c.arg(1)) else { return .null }
            guard b > 0, b != 1, x > 0 else { return .null }
            return try Conversions.makeReal(log(x) / log(b))
        }
        t[.exp] = real { exp($0) }
        t[.sin] = real { sin($0) }
        t[.cos] = real { cos($0) }
        t[.tan] = real { tan($0) }
        t[.asin] = real { abs($0) > 1 ? nil : asin($0) }
        t[.acos] = real { abs($0) > 1 ? nil : acos($0) }
        t[.atan1Arg] = real { atan($0) }
        t[.atan2Args] = ScalarFunction(2) { c in
            guard let y = Conversions.real(try c.arg(0)), let x = Conversions.real(try c.arg(1)) else { return .null }
            return .float(atan2(y, x))
        }
        t[.cot] = real { tan($0) == 0 ? nil : 1 / tan($0) }
        t[.radians] = real { $0 * .pi / 180 }
        t[.degrees] = real { $0 * 180 / .pi }
        t[.pi] = ScalarFunction(0) { _ in .float(.pi) }
        t[.pow] = ScalarFunction(2) { c in
            guard let x = Conversions.real(try c.arg(0)), let y = Conversions.real(try c.arg(1)) else { return .null }
            return try Conversions.makeReal(pow(x, y))
        }
        t[.crc32] = ScalarFunction(1) { c in
            guard let s = Conversions.string(try c.arg(0)) else { return .null }
            return .int(Int64(CRC32.checksum(s)))
        }
    }
}

/// IEEE CRC-32, as MySQL's CRC32().
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
