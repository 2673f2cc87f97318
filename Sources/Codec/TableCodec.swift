/// Row and index keys of TinySQL's `tablecodec`:
/// `t{tableID}_r{handle}` and `t{tableID}_i{indexID}{values}[{handle}]`, ids as comparable ints.
public enum TableCodec {
    public static let tablePrefix = UInt8(ascii: "t")
    public static let recordSeparator: [UInt8] = Array("_r".utf8)
    public static let indexSeparator: [UInt8] = Array("_i".utf8)
    /// `t` + table id + `_r` / `_i`.
    public static let prefixLength = 1 + 8 + 2
    /// A row key: the prefix and an 8-byte handle.
    public static let rowKeyLength = prefixLength + 8

    /// `t{tableID}_r`: every row key of the table starts with it.
    public static func recordPrefix(tableID: Int64) -> [UInt8] {
        var out = [tablePrefix]
        NumberCodec.appendComparableInt(tableID, to: &out)
        out += recordSeparator
        return out
    }

    /// The key of the row with `handle`.
    public static func rowKey(tableID: Int64, handle: Int64) -> [UInt8] {
        var out = recordPrefix(tableID: tableID)
        NumberCodec.appendComparableInt(handle, to: &out)
        return out
    }

    /// The handle of a row key (`DecodeRowKey`).
    public static func decodeRowKey(_ key: some Collection<UInt8>) throws -> Int64 {
        let k = Array(key)
        guard k.count == rowKeyLength, k[0] == tablePrefix, Array(k[9..<11]) == recordSeparator else {
            throw CodecError("not a row key: \(k)")
        }
        var rest = k[prefixLength...]
        return try NumberCodec.decodeComparableInt(&rest)
    }

    /// `t{tableID}_i{indexID}`: every key of the index starts with it.
    public static func indexPrefix(tableID: Int64, indexID: Int64) -> [UInt8] {
        var out = [tablePrefix]
        NumberCodec.appendComparableInt(tableID, to: &out)
        out += indexSeparator
        NumberCodec.appendComparableInt(indexID, to: &out)
        return out
    }

    /// An index key: the indexed values in comparable form, then (non-unique indexes, and unique
    /// ones holding a NULL) the handle as a comparable int datum.
    public static func indexKey(tableID: Int64, indexID: Int64, values: [Datum], handle: Int64?) throws -> [UInt8] {
        var out = indexPrefix(tableID: tableID, indexID: indexID)
        for v in values { try DatumCodec.appendKey(v, to: &out) }
        if let handle { try DatumCodec.appendKey(.int(handle), to: &out) }
        return out
    }

    /// The value TinySQL stores under a unique index key: the handle, 8 bytes big-endian.
    public static func uniqueIndexValue(handle: Int64) -> [UInt8] {
        var out: [UInt8] = []
        NumberCodec.appendBigEndian(UInt64(bitPattern: handle), to: &out)
        return out
    }

    /// Splits an index key into the encoded datums of its `columnCount` columns and what follows
    /// them (the handle datum of a non-unique index, or nothing): `CutIndexKeyNew`.
    public static func cutIndexKey(_ key: [UInt8], columnCount: Int) throws -> (values: [ArraySlice<UInt8>], rest: ArraySlice<UInt8>) {
        guard key.count >= prefixLength + 8, key[0] == tablePrefix, Array(key[9..<11]) == indexSeparator else {
            throw CodecError("not an index key: \(key)")
        }
        var rest = key[(prefixLength + 8)...]
        var values: [ArraySlice<UInt8>] = []
        for _ in 0..<columnCount { values.append(try DatumCodec.cutOne(&rest)) }
        return (values, rest)
    }

    /// The smallest key greater than every key that starts with `key` (`PrefixNext`).
    public static func prefixNext(_ key: [UInt8]) -> [UInt8] {
        var out = key
        var i = out.count - 1
        while i >= 0 {
            if out[i] == 0xFF { out[i] = 0; i -= 1 } else { out[i] += 1; return out }
        }
        return key + [0]
    }
}
