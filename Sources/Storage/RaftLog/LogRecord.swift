/// The byte layout of the raft log engine's files.
///
/// A segment is a sequence of records, each 8-byte aligned:
///
/// ```text
/// record  = length:u32 crc:u32 sequence:u64 payload[length] padding
/// payload = operation*
/// put     = 01 varint(key length) key varint(value length) value
/// delete  = 02 varint(key length) key
/// range   = 03 varint(start length) start varint(end length) end
/// ```
///
/// `crc` is the CRC-32 of the sequence number's 8 bytes and the payload. Sequence numbers
/// increase by one per record over the engine's whole life, which is how replay tells the
/// next record from a stale one left in a recycled segment, from zeros, or from a torn write.
enum LogRecord {
    static let headerSize = 16
    static let alignment = 8

    static let putTag: UInt8 = 1
    static let deleteTag: UInt8 = 2
    static let deleteRangeTag: UInt8 = 3

    /// The record for `batch`, ready to write.
    static func encode(_ batch: WriteBatch, sequence: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: headerSize)
        bytes.reserveCapacity(headerSize + batch.byteSize + batch.count * 8 + alignment)
        for operation in batch.operations {
            switch operation {
            case .put(_, let key, let value):
                bytes.append(putTag)
                appendBytes(key, to: &bytes)
                appendBytes(value, to: &bytes)
            case .delete(_, let key):
                bytes.append(deleteTag)
                appendBytes(key, to: &bytes)
            case .deleteRange(_, let start, let end):
                bytes.append(deleteRangeTag)
                appendBytes(start, to: &bytes)
                appendBytes(end, to: &bytes)
            }
        }
        let length = bytes.count - headerSize
        storeLittleEndian(UInt64(truncatingIfNeeded: length), at: 0, width: 4, in: &bytes)
        storeLittleEndian(sequence, at: 8, width: 8, in: &bytes)
        var crc = CRC32()
        bytes.withUnsafeBytes { crc.update(UnsafeRawBufferPointer(rebasing: $0[8...])) }
        storeLittleEndian(UInt64(crc.value), at: 4, width: 4, in: &bytes)
        while bytes.count % alignment != 0 { bytes.append(0) }
        return bytes
    }

    /// A record read back: its sequence number, its payload's place and its padded size.
    struct Header {
        var sequence: UInt64
        var payload: Range<Int>
        var size: Int
    }

    /// The record at `offset` of `bytes`, or nil when none ends there intact (zeros, a torn
    /// write, a stale record's remains or garbage all fail the length or checksum).
    static func header(in bytes: UnsafeRawBufferPointer, at offset: Int) -> Header? {
        guard offset + headerSize <= bytes.count else { return nil }
        let length = Int(loadLittleEndian(bytes, at: offset, width: 4))
        guard length > 0, length <= bytes.count - offset - headerSize else { return nil }
        var crc = CRC32()
        crc.update(UnsafeRawBufferPointer(rebasing: bytes[(offset + 8)..<(offset + headerSize + length)]))
        guard crc.value == UInt32(loadLittleEndian(bytes, at: offset + 4, width: 4)) else { return nil }
        let payloadStart = offset + headerSize
        let padded = (headerSize + length + alignment - 1) / alignment * alignment
        return Header(sequence: loadLittleEndian(bytes, at: offset + 8, width: 8),
                      payload: payloadStart..<(payloadStart + length), size: padded)
    }

    /// Applies a payload's operations to `map`.
    static func apply(payload: UnsafeRawBufferPointer, to map: inout OrderedKeyMap) throws {
        var reader = ByteReader(bytes: payload)
        while !reader.isAtEnd {
            switch try reader.byte() {
            case putTag:
                let key = try reader.lengthPrefixed()
                map.put(key, try reader.lengthPrefixed())
            case deleteTag:
                map.delete(try reader.lengthPrefixed())
            case deleteRangeTag:
                let start = try reader.lengthPrefixed()
                map.deleteRange(from: start, to: try reader.lengthPrefixed())
            case let tag:
                throw StorageError.engine("raft log: unknown operation \(tag) in a record with a valid checksum")
            }
        }
    }

    static func appendBytes(_ value: [UInt8], to bytes: inout [UInt8]) {
        appendVarint(UInt64(value.count), to: &bytes)
        bytes.append(contentsOf: value)
    }

    static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    static func appendLittleEndian(_ value: UInt64, width: Int, to bytes: inout [UInt8]) {
        for index in 0..<width { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))) }
    }

    static func storeLittleEndian(_ value: UInt64, at offset: Int, width: Int, in bytes: inout [UInt8]) {
        for index in 0..<width { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
    }

    static func loadLittleEndian(_ bytes: UnsafeRawBufferPointer, at offset: Int, width: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in (0..<width).reversed() { value = value << 8 | UInt64(bytes[offset + index]) }
        return value
    }
}

/// Reads varint-prefixed byte strings from a buffer, throwing on truncation.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var isAtEnd: Bool { offset >= bytes.count }

    mutating func byte() throws -> UInt8 {
        guard offset < bytes.count else { throw Self.truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let next = try byte()
            guard shift < 64 else { throw Self.truncated }
            value |= UInt64(next & 0x7F) << shift
            if next < 0x80 { return value }
            shift += 7
        }
    }

    mutating func lengthPrefixed() throws -> [UInt8] {
        let length = try varint()
        guard length <= UInt64(bytes.count - offset) else { throw Self.truncated }
        defer { offset += Int(length) }
        return Array(bytes[offset..<(offset + Int(length))])
    }

    mutating func fixed64() throws -> UInt64 {
        guard bytes.count - offset >= 8 else { throw Self.truncated }
        defer { offset += 8 }
        return LogRecord.loadLittleEndian(bytes, at: offset, width: 8)
    }

    static let truncated = StorageError.engine("raft log: truncated data in a record or checkpoint with a valid checksum")
}
