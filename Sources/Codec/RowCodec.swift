/// TinySQL's row values (`util/rowcodec`, the "new row format", version byte 128):
///
///     [128][flags: bit 0 = large][not-null count: u16 LE][null count: u16 LE]
///     [column ids][value end offsets][values]
///
/// Ids: not-null columns then null ones, each group ascending; one byte each, or u32 LE when
/// large. Offsets: one per not-null column, u16 LE (u32 LE when large). Rows in the old format
/// (alternating column-id and value datums) are read too.
public enum RowCodec {
    public static let version: UInt8 = 128
    static let largeFlag: UInt8 = 1

    /// A decoded row: raw values of the columns it holds, and which ones are NULL.
    public struct Row: Sendable {
        /// Encoded values (row-format encoding) of the not-null columns, by column id.
        public var values: [Int64: ArraySlice<UInt8>] = [:]
        /// Columns stored as NULL.
        public var nulls: Set<Int64> = []
        /// Values of an old-format row, already decoded.
        public var datums: [Int64: Datum] = [:]

        /// The column's value, or nil when the row does not contain the column (use its default).
        public func datum(columnID: Int64, as valueClass: ValueClass) throws -> Datum? {
            if nulls.contains(columnID) { return .null }
            if let d = datums[columnID] { return d.coerced(to: valueClass) }
            guard let raw = values[columnID] else { return nil }
            return try RowCodec.decodeValue(raw, as: valueClass)
        }
    }

    /// Parses a row value.
    public static func decode(_ value: [UInt8]) throws -> Row {
        var row = Row()
        if value.isEmpty || value == [DatumCodec.Flag.null] { return row }
        guard value[0] == version else { return try decodeOld(value) }
        guard value.count >= 6 else { throw CodecError("truncated row header") }
        let large = value[1] & largeFlag != 0
        let notNull = Int(value[2]) | Int(value[3]) << 8
        let nullCount = Int(value[4]) | Int(value[5]) << 8
        let idSize = large ? 4 : 1, offsetSize = large ? 4 : 2
        let idsStart = 6
        let offsetsStart = idsStart + (notNull + nullCount) * idSize
        let dataStart = offsetsStart + notNull * offsetSize
        guard value.count >= dataStart else { throw CodecError("truncated row: \(value.count) bytes") }
        func readLE(_ at: Int, _ size: Int) -> Int {
            var v = 0
            for i in 0..<size { v |= Int(value[at + i]) << (8 * i) }
            return v
        }
        var start = dataStart
        for i in 0..<notNull {
            let id = Int64(readLE(idsStart + i * idSize, idSize))
            let end = dataStart + readLE(offsetsStart + i * offsetSize, offsetSize)
            guard end >= start, end <= value.count else { throw CodecError("row value offset out of range") }
            row.values[id] = value[start..<end]
            start = end
        }
        for i in 0..<nullCount { row.nulls.insert(Int64(readLE(idsStart + (notNull + i) * idSize, idSize))) }
        return row
    }

    static func decodeOld(_ value: [UInt8]) throws -> Row {
        var row = Row()
        var b = value[...]
        while !b.isEmpty {
            guard case .int(let id) = try DatumCodec.decodeOne(&b) else { throw CodecError("old-format row: column id is not an int") }
            let d = try DatumCodec.decodeOne(&b)
            if d.isNull { row.nulls.insert(id) } else { row.datums[id] = d }
        }
        return row
    }

    /// Decodes one column value of the new format.
    public static func decodeValue(_ raw: ArraySlice<UInt8>, as valueClass: ValueClass) throws -> Datum {
        switch valueClass {
        case .int: return .int(try decodeIntLE(raw))
        case .uint: return .uint(try decodeUintLE(raw))
        case .time: return .time(try decodeUintLE(raw))
        case .duration: return .duration(try decodeIntLE(raw))
        case .real:
            var b = raw
            return .float(try NumberCodec.decodeComparableFloat(&b))
        case .decimal:
            var b = raw
            return .decimal(try DatumCodec.decodeDecimal(&b))
        case .string: return .bytes(Array(raw))
        }
    }

    static func decodeIntLE(_ raw: ArraySlice<UInt8>) throws -> Int64 {
        let u = try decodeUintLE(raw)
        switch raw.count {
        case 1: return Int64(Int8(truncatingIfNeeded: u))
        case 2: return Int64(Int16(truncatingIfNeeded: u))
        case 4: return Int64(Int32(truncatingIfNeeded: u))
        default: return Int64(bitPattern: u)
        }
    }

    static func decodeUintLE(_ raw: ArraySlice<UInt8>) throws -> UInt64 {
        guard [1, 2, 4, 8].contains(raw.count) else { throw CodecError("integer of \(raw.count) bytes in row") }
        var v: UInt64 = 0
        for (i, byte) in raw.enumerated() { v |= UInt64(byte) << (8 * UInt64(i)) }
        return v
    }

    /// Encodes a row in the new format, as TinySQL writes it (`rowcodec.Encoder`).
    public static func encode(_ columns: [(id: Int64, value: Datum)]) throws -> [UInt8] {
        let notNull = columns.filter { !$0.value.isNull }.sorted { $0.id < $1.id }
        let nulls = columns.filter { $0.value.isNull }.sorted { $0.id < $1.id }
        var data: [UInt8] = []
        var offsets: [Int] = []
        for c in notNull {
            try appendValue(c.value, to: &data)
            offsets.append(data.count)
        }
        let large = columns.contains { $0.id > 255 } || data.count > 0xFFFF
        guard columns.allSatisfy({ $0.id >= 0 && $0.id <= Int64(UInt32.max) }) else { throw CodecError("column id out of range") }
        var out: [UInt8] = [version, large ? largeFlag : 0]
        func appendLE(_ v: Int, _ size: Int) { for i in 0..<size { out.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
        appendLE(notNull.count, 2)
        appendLE(nulls.count, 2)
        for c in notNull + nulls { appendLE(Int(c.id), large ? 4 : 1) }
        for o in offsets { appendLE(o, large ? 4 : 2) }
        return out + data
    }

    static func appendValue(_ d: Datum, to out: inout [UInt8]) throws {
        switch d {
        case .null: break
        case .int(let v), .duration(let v): appendIntLE(v, to: &out)
        case .uint(let v), .time(let v): appendUintLE(v, to: &out)
        case .float(let v): NumberCodec.appendComparableFloat(v, to: &out)
        case .bytes(let v): out += v
        case .decimal(let v): try DatumCodec.appendDecimal(v, to: &out)
        }
    }

    /// The shortest of 1, 2, 4 or 8 bytes that holds `v`, little-endian.
    static func appendIntLE(_ v: Int64, to out: inout [UInt8]) {
        let size = Int64(Int8.min)...Int64(Int8.max) ~= v ? 1 : Int64(Int16.min)...Int64(Int16.max) ~= v ? 2
            : Int64(Int32.min)...Int64(Int32.max) ~= v ? 4 : 8
        let u = UInt64(bitPattern: v)
        for i in 0..<size { out.append(UInt8(truncatingIfNeeded: u >> (8 * UInt64(i)))) }
    }

    static func appendUintLE(_ v: UInt64, to out: inout [UInt8]) {
        let size = v <= UInt64(UInt8.max) ? 1 : v <= UInt64(UInt16.max) ? 2 : v <= UInt64(UInt32.max) ? 4 : 8
        for i in 0..<size { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }
}
