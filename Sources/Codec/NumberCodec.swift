/// Integer and float encodings of TinySQL's `util/codec` (`number.go`, `float.go`).
///
/// Comparable forms (keys, comparable datums) are 8 bytes big-endian, transformed so that
/// `memcmp` order equals numeric order; value forms use Go's varints.
public enum NumberCodec {
    static let signMask: UInt64 = 1 << 63

    /// `EncodeInt`: the sign bit flipped, big-endian, so that negatives sort first.
    public static func appendComparableInt(_ value: Int64, to out: inout [UInt8]) {
        appendBigEndian(UInt64(bitPattern: value) ^ signMask, to: &out)
    }

    /// `EncodeUint`: plain big-endian.
    public static func appendComparableUint(_ value: UInt64, to out: inout [UInt8]) {
        appendBigEndian(value, to: &out)
    }

    /// `EncodeFloat`: positives get the sign bit set, negatives are inverted, so order is numeric.
    public static func appendComparableFloat(_ value: Double, to out: inout [UInt8]) {
        appendBigEndian(comparableBits(value), to: &out)
    }

    static func comparableBits(_ value: Double) -> UInt64 {
        let bits = value.bitPattern
        return value >= 0 ? bits | signMask : ~bits
    }

    static func floatFromComparable(_ u: UInt64) -> Double {
        Double(bitPattern: u & signMask != 0 ? u & ~signMask : ~u)
    }

    public static func decodeComparableInt(_ b: inout ArraySlice<UInt8>) throws -> Int64 {
        Int64(bitPattern: try readBigEndian(&b) ^ signMask)
    }

    public static func decodeComparableUint(_ b: inout ArraySlice<UInt8>) throws -> UInt64 {
        try readBigEndian(&b)
    }

    public static func decodeComparableFloat(_ b: inout ArraySlice<UInt8>) throws -> Double {
        floatFromComparable(try readBigEndian(&b))
    }

    public static func appendBigEndian(_ value: UInt64, to out: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    public static func readBigEndian(_ b: inout ArraySlice<UInt8>) throws -> UInt64 {
        guard b.count >= 8 else { throw CodecError("need 8 bytes, have \(b.count)") }
        var v: UInt64 = 0
        for byte in b.prefix(8) { v = v << 8 | UInt64(byte) }
        b = b.dropFirst(8)
        return v
    }

    /// Go's `binary.PutUvarint`: 7 bits a byte, least significant first.
    public static func appendUvarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// Go's `binary.PutVarint`: zig-zag, then uvarint.
    public static func appendVarint(_ value: Int64, to out: inout [UInt8]) {
        var ux = UInt64(bitPattern: value) << 1
        if value < 0 { ux = ~ux }
        appendUvarint(ux, to: &out)
    }

    public static func decodeUvarint(_ b: inout ArraySlice<UInt8>) throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = b.first {
            b = b.dropFirst()
            if shift == 63 && byte > 1 { throw CodecError("uvarint overflows 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
            if shift > 63 { throw CodecError("uvarint overflows 64 bits") }
        }
        throw CodecError("truncated uvarint")
    }

    public static func decodeVarint(_ b: inout ArraySlice<UInt8>) throws -> Int64 {
        let ux = try decodeUvarint(&b)
        let x = Int64(bitPattern: ux >> 1)
        return ux & 1 != 0 ? ~x : x
    }
}
