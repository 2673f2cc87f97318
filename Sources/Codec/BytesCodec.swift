/// Byte-string encodings of TinySQL's `util/codec/bytes.go`.
public enum BytesCodec {
    static let groupSize = 8
    static let marker: UInt8 = 0xFF

    /// `EncodeBytes` (memcomparable): 8-byte groups, each zero-padded and followed by
    /// `0xFF - padding`; a final all-padding group when the length is a multiple of 8.
    /// Order-preserving, and no encoded key is a prefix of another.
    public static func appendMemComparable(_ data: some Collection<UInt8>, to out: inout [UInt8]) {
        var rest = ArraySlice(data)
        out.reserveCapacity(out.count + (rest.count / groupSize + 1) * (groupSize + 1))
        while true {
            let group = rest.prefix(groupSize)
            let pad = groupSize - group.count
            out.append(contentsOf: group)
            out.append(contentsOf: repeatElement(0, count: pad))
            out.append(marker - UInt8(pad))
            rest = rest.dropFirst(group.count)
            if pad > 0 { return }
        }
    }

    /// Encodes `data` memcomparably into a new array.
    public static func encodeMemComparable(_ data: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        appendMemComparable(data, to: &out)
        return out
    }

    /// `DecodeBytes`: the inverse of ``appendMemComparable(_:to:)``, consuming what it reads.
    public static func decodeMemComparable(_ b: inout ArraySlice<UInt8>) throws -> [UInt8] {
        var out: [UInt8] = []
        while true {
            guard b.count >= groupSize + 1 else { throw CodecError("truncated memcomparable bytes") }
            let group = b.prefix(groupSize + 1)
            let padCount = Int(marker - group.last!)
            guard padCount <= groupSize else { throw CodecError("invalid memcomparable marker \(group.last!)") }
            let realCount = groupSize - padCount
            out.append(contentsOf: group.prefix(realCount))
            b = b.dropFirst(groupSize + 1)
            if padCount > 0 {
                guard group.dropLast().suffix(padCount).allSatisfy({ $0 == 0 }) else {
                    throw CodecError("invalid memcomparable padding")
                }
                return out
            }
        }
    }

    /// `EncodeCompactBytes`: signed varint length, then the bytes (not order-preserving).
    public static func appendCompact(_ data: some Collection<UInt8>, to out: inout [UInt8]) {
        NumberCodec.appendVarint(Int64(data.count), to: &out)
        out.append(contentsOf: data)
    }

    public static func decodeCompact(_ b: inout ArraySlice<UInt8>) throws -> [UInt8] {
        let n = try NumberCodec.decodeVarint(&b)
        guard n >= 0, n <= b.count else { throw CodecError("compact bytes length \(n) exceeds \(b.count) bytes") }
        let out = Array(b.prefix(Int(n)))
        b = b.dropFirst(Int(n))
        return out
    }
}
