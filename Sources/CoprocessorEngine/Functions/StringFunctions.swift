import Codec
import TinyKVProto

extension ScalarFunctions {
    /// String functions. The non-UTF8 signatures work on bytes (binary strings), the `UTF8` ones on
    /// characters.
    static func registerStrings(_ t: inout [Tipb.ScalarFuncSig: ScalarFunction]) {
        func unary(_ f: @escaping @Sendable ([UInt8]) -> Datum) -> ScalarFunction {
            ScalarFunction(1) { c in Conversions.string(try c.arg(0)).map(f) ?? .null }
        }
        @Sendable func chars(_ b: [UInt8]) -> [Character] { Array(String(decoding: b, as: UTF8.self)) }
        @Sendable func bytes(_ cs: [Character]) -> [UInt8] { Array(String(cs).utf8) }

        t[.length] = unary { .int(Int64($0.count)) }
        t[.bitLength] = unary { .int(Int64($0.count * 8)) }
        t[.charLength] = unary { .int(Int64($0.count)) }
        t[.charLengthUTF8] = unary { .int(Int64(String(decoding: $0, as: UTF8.self).unicodeScalars.count)) }
        t[.ascii] = unary { .int(Int64($0.first ?? 0)) }
        t[.reverse] = unary { .bytes($0.reversed()) }
        t[.reverseUTF8] = unary { .bytes(bytes(Array(chars($0).reversed()))) }
        t[.lTrim] = unary { .bytes(Array($0.drop { $0 == 0x20 })) }
        t[.rTrim] = unary { .bytes(Array($0.reversed().drop { $0 == 0x20 }.reversed())) }
        t[.trim1Arg] = unary { .bytes(Array($0.drop { $0 == 0x20 }.reversed().drop { $0 == 0x20 }.reversed())) }
        t[.upper] = unary { .bytes(Array(String(decoding: $0, as: UTF8.self).uppercased().utf8)) }
        t[.upperUTF8] = t[.upper]
        t[.lower] = unary { .bytes(Array(String(decoding: $0, as: UTF8.self).lowercased().utf8)) }

        t[.concat] = ScalarFunction(1...Int.max) { c in
            var out: [UInt8] = []
            for i in 0..<c.count {
                guard let s = Conversions.string(try c.arg(i)) else { return .null }
                out += s
            }
            return .bytes(out)
        }
        t[.concatWS] = ScalarFunction(2...Int.max) { c in
            guard let sep = Conversions.string(try c.arg(0)) else { return .null }
            var parts: [[UInt8]] = []
            for i in 1..<c.count { if let s = Conversions.string(try c.arg(i)) { parts.append(s) } }
            return .bytes(Array(parts.joined(separator: sep)))
        }
        t[.strcmp] = ScalarFunction(2) { c in
            guard let a = Conversions.string(try c.arg(0)), let b = Conversions.string(try c.arg(1)) else { return .null }
            return .int(a == b ? 0 : (a.lexicographicallyPrecedes(b) ? -1 : 1))
        }

        // LEFT / RIGHT (s, n).
        func take(fromLeft: Bool, utf8: Bool) -> ScalarFunction {
            ScalarFunction(2) { c in
                guard let s = Conversions.string(try c.arg(0)), let n = try Conversions.integer(c.arg(1)) else { return .null }
                let k = Int(max(0, min(n, Int128(s.count))))
                if utf8 {
                    let cs = chars(s)
                    let m = min(k, cs.count)
                    return .bytes(bytes(Array(fromLeft ? cs.prefix(m) : cs.suffix(m))))
                }
                return .bytes(Array(fromLeft ? s.prefix(k) : s.suffix(k)))
            }
        }
        t[.left] = take(fromLeft: true, utf8: false)
        t[.leftUTF8] = take(fromLeft: true, utf8: true)
        t[.right] = take(fromLeft: false, utf8: false)
        t[.rightUTF8] = take(fromLeft: false, utf8: true)

        // SUBSTRING(s, pos[, len]): 1-based, a negative pos counts from the end, pos 0 gives "".
        func substring(utf8: Bool) -> ScalarFunction {
            ScalarFunction(2...3) { c in
                guard let s = Conversions.string(try c.arg(0)), let pos = try Conversions.integer(c.arg(1)) else { return .null }
                var len = Int128(Int.max)
                if c.count == 3 {
                    guard let l = try Conversions.integer(c.arg(2)) else { return .null }
                    len = l
                }
                func cut<T>(_ items: [T]) -> [T] {
                    let n = Int128(items.count)
                    let start = pos > 0 ? pos - 1 : (pos < 0 ? n + pos : n)
                    guard start >= 0, start < n, len > 0 else { return [] }
                    let end = min(n, start + len)
                    return Array(items[Int(start)..<Int(end)])
                }
                return .bytes(utf8 ? bytes(cut(chars(s))) : cut(s))
            }
        }
        t[.substring2Args] = substring(utf8: false)
        t[.substring3Args] = substring(utf8: false)
        t[.substring2ArgsUTF8] = substring(utf8: true)
        t[.substring3ArgsUTF8] = substring(utf8: true)

        // LOCATE(substr, str[, pos]): 1-based position of substr in str at or after pos, 0 if absent.
        func locate(utf8: Bool) -> ScalarFunction {
            ScalarFunction(2...3) { c in
                guard let sub = Conversions.string(try c.arg(0)), let s = Conversions.string(try c.arg(1)) else { return .null }
                var from: Int128 = 1
                if c.count == 3 {
                    guard let p = try Conversions.integer(c.arg(2)) else { return .null }
                    from = p
                }
                func find<T: Equatable>(_ needle: [T], _ hay: [T]) -> Int64 {
                    guard from >= 1, from <= Int128(hay.count) + 1 else { return 0 }
                    var i = Int(from) - 1
                    while i + needle.count <= hay.count {
                        if Array(hay[i..<(i + needle.count)]) == needle { return Int64(i + 1) }
                        i += 1
                    }
                    return 0
                }
                return .int(utf8 ? find(chars(sub), chars(s)) : find(sub, s))
            }
        }
        t[.locate2Args] = locate(utf8: false)
        t[.locate3Args] = locate(utf8: false)
        t[.locate2ArgsUTF8] = locate(utf8: true)
        t[.locate3ArgsUTF8] = locate(utf8: true)

        // s LIKE pattern ESCAPE e: `%` any run, `_` one byte, binary collation (case-sensitive).
        t[.likeSig] = ScalarFunction(2...3) { c in
            guard let s = Conversions.string(try c.arg(0)), let p = Conversions.string(try c.arg(1)) else { return .null }
            var escape: UInt8 = UInt8(ascii: "\\")
            if c.count == 3, let e = try Conversions.integer(c.arg(2)) { escape = UInt8(truncatingIfNeeded: e) }
            return Conversions.bool(Like.matches(s[...], p[...], escape: escape))
        }
    }
}

/// LIKE matching with backtracking on the last `%`.
enum Like {
    static func matches(_ s: ArraySlice<UInt8>, _ p: ArraySlice<UInt8>, escape: UInt8) -> Bool {
        var si = s.startIndex, pi = p.startIndex
        var star: (p: Int, s: Int)?
        while si < s.endIndex {
            if pi < p.endIndex {
                let pc = p[pi]
                if pc == UInt8(ascii: "%") {
                    star = (pi + 1, si)
                    pi += 1
                    continue
                }
                var literal = pc, width = 1
                if pc == escape, pi + 1 < p.endIndex { literal = p[pi + 1]; width = 2 }
                if (width == 1 && pc == UInt8(ascii: "_")) || literal == s[si] {
                    pi += width
                    si += 1
                    continue
                }
            }
            guard let st = star else { return false }
            pi = st.p
            si = st.s + 1
            star = (st.p, st.s + 1)
        }
        while pi < p.endIndex, p[pi] == UInt8(ascii: "%") { pi += 1 }
        return pi == p.endIndex
    }
}
