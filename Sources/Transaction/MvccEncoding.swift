import Storage
import TinyKVProto

// MVCC storage layout (internal format, the same ideas and bytes as TinyKV's `kv/transaction/mvcc`).
//
// Column families:
//
//   default  key = encodeKey(userKey, startTs)   value = the user value written by the transaction started at startTs
//   lock     key = userKey (raw)                 value = Lock.encode()
//   write    key = encodeKey(userKey, commitTs)  value = Write.encode()
//
// encodeKey(userKey, ts) = memcomparable(userKey) ++ bigEndian(~ts)
//
// memcomparable (TiDB's codec.EncodeBytes): the key is cut into groups of 8 bytes; each group is written
// padded with 0x00 to 8 bytes and followed by a marker byte 0xFF - padCount. A key whose length is a
// multiple of 8 (the empty key included) ends with an all-padding group (8 x 0x00, marker 0xF7). The
// result sorts exactly like the raw keys and no encoded key is a prefix of another's, so appending the
// timestamp keeps all versions of one user key together and in user-key order. Storing ~ts (bitwise
// not) makes newer versions sort first: seeking to encodeKey(key, ts) lands on the newest version
// whose timestamp is <= ts.
//
// Write value (9 bytes): kind (1 byte: Put = 1, Delete = 2, Rollback = 3, Lock = 4) ++ bigEndian(startTs).
// A rollback record is stored at commitTs == startTs of the rolled-back transaction.
//
// Lock value (primary.count + 17 bytes): primary ++ kind (1 byte, a WriteKind) ++ bigEndian(ts) ++ bigEndian(ttl).
//
// Short values (as TiKV stores them): a Put whose value has at most `ShortValue.maxLength` bytes keeps
// it in its lock and then in its write record, not in `default`, which saves a write at prewrite and
// a read for every read of the key. Such records set bit 0x80 of the kind byte (`ShortValue.flag`):
//   write: (kind | 0x80) ++ bigEndian(startTs) ++ value
//   lock:  primary ++ value ++ bigEndian32(value.count) ++ (kind | 0x80) ++ bigEndian(ts) ++ bigEndian(ttl)
// The kind byte stays 17 bytes from the end of a lock and first in a write record, so records
// written before short values existed (flag clear) decode as before.
//
// Timestamps are TSO timestamps: the physical time in milliseconds shifted left by 18 bits, plus a
// logical counter in the low 18 bits (see ``Timestamp``).

/// A malformed key or value in the MVCC column families.
public struct MvccDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Helpers for TSO timestamps.
public enum Timestamp {
    /// The largest timestamp; a read at `max` sees the latest committed data.
    public static let max = UInt64.max
    /// Bits of the logical part.
    public static let logicalBits: UInt64 = 18

    /// The physical part of `ts`, in milliseconds.
    public static func physical(_ ts: UInt64) -> UInt64 { ts >> logicalBits }

    /// A timestamp from a physical time in milliseconds and a logical counter.
    public static func compose(physical: UInt64, logical: UInt64) -> UInt64 {
        (physical << logicalBits) | (logical & ((1 << logicalBits) - 1))
    }
}

/// The key encodings of the `default` and `write` column families.
public enum MvccKey {
    private static let groupSize = 8
    private static let marker: UInt8 = 0xFF

    /// The memcomparable encoding of `key`.
    public static func encodeBytes(_ key: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((key.count / groupSize + 1) * (groupSize + 1) + 8)
        appendEncodedBytes(key, to: &out)
        return out
    }

    private static func appendEncodedBytes(_ key: [UInt8], to out: inout [UInt8]) {
        MemComparable.append(key, to: &out)
    }

    /// Decodes a memcomparable key from the start of `encoded`; returns it and the bytes after it.
    public static func decodeBytes(_ encoded: ArraySlice<UInt8>) throws -> (key: [UInt8], rest: ArraySlice<UInt8>) {
        var key: [UInt8] = []
        var index = encoded.startIndex
        while true {
            guard encoded.endIndex - index >= groupSize + 1 else {
                throw MvccDecodingError("truncated memcomparable key")
            }
            let groupMarker = encoded[index + groupSize]
            let pad = Int(marker - groupMarker)
            guard pad <= groupSize else { throw MvccDecodingError("bad memcomparable marker \(groupMarker)") }
            key.append(contentsOf: encoded[index..<(index + groupSize - pad)])
            if pad > 0 {
                guard encoded[(index + groupSize - pad)..<(index + groupSize)].allSatisfy({ $0 == 0 }) else {
                    throw MvccDecodingError("bad memcomparable padding")
                }
                return (key, encoded[(index + groupSize + 1)...])
            }
            index += groupSize + 1
        }
    }

