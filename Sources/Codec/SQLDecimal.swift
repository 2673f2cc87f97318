/// A MySQL `DECIMAL` value: an unscaled integer and a count of fraction digits.
///
/// TinySQL's `MyDecimal` allows 65 digits; this keeps 38 (an `Int128`), which covers sums and
/// averages of `BIGINT`s and every decimal column up to `DECIMAL(38, s)`. Arithmetic that would
/// leave that range throws ``DecimalOverflow`` rather than losing digits.
public struct SQLDecimal: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The value times 10^`scale`.
    public private(set) var unscaled: Int128
    /// Digits after the decimal point (0...30, MySQL's maximum).
    public private(set) var scale: Int

    public static let maxScale = 30
    /// Added to the dividend's scale by division (MySQL's `div_precision_increment`).
    public static let divScaleIncrement = 4

    public init(unscaled: Int128, scale: Int) {
        precondition((0...Self.maxScale).contains(scale), "decimal scale \(scale) out of range")
        self.unscaled = unscaled
        self.scale = scale
    }

    public init(_ value: Int64) { self.init(unscaled: Int128(value), scale: 0) }
    public init(_ value: UInt64) { self.init(unscaled: Int128(value), scale: 0) }

    /// Parses `[-+]digits[.digits]`; nil when malformed or longer than 38 digits.
    public init?(_ text: String) {
        var s = Substring(text.trimmingSpaces)
        var negative = false
        if s.first == "-" || s.first == "+" { negative = s.first == "-"; s = s.dropFirst() }
        let parts = s.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let intPart = parts.first, !(intPart.isEmpty && (parts.count < 2 || parts[1].isEmpty)) else { return nil }
        let fracPart = parts.count > 1 ? parts[1] : ""
        guard (intPart + fracPart).allSatisfy(\.isASCII), (intPart + fracPart).allSatisfy(\.isNumber),
              fracPart.count <= Self.maxScale, intPart.count + fracPart.count <= 38 else { return nil }
        var v: Int128 = 0
        for c in intPart + fracPart { v = v * 10 + Int128(c.wholeNumberValue!) }
        self.init(unscaled: negative ? -v : v, scale: fracPart.count)
    }

    public static let zero = SQLDecimal(unscaled: 0, scale: 0)

    public var isNegative: Bool { unscaled < 0 }
    public var isZero: Bool { unscaled == 0 }

    public var description: String {
        let digits = String(unscaled.magnitude)
        var text = digits
        if scale > 0 {
            let padded = String(repeating: "0", count: max(0, scale + 1 - digits.count)) + digits
            text = padded.dropLast(scale) + "." + padded.suffix(scale)
        }
        return unscaled < 0 ? "-" + text : text
    }

    public var doubleValue: Double { Double(description) ?? .nan }

    static func pow10(_ n: Int) -> Int128 {
        var p: Int128 = 1
        for _ in 0..<n { p *= 10 }
        return p
    }

    /// The same value with `newScale` fraction digits: rounded half away from zero when shrinking.
    public func rescaled(to newScale: Int) throws -> SQLDecimal {
        if newScale == scale { return self }
        if newScale > scale {
            let (v, overflow) = unscaled.multipliedReportingOverflow(by: Self.pow10(newScale - scale))
            if overflow { throw DecimalOverflow() }
            return SQLDecimal(unscaled: v, scale: newScale)
        }
        let divisor = Self.pow10(scale - newScale)
        var (q, r) = unscaled.quotientAndRemainder(dividingBy: divisor)
        if r.magnitude * 2 >= divisor.magnitude { q += unscaled < 0 ? -1 : 1 }
        return SQLDecimal(unscaled: q, scale: newScale)
    }

    /// Drops the fraction towards negative (`floor`) or positive (`ceil`) infinity.
    public func integral(roundingUp: Bool) -> SQLDecimal {
        let divisor = Self.pow10(scale)
        var (q, r) = unscaled.quotientAndRemainder(dividingBy: divisor)
        if r != 0 && (r > 0) == roundingUp { q += roundingUp ? 1 : -1 }
        return SQLDecimal(unscaled: q, scale: 0)
    }

    private static func aligned(_ a: SQLDecimal, _ b: SQLDecimal) throws -> (Int128, Int128, Int) {
        let s = max(a.scale, b.scale)
        return (try a.rescaled(to: s).unscaled, try b.rescaled(to: s).unscaled, s)
    }

    public func adding(_ other: SQLDecimal) throws -> SQLDecimal {
        let (a, b, s) = try Self.aligned(self, other)
        let (v, overflow) = a.addingReportingOverflow(b)
        if overflow { throw DecimalOverflow() }
        return SQLDecimal(unscaled: v, scale: s)
    }

    public func subtracting(_ other: SQLDecimal) throws -> SQLDecimal {
        try adding(SQLDecimal(unscaled: -other.unscaled, scale: other.scale))
    }

    public func multiplied(by other: SQLDecimal) throws -> SQLDecimal {
        let (v, overflow) = unscaled.multipliedReportingOverflow(by: other.unscaled)
        if overflow { throw DecimalOverflow() }
        let s = scale + other.scale
        if s <= Self.maxScale { return SQLDecimal(unscaled: v, scale: s) }
        let divisor = Self.pow10(s - Self.maxScale)
        return SQLDecimal(unscaled: v / divisor, scale: Self.maxScale)
    }

    /// `self / other` with ``divScaleIncrement`` more fraction digits than `self`, rounded half
    /// away from zero; nil when `other` is zero (MySQL's NULL).
    public func divided(by other: SQLDecimal) throws -> SQLDecimal? {
        if other.isZero { return nil }
        let resultScale = min(scale + Self.divScaleIncrement, Self.maxScale)
        // unscaled result = self.unscaled * 10^(resultScale + other.scale - scale) / other.unscaled, computed
        // with one extra digit for rounding.
        let shift = resultScale + other.scale - scale + 1
        let (n, overflow) = unscaled.multipliedReportingOverflow(by: Self.pow10(shift))
        if overflow { throw DecimalOverflow() }
        var q = n / other.unscaled
        let last = q % 10
        q /= 10
        if last.magnitude >= 5 { q += (last < 0) ? -1 : 1 }
        return SQLDecimal(unscaled: q, scale: resultScale)
    }

    public func negated() -> SQLDecimal { SQLDecimal(unscaled: -unscaled, scale: scale) }

    public static func < (a: SQLDecimal, b: SQLDecimal) -> Bool { compare(a, b) < 0 }
    public static func == (a: SQLDecimal, b: SQLDecimal) -> Bool { compare(a, b) == 0 }
    public func hash(into hasher: inout Hasher) {
        // Equal values with different scales (1.0 and 1.00) must hash alike: hash the trimmed form.
        var v = unscaled, s = scale
        while s > 0 && v % 10 == 0 { v /= 10; s -= 1 }
        hasher.combine(v)
        hasher.combine(s)
    }

    /// -1, 0 or 1. Exact even when aligning the scales would overflow.
    public static func compare(_ a: SQLDecimal, _ b: SQLDecimal) -> Int {
        if let (x, y, _) = try? aligned(a, b) { return x < y ? -1 : (x > y ? 1 : 0) }
        // Aligning overflowed: compare integer parts, then fractions.
        let (ai, af) = a.unscaled.quotientAndRemainder(dividingBy: pow10(a.scale))
        let (bi, bf) = b.unscaled.quotientAndRemainder(dividingBy: pow10(b.scale))
        if ai != bi { return ai < bi ? -1 : 1 }
        let fa = (try? SQLDecimal(unscaled: af, scale: a.scale).rescaled(to: maxScale).unscaled) ?? af
        let fb = (try? SQLDecimal(unscaled: bf, scale: b.scale).rescaled(to: maxScale).unscaled) ?? bf
        return fa < fb ? -1 : (fa > fb ? 1 : 0)
    }

    /// An integer-valued double to decimal, or any double via its shortest decimal text.
    public init?(_ value: Double) {
        guard value.isFinite else { return nil }
        if let d = SQLDecimal("\(value)".replacingExponent) { self = d } else { return nil }
    }

    /// Digits of the integer part (0 for a zero integer part) and the scale: `PrecisionAndFrac`.
    public var precisionAndFrac: (precision: Int, frac: Int) {
        let intPart = (unscaled / Self.pow10(scale)).magnitude
        let intDigits = intPart == 0 ? 0 : String(intPart).count
        return (max(1, intDigits + scale), scale)
    }
}

/// A decimal result outside the 38 digits ``SQLDecimal`` keeps.
public struct DecimalOverflow: Error, Sendable, CustomStringConvertible {
    public init() {}
    public var description: String { "decimal value is out of range" }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }

    /// `1.5e-07` -> `0.00000015`, `1e+20` -> `100000000000000000000` (Swift prints doubles with exponents).
    var replacingExponent: String {
        guard let e = firstIndex(where: { $0 == "e" || $0 == "E" }), let exp = Int(self[index(after: e)...]) else { return self }
        var mantissa = String(self[..<e])
        var negative = false
        if mantissa.hasPrefix("-") { negative = true; mantissa.removeFirst() }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        var digits = String(parts[0]) + (parts.count > 1 ? String(parts[1]) : "")
        var point = parts[0].count + exp
        if point <= 0 { digits = String(repeating: "0", count: -point + 1) + digits; point = 1 }
        if point >= digits.count { digits += String(repeating: "0", count: point - digits.count) }
        let text = digits.prefix(point) + (point < digits.count ? "." + digits.dropFirst(point) : "")
        return (negative ? "-" : "") + text
    }
}
