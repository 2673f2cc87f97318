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

extension MemComparable {
    /// The key whose encoding is exactly `encoded` (TiDB's `codec.DecodeBytes` with nothing left
    /// over), or nil when `encoded` is not one whole encoded key.
    public static func decode(_ encoded: some Collection<UInt8>) -> [UInt8]? {
        guard let (key, length) = decodePrefix(encoded), length == encoded.count else { return nil }
        return key
    }

    /// Decodes the encoded key at the start of `bytes`: the key and how many bytes its encoding
    /// takes, or nil when `bytes` does not start with a whole encoded key.
    public static func decodePrefix(_ bytes: some Collection<UInt8>) -> (key: [UInt8], length: Int)? {
        var key: [UInt8] = []
        var group: [UInt8] = []
        group.reserveCapacity(groupSize)
        var consumed = 0
        var iterator = bytes.makeIterator()
        while true {
            group.removeAll(keepingCapacity: true)
            for _ in 0..<groupSize {
                guard let byte = iterator.next() else { return nil }
                group.append(byte)
            }
            guard let groupMarker = iterator.next() else { return nil }
            consumed += groupSize + 1
            let pad = Int(marker &- groupMarker)
            guard groupMarker <= marker, pad <= groupSize else { return nil }
            key.append(contentsOf: group[0..<(groupSize - pad)])
            if pad > 0 {
                guard group[(groupSize - pad)...].allSatisfy({ $0 == 0 }) else { return nil }
                return (key, consumed)
            }
        }
    }

    /// The length of the encoded key at the start of `bytes[..<end]` (nil: it does not start with
    /// one), checked like ``decodePrefix(_:)`` but without building the key.
    public static func encodedLength(_ bytes: [UInt8], end: Int? = nil) -> Int? {
        let end = min(end ?? bytes.count, bytes.count)
        var index = 0
        while index + groupSize < end {
            let groupMarker = bytes[index + groupSize]
            if groupMarker == marker {
                index += groupSize + 1
                continue
            }
            let pad = Int(marker &- groupMarker)
            guard groupMarker < marker, pad <= groupSize else { return nil }
            for padIndex in (index + groupSize - pad)..<(index + groupSize) where bytes[padIndex] != 0 { return nil }
            return index + groupSize + 1
        }
        return nil
    }

    /// The data bytes of the whole non-final groups (marker `0xFF`) at the start of `encoded`:
    /// for any key `k`, `encode(k) >= encoded` implies `k >= fullGroupsPrefix(encoded)`, and
    /// `encode(k) < encoded` implies `k < fullGroupsPrefix(encoded)`'s successor range
    /// (`k` is below it or starts with it). Used to bound raw keys by an arbitrary encoded bound.
    public static func fullGroupsPrefix(_ encoded: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        while index + groupSize < encoded.count, encoded[index + groupSize] == marker {
            out.append(contentsOf: encoded[index..<(index + groupSize)])
            index += groupSize + 1
        }
        return out
    }
}

/// The smallest key greater than every key that starts with `prefix` (nil: none, the prefix is
/// empty or all `0xFF`): the exclusive upper bound of a prefix scan.
public func prefixSuccessor(_ prefix: [UInt8]) -> [UInt8]? {
    var out = prefix
    while let last = out.last {
        if last < 0xFF {
            out[out.count - 1] = last + 1
            return out
        }
        out.removeLast()
    }
    return nil
}

extension MemComparable {
    /// The smallest key whose encoding is at or after `bound` (nil: none). Because the encoding
    /// preserves order, `encode(k) >= bound` exactly when `k >= smallestKey(encodedAtLeast: bound)`:
    /// this turns any bound of the encoded space, a whole encoded key or not, into an exact bound
    /// of the raw key space (for a whole encoded key it is the decoded key).
    public static func smallestKey(encodedAtLeast bound: [UInt8]) -> [UInt8]? {
        if let decoded = decode(bound) { return decoded }
        // The whole non-final groups are matched exactly by keys starting with their data.
        let prefix = fullGroupsPrefix(bound)
        let rest = Array(bound[(prefix.count / groupSize * (groupSize + 1))...])
        // Try every length of the key's remainder (0...7 in a final group; 8 meaning a full group
        // followed by more): the smallest remainder of each length whose encoding reaches `rest`.
        var best: [UInt8]?
        for length in 0...groupSize {
            var encodedTail: [UInt8]  // what follows the remainder's data in its encoding
            if length < groupSize {
                encodedTail = [UInt8](repeating: 0, count: groupSize - length) + [marker - UInt8(groupSize - length)]
            } else {
                encodedTail = [marker] + encode([])
            }
            var candidate: [UInt8]
            if rest.count < length {
                candidate = rest + [UInt8](repeating: 0, count: length - rest.count)
            } else {
                candidate = Array(rest[0..<length])
                if (candidate + encodedTail).lexicographicallyPrecedes(rest) {
                    guard let next = incremented(candidate) else { continue }
                    candidate = next
                }
            }
            if best.map({ candidate.lexicographicallyPrecedes($0) }) ?? true { best = candidate }
        }
        if let best { return prefix + best }
        // No key starting with the prefix reaches the bound: the next key after all of them does.
        return prefixSuccessor(prefix)
    }

    /// The next byte string of the same length (big-endian increment), nil when all bytes are 0xFF.
    private static func incremented(_ bytes: [UInt8]) -> [UInt8]? {
        var out = bytes
        var index = out.count - 1
        while index >= 0 {
            if out[index] < 0xFF {
                out[index] += 1
                return out
            }
            out[index] = 0
            index -= 1
        }
        return nil
    }
}