    /// `encodeBytes(key) ++ bigEndian(~ts)`: the key of version `ts` of `key`.
    public static func encode(_ key: [UInt8], ts: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((key.count / groupSize + 1) * (groupSize + 1) + 8)
        appendEncodedBytes(key, to: &out)
        appendBigEndian(~ts, to: &out)
        return out
    }

    /// The user key and timestamp of an encoded key.
    public static func decode(_ encoded: [UInt8]) throws -> (key: [UInt8], ts: UInt64) {
        let (key, rest) = try decodeBytes(encoded[...])
        guard rest.count == 8 else { throw MvccDecodingError("encoded key has \(rest.count) timestamp bytes") }
        return (key, ~readBigEndian(rest))
    }

    /// The user key of an encoded key.
    public static func userKey(_ encoded: [UInt8]) throws -> [UInt8] {
        try decode(encoded).key
    }

    /// An exclusive upper bound just after every version of `key` (and before any other user key).
    static func versionsEnd(_ key: [UInt8]) -> [UInt8] {
        var out = encodeBytes(key)
        out.append(contentsOf: repeatElement(0xFF, count: 9))
        return out
    }

    static func appendBigEndian(_ value: UInt64, to out: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    static func readBigEndian(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.prefix(8).reduce(0) { ($0 << 8) | UInt64($1) }
    }
}

/// What a committed write record or a lock does to its key.
public enum WriteKind: UInt8, Sendable, Hashable, CustomStringConvertible {
    case put = 1
    case delete = 2
    case rollback = 3
    /// A lock-only mutation (`Op.Lock`): conflicts like a write but changes no value.
    case lock = 4

    /// The kind a mutation of `op` writes; nil for operations a prewrite does not accept.
    public init?(op: Kvrpcpb.Op) {
        switch op {
        case .put: self = .put
        case .del: self = .delete
        case .lock: self = .lock
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .put: return "Put"
        case .delete: return "Delete"
        case .rollback: return "Rollback"
        case .lock: return "Lock"
        }
    }
}

/// Where a Put keeps its value: values this long or shorter go in the lock and write records
/// (TiKV's limit), longer ones in the `default` column family.
public enum ShortValue {
    public static let maxLength = 255
    /// Set in a record's kind byte when the record carries a value.
    static let flag: UInt8 = 0x80

    /// The value to keep in the records of a mutation of `kind` writing `value`; nil: `default` holds it.
    public static func inline(_ kind: WriteKind, _ value: [UInt8], maxLength: Int = maxLength) -> [UInt8]? {
        kind == .put && value.count <= maxLength ? value : nil
    }

    static func kind(_ byte: UInt8) throws -> (kind: WriteKind, hasValue: Bool) {
        guard let kind = WriteKind(rawValue: byte & ~flag) else { throw MvccDecodingError("unknown write kind \(byte)") }
        return (kind, byte & flag != 0)
    }
}

/// A record in the `write` column family, at `encodeKey(key, commitTs)`.
public struct Write: Sendable, Hashable {
    /// The start timestamp of the transaction that wrote it; its value is at `encodeKey(key, startTs)`
    /// unless it is in ``shortValue``.
    public var startTs: UInt64
    public var kind: WriteKind
    /// A Put's value kept in the record itself (see ``ShortValue``).
    public var shortValue: [UInt8]?

    public init(startTs: UInt64, kind: WriteKind, shortValue: [UInt8]? = nil) {
        self.startTs = startTs
        self.kind = kind
        self.shortValue = shortValue
    }

    /// `kind ++ bigEndian(startTs)`, then the short value if any.
    public func encode() -> [UInt8] {
        var out: [UInt8] = [shortValue == nil ? kind.rawValue : kind.rawValue | ShortValue.flag]
        out.reserveCapacity(9 + (shortValue?.count ?? 0))
        MvccKey.appendBigEndian(startTs, to: &out)
        if let shortValue { out.append(contentsOf: shortValue) }
        return out
    }

