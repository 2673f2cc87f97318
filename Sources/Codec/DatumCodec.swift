/// TinySQL's datum encodings (`util/codec/codec.go`): a flag byte, then the value.
///
/// The comparable form (``appendKey(_:to:)``, `EncodeKey`) is used in index keys and sorts like the
/// values; the value form (``appendValue(_:to:)``, `EncodeValue`) is shorter and is what
/// coprocessor responses, column defaults and group keys use.
public enum DatumCodec {
    public enum Flag {
        public static let null: UInt8 = 0
        public static let bytes: UInt8 = 1
        public static let compactBytes: UInt8 = 2
        public static let int: UInt8 = 3
        public static let uint: UInt8 = 4
        public static let float: UInt8 = 5
        public static let decimal: UInt8 = 6
        public static let duration: UInt8 = 7
        public static let varint: UInt8 = 8
        public static let uvarint: UInt8 = 9
        public static let json: UInt8 = 10
        public static let max: UInt8 = 250
    }

    /// Appends the comparable form of `datum`.
    public static func appendKey(_ datum: Datum, to out: inout [UInt8]) throws {
        switch datum {
        case .null: out.append(Flag.null)
        case .int(let v): out.append(Flag.int); NumberCodec.appendComparableInt(v, to: &out)
        case .uint(let v): out.append(Flag.uint); NumberCodec.appendComparableUint(v, to: &out)
        case .float(let v): out.append(Flag.float); NumberCodec.appendComparableFloat(v, to: &out)
        case .bytes(let v): out.append(Flag.bytes); BytesCodec.appendMemComparable(v, to: &out)
        case .decimal(let v): out.append(Flag.decimal); try appendDecimal(v, to: &out)
        case .time(let v): out.append(Flag.uint); NumberCodec.appendComparableUint(v, to: &out)
        case .duration(let v): out.append(Flag.duration); NumberCodec.appendComparableInt(v, to: &out)
        }
    }

    /// Appends the value form of `datum`.
    public static func appendValue(_ datum: Datum, to out: inout [UInt8]) throws {
        switch datum {
        case .null: out.append(Flag.null)
        case .int(let v): out.append(Flag.varint); NumberCodec.appendVarint(v, to: &out)
        case .uint(let v): out.append(Flag.uvarint); NumberCodec.appendUvarint(v, to: &out)
        case .float(let v): out.append(Flag.float); NumberCodec.appendComparableFloat(v, to: &out)
        case .bytes(let v): out.append(Flag.compactBytes); BytesCodec.appendCompact(v, to: &out)
        case .decimal(let v): out.append(Flag.decimal); try appendDecimal(v, to: &out)
        case .time(let v): out.append(Flag.uint); NumberCodec.appendComparableUint(v, to: &out)
        case .duration(let v): out.append(Flag.duration); NumberCodec.appendComparableInt(v, to: &out)
        }
    }

    /// `EncodeKey` of several datums.
    public static func encodeKey(_ datums: [Datum]) throws -> [UInt8] {
        var out: [UInt8] = []
        for d in datums { try appendKey(d, to: &out) }
        return out
    }

    /// `EncodeValue` of several datums.
    public static func encodeValue(_ datums: [Datum]) throws -> [UInt8] {
        var out: [UInt8] = []
        for d in datums { try appendValue(d, to: &out) }
        return out
    }

    /// `EncodeDecimal`: precision, frac, then the binary form, with the value's own precision.
    static func appendDecimal(_ v: SQLDecimal, to out: inout [UInt8]) throws {
        let (precision, frac) = v.precisionAndFrac
        out.append(UInt8(precision))
        out.append(UInt8(frac))
        try DecimalBinary.append(v, precision: precision, frac: frac, to: &out)
    }

    /// `DecodeDecimal`: precision, frac, binary form (the body of a decimal datum).
    public static func decodeDecimal(_ b: inout ArraySlice<UInt8>) throws -> SQLDecimal {
        guard b.count >= 2 else { throw CodecError("truncated decimal header") }
        let precision = Int(b[b.startIndex]), frac = Int(b[b.startIndex + 1])
        b = b.dropFirst(2)
        return try DecimalBinary.decode(&b, precision: precision, frac: frac)
    }

    /// Decodes one datum of either form, consuming it. Comparable uints decode as `.uint`; callers
    /// that know the column is a DATE/DATETIME re-tag it (see ``Datum/coerced(to:)``).
    public static func decodeOne(_ b: inout ArraySlice<UInt8>) throws -> Datum {
        guard let flag = b.first else { throw CodecError("empty datum") }
        b = b.dropFirst()
        switch flag {
        case Flag.null: return .null
        case Flag.int: return .int(try NumberCodec.decodeComparableInt(&b))
        case Flag.uint: return .uint(try NumberCodec.decodeComparableUint(&b))
        case Flag.float: return .float(try NumberCodec.decodeComparableFloat(&b))
        case Flag.bytes: return .bytes(try BytesCodec.decodeMemComparable(&b))
        case Flag.compactBytes: return .bytes(try BytesCodec.decodeCompact(&b))
        case Flag.decimal: return .decimal(try decodeDecimal(&b))
        case Flag.duration: return .duration(try NumberCodec.decodeComparableInt(&b))
        case Flag.varint: return .int(try NumberCodec.decodeVarint(&b))
        case Flag.uvarint: return .uint(try NumberCodec.decodeUvarint(&b))
        default: throw CodecError("unsupported datum flag \(flag)")
        }
    }

    /// Decodes datums until `bytes` is used up.
    public static func decodeAll(_ bytes: some Collection<UInt8>) throws -> [Datum] {
        var b = ArraySlice(bytes)
        var out: [Datum] = []
        while !b.isEmpty { out.append(try decodeOne(&b)) }
        return out
    }

    /// The bytes of the next datum (either form), without decoding it: `CutOne`.
    public static func cutOne(_ b: inout ArraySlice<UInt8>) throws -> ArraySlice<UInt8> {
        let start = b
        _ = try decodeOne(&b)
        return start.prefix(start.count - b.count)
    }
}
