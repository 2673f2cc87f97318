/// The memcomparable encoding of byte strings (TiDB's `codec.EncodeBytes`), shared by the
/// MVCC key layout and the raft store's region ranges: the key cut into 8-byte groups,
/// each padded with zeros and followed by the marker `0xFF - padding`; a key whose length
/// is a multiple of 8 (the empty key too) ends with an all-padding group. The encoding
/// preserves order and no encoded key is a prefix of another.
public enum MemComparable {
    public static let groupSize = 8
    public static let marker: UInt8 = 0xFF

    /// Appends the encoding of `key` to `out`.
    public static func append(_ key: [UInt8], to out: inout [UInt8]) {
        var index = 0
        while index <= key.count {
            let remaining = key.count - index
            if remaining >= groupSize {
                out.append(contentsOf: key[index..<(index + groupSize)])
                out.append(marker)
            } else {
                let pad = groupSize - remaining
                out.append(contentsOf: key[index..<key.count])
                out.append(contentsOf: repeatElement(0, count: pad))
                out.append(marker - UInt8(pad))
            }
            index += groupSize
        }
    }

    /// The encoding of `key`.
    public static func encode(_ key: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((key.count / groupSize + 1) * (groupSize + 1))
        append(key, to: &out)
        return out
    }
}