    /// Decodes a `write` CF value; throws ``MvccDecodingError`` when malformed.
    public init(decoding bytes: [UInt8]) throws {
        guard bytes.count >= 9 else { throw MvccDecodingError("write record has \(bytes.count) bytes, expected at least 9") }
        let (kind, hasValue) = try ShortValue.kind(bytes[0])
        guard hasValue || bytes.count == 9 else { throw MvccDecodingError("write record has \(bytes.count) bytes, expected 9") }
        self.kind = kind
        startTs = MvccKey.readBigEndian(bytes[1...])
        shortValue = hasValue ? Array(bytes[9...]) : nil
    }

    /// The value this Put wrote: its short value, or else the one in `default`.
    func value(of key: [UInt8], in reader: any KVReader) throws -> [UInt8]? {
        if let shortValue { return shortValue }
        return try reader.get(.default, MvccKey.encode(key, ts: startTs))
    }
}

/// A Percolator lock in the `lock` column family, keyed by the raw user key.
public struct Lock: Sendable, Hashable {
    /// The primary key of the transaction holding the lock.
    public var primary: [UInt8]
    /// The start timestamp of the transaction holding the lock.
    public var ts: UInt64
    /// Milliseconds after the physical time of `ts` the lock may be considered abandoned.
    public var ttl: UInt64
    /// What committing the lock writes.
    public var kind: WriteKind
    /// A Put's value kept in the lock (and, once committed, in the write record; see ``ShortValue``).
    public var shortValue: [UInt8]?

    public init(primary: [UInt8], ts: UInt64, ttl: UInt64, kind: WriteKind, shortValue: [UInt8]? = nil) {
        self.primary = primary
        self.ts = ts
        self.ttl = ttl
        self.kind = kind
        self.shortValue = shortValue
    }

    /// `primary ++ kind ++ bigEndian(ts) ++ bigEndian(ttl)`, with a short value between the primary
    /// and the kind (see the layout above).
    public func encode() -> [UInt8] {
        var out = primary
        out.reserveCapacity(primary.count + 17 + (shortValue.map { $0.count + 4 } ?? 0))
        if let shortValue {
            out.append(contentsOf: shortValue)
            for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: shortValue.count >> shift)) }
            out.append(kind.rawValue | ShortValue.flag)
        } else {
            out.append(kind.rawValue)
        }
        MvccKey.appendBigEndian(ts, to: &out)
        MvccKey.appendBigEndian(ttl, to: &out)
        return out
    }

    /// Decodes a `lock` CF value; throws ``MvccDecodingError`` when malformed.
    public init(decoding bytes: [UInt8]) throws {
        guard bytes.count >= 17 else { throw MvccDecodingError("lock has \(bytes.count) bytes, expected at least 17") }
        let kindIndex = bytes.count - 17
        let (kind, hasValue) = try ShortValue.kind(bytes[kindIndex])
        var primaryEnd = kindIndex
        if hasValue {
            guard kindIndex >= 4 else { throw MvccDecodingError("lock too short for its short value's length") }
            let count = Int(bytes[(kindIndex - 4)..<kindIndex].reduce(UInt32(0)) { ($0 << 8) | UInt32($1) })
            guard count <= kindIndex - 4 else { throw MvccDecodingError("lock's short value of \(count) bytes overruns it") }
            primaryEnd = kindIndex - 4 - count
            shortValue = Array(bytes[primaryEnd..<(kindIndex - 4)])
        } else {
            shortValue = nil
        }
        primary = Array(bytes[0..<primaryEnd])
        self.kind = kind
        ts = MvccKey.readBigEndian(bytes[(kindIndex + 1)...])
        ttl = MvccKey.readBigEndian(bytes[(kindIndex + 9)...])
    }

    /// The wire description of this lock on `key`.
    public func info(key: [UInt8]) -> Kvrpcpb.LockInfo {
        Kvrpcpb.LockInfo(primaryLock: primary, lockVersion: ts, key: key, lockTtl: ttl)
    }

    /// Whether the lock blocks a read of `key` at `readTs` (TinyKV's `IsLockedFor`): locks of transactions
    /// that started after the read do not; a read at ``Timestamp/max`` only waits for primary locks.
    public func blocksRead(of key: [UInt8], at readTs: UInt64) -> Bool {
        if readTs == Timestamp.max && key != primary { return false }
        return ts <= readTs
    }

    /// Whether the lock's TTL has run out at `currentTs` (physical times in ms, `ts >> 18`).
    public func isExpired(at currentTs: UInt64) -> Bool {
        let (deadline, overflow) = Timestamp.physical(ts).addingReportingOverflow(ttl)
        return !overflow && deadline <= Timestamp.physical(currentTs)
    }
}
