import TinyKVProto

/// A minimal protobuf encoder for the few hand-written messages of this module
/// (reflection and health), whose protos live under proto/grpc/ and are not
/// part of the generated TinyKV bridge.
struct ProtoWriter {
    private(set) var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func tag(_ field: Int, _ wireType: UInt64) {
        varint(UInt64(field) << 3 | wireType)
    }

    /// A varint field (int32 sign-extends like protobuf); skipped at its default.
    mutating func int(_ field: Int, _ value: Int64) {
        guard value != 0 else { return }
        tag(field, 0)
        varint(UInt64(bitPattern: value))
    }

    /// A length-delimited field; `always` writes it even when empty (repeated, oneof, messages).
    mutating func bytes(_ field: Int, _ value: [UInt8], always: Bool = false) {
        guard always || !value.isEmpty else { return }
        tag(field, 2)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func string(_ field: Int, _ value: String, always: Bool = false) {
        bytes(field, Array(value.utf8), always: always)
    }
}

/// A minimal protobuf decoder: the fields of one message, in order; unknown ones can be skipped.
struct ProtoReader {
    enum Value {
        case varint(UInt64)
        case bytes([UInt8])
        case fixed
    }

    struct Malformed: Error {}

    private let data: UnsafeRawBufferPointer
    private var index = 0

    init(_ data: UnsafeRawBufferPointer) { self.data = data }

    private mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard index < data.count, shift < 64 else { throw Malformed() }
            let byte = data[index]
            index += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    /// The next bare varint (inside a packed field), or nil at the end.
    mutating func nextVarint() throws -> UInt64? {
        guard index < data.count else { return nil }
        return try readVarint()
    }

    /// The next field number and value, or nil at the end.
    mutating func next() throws -> (Int, Value)? {
        guard index < data.count else { return nil }
        let key = try readVarint()
        let field = Int(key >> 3)
        guard field > 0 else { throw Malformed() }
        switch key & 7 {
        case 0:
            return (field, .varint(try readVarint()))
        case 1, 5:
            let width = key & 7 == 1 ? 8 : 4
            guard index + width <= data.count else { throw Malformed() }
            index += width
            return (field, .fixed)
        case 2:
            let length = try readVarint()
            guard length <= UInt64(data.count - index) else { throw Malformed() }
            let slice = Array(data[index..<index + Int(length)])
            index += Int(length)
            return (field, .bytes(slice))
        default:
            throw Malformed()
        }
    }
}

extension ProtoReader.Value {
    var string: String? {
        if case .bytes(let b) = self { return String(decoding: b, as: UTF8.self) }
        return nil
    }

    var data: [UInt8]? {
        if case .bytes(let b) = self { return b }
        return nil
    }

    var int: Int64? {
        if case .varint(let v) = self { return Int64(bitPattern: v) }
        return nil
    }
}

extension ProtoMessage {
    /// Decodes with a ``ProtoReader``, turning malformed input into ``ProtoDecodingError``.
    static func read(_ bytes: UnsafeRawBufferPointer, _ body: (inout ProtoReader) throws -> Void) throws {
        var reader = ProtoReader(bytes)
        do {
            try body(&reader)
        } catch {
            throw ProtoDecodingError(messageName: protoName, byteCount: bytes.count)
        }
    }
}
