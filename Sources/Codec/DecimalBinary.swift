/// MySQL's binary decimal format (`MyDecimal.ToBin` / `FromBin`), used in rows, keys and datums.
///
/// For precision P and scale F: the integer digits (P - F) and the fraction digits (F) are cut into
/// 9-digit words (4 bytes each) plus a partial word of fewer bytes (the leading integer digits and
/// the trailing fraction digits), all big-endian; negative values have every byte inverted, and the
/// first byte's top bit is flipped so that the bytes sort like the values.
public enum DecimalBinary {
    static let digitsPerWord = 9
    static let wordSize = 4
    static let dig2bytes = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4]

    /// Bytes taken by a decimal of `precision` and `frac`.
    public static func size(precision: Int, frac: Int) -> Int {
        let digitsInt = precision - frac
        return (digitsInt / digitsPerWord) * wordSize + dig2bytes[digitsInt % digitsPerWord]
            + (frac / digitsPerWord) * wordSize + dig2bytes[frac % digitsPerWord]
    }

    static func check(_ precision: Int, _ frac: Int) throws {
        guard (1...65).contains(precision), (0...SQLDecimal.maxScale).contains(frac), frac <= precision else {
            throw CodecError("invalid decimal precision \(precision) / frac \(frac)")
        }
    }

    /// Appends `value` in the layout of DECIMAL(`precision`, `frac`), rounding extra fraction digits.
    public static func append(_ value: SQLDecimal, precision: Int, frac: Int, to out: inout [UInt8]) throws {
        try check(precision, frac)
        let v = try value.rescaled(to: frac)
        let magnitude = v.unscaled.magnitude
        let fracPow = UInt128(SQLDecimal.pow10(frac))
        var intPart = magnitude / fracPow
        let fracPart = magnitude % fracPow
        let digitsInt = precision - frac
        let wordsInt = digitsInt / digitsPerWord, leading = digitsInt % digitsPerWord
        let wordsFrac = frac / digitsPerWord, trailing = frac % digitsPerWord
        guard intPart < UInt128(SQLDecimal.pow10(min(digitsInt, 38))) || digitsInt > 38 else {
            throw CodecError("decimal \(value) does not fit DECIMAL(\(precision), \(frac))")
        }
        // Integer words, least significant first, then reversed.
        var intWords: [UInt32] = []
        for _ in 0..<wordsInt {
            intWords.append(UInt32(intPart % 1_000_000_000))
            intPart /= 1_000_000_000
        }
        var bytes: [UInt8] = []
        appendWord(UInt32(intPart), size: dig2bytes[leading], to: &bytes)
        for w in intWords.reversed() { appendWord(w, size: wordSize, to: &bytes) }
        // Fraction words, most significant first; the partial word holds the last `trailing` digits.
        var fracDigits = fracPart
        var fracWords: [UInt32] = []
        let trailingValue = UInt32(fracDigits % UInt128(SQLDecimal.pow10(trailing)))
        fracDigits /= UInt128(SQLDecimal.pow10(trailing))
        for _ in 0..<wordsFrac {
            fracWords.append(UInt32(fracDigits % 1_000_000_000))
            fracDigits /= 1_000_000_000
        }
        for w in fracWords.reversed() { appendWord(w, size: wordSize, to: &bytes) }
        appendWord(trailingValue, size: dig2bytes[trailing], to: &bytes)
        if v.isNegative { bytes = bytes.map { ~$0 } }
        if !bytes.isEmpty { bytes[0] ^= 0x80 }
        out.append(contentsOf: bytes)
    }

    /// Reads a DECIMAL(`precision`, `frac`) value, consuming its bytes.
    public static func decode(_ b: inout ArraySlice<UInt8>, precision: Int, frac: Int) throws -> SQLDecimal {
        try check(precision, frac)
        let n = size(precision: precision, frac: frac)
        guard b.count >= n, n > 0 else { throw CodecError("truncated decimal") }
        var bytes = Array(b.prefix(n))
        b = b.dropFirst(n)
        let negative = bytes[0] & 0x80 == 0
        bytes[0] ^= 0x80
        if negative { bytes = bytes.map { ~$0 } }
        let digitsInt = precision - frac
        let wordsInt = digitsInt / digitsPerWord, leading = digitsInt % digitsPerWord
        let wordsFrac = frac / digitsPerWord, trailing = frac % digitsPerWord
        var rest = bytes[...]
        func word(_ size: Int) -> UInt128 {
            var v: UInt128 = 0
            for byte in rest.prefix(size) { v = v << 8 | UInt128(byte) }
            rest = rest.dropFirst(size)
            return v
        }
        // Wide columns (DECIMAL(65, s)) hold small values in mostly zero words: only overflow is an error.
        var magnitude: UInt128 = word(dig2bytes[leading])
        func push(_ w: UInt128, _ factor: UInt128) throws {
            let (m, o1) = magnitude.multipliedReportingOverflow(by: factor)
            let (s, o2) = m.addingReportingOverflow(w)
            guard !o1, !o2, s <= UInt128(Int128.max) else { throw CodecError("decimal wider than 38 digits") }
            magnitude = s
        }
        for _ in 0..<(wordsInt + wordsFrac) { try push(word(wordSize), 1_000_000_000) }
        try push(word(dig2bytes[trailing]), UInt128(SQLDecimal.pow10(trailing)))
        let unscaled = Int128(magnitude)
        return SQLDecimal(unscaled: negative ? -unscaled : unscaled, scale: frac)
    }

    static func appendWord(_ value: UInt32, size: Int, to out: inout [UInt8]) {
        for i in stride(from: size - 1, through: 0, by: -1) { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
    }
}
