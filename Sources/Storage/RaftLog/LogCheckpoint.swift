/// A checkpoint of the raft log engine: every key and value as of the start of a segment.
///
/// ```text
/// checkpoint = magic:"TKVRLCP1" firstSegment:u64 nextSequence:u64 count:u64
///              (varint(key length) key varint(value length) value)* crc:u32
/// ```
///
/// Written to a temporary name, synced, then renamed: a file with the final name is
/// complete, and replay starts at `firstSegment` expecting `nextSequence`.
struct LogCheckpoint {
    static let magic = Array("TKVRLCP1".utf8)

    var firstSegment: UInt64
    var nextSequence: UInt64
    var map: OrderedKeyMap

    static func fileName(firstSegment: UInt64) -> String { "checkpoint-" + hex(firstSegment) }

    /// Writes the checkpoint durably into `directory` (temporary file, sync, rename, directory sync).
    func write(into directory: String) throws {
        var bytes = Self.magic
        bytes.reserveCapacity(map.byteCount + map.count * 4 + 64)
        for value in [firstSegment, nextSequence, UInt64(map.count)] { LogRecord.appendLittleEndian(value, width: 8, to: &bytes) }
        map.forEach { pair in
            LogRecord.appendBytes(pair.key, to: &bytes)
            LogRecord.appendBytes(pair.value, to: &bytes)
        }
        LogRecord.appendLittleEndian(UInt64(CRC32.checksum(bytes)), width: 4, to: &bytes)
        let path = directory + "/" + Self.fileName(firstSegment: firstSegment)
        let file = try LogFile(path: path + ".tmp", create: true)
        try file.writeInSyncedChunks(bytes)
        file.close()
        try LogFile.rename(path + ".tmp", to: path)
        try LogFile.syncDirectory(directory)
    }

    /// Reads a checkpoint written by ``write(into:)``; a damaged one is an error.
    static func read(_ path: String) throws -> LogCheckpoint {
        let file = try LogFile(path: path, create: false)
        let bytes = try file.readAll()
        file.close()
        return try bytes.withUnsafeBytes { buffer in
            guard buffer.count >= magic.count + 28, Array(buffer[..<magic.count]) == magic else {
                throw StorageError.engine("raft log: \(path) is not a checkpoint")
            }
            let body = UnsafeRawBufferPointer(rebasing: buffer[..<(buffer.count - 4)])
            guard CRC32.checksum(Array(body)) == UInt32(LogRecord.loadLittleEndian(buffer, at: buffer.count - 4, width: 4)) else {
                throw StorageError.engine("raft log: checkpoint \(path) is damaged (checksum mismatch)")
            }
            var reader = ByteReader(bytes: body)
            reader.offset = magic.count
            let firstSegment = try reader.fixed64()
            let nextSequence = try reader.fixed64()
            let count = try reader.fixed64()
            var map = OrderedKeyMap()
            for _ in 0..<count {
                let key = try reader.lengthPrefixed()
                map.put(key, try reader.lengthPrefixed())
            }
            guard reader.isAtEnd else { throw StorageError.engine("raft log: checkpoint \(path) has trailing data") }
            return LogCheckpoint(firstSegment: firstSegment, nextSequence: nextSequence, map: map)
        }
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
