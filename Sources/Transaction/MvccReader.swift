import Storage

/// Reads MVCC state (locks, write records, values) from one consistent snapshot.
public struct MvccReader: Sendable {
    /// The snapshot read from.
    public let reader: any KVReader

    public init(_ reader: any KVReader) { self.reader = reader }

    /// The lock on `key`, if any.
    public func lock(_ key: [UInt8]) throws -> Lock? {
        try reader.get(.lock, key).map(Lock.init(decoding:))
    }

    /// Every lock held by the transaction that started at `startTs`, in key order.
    public func locks(startTs: UInt64) throws -> [(key: [UInt8], lock: Lock)] {
        let iterator = try reader.makeIterator(.lock, lowerBound: nil, upperBound: nil)
        var found: [(key: [UInt8], lock: Lock)] = []
        iterator.seekToFirst()
        while iterator.isValid {
            let lock = try Lock(decoding: iterator.value)
            if lock.ts == startTs { found.append((iterator.key, lock)) }
            iterator.next()
        }
        try iterator.checkError()
        return found
    }

    /// Calls `body` with each write record of `key` whose commit ts is <= `maxCommitTs`, newest first,
    /// until it returns false.
    func forEachWrite(of key: [UInt8], atOrBefore maxCommitTs: UInt64,
                      _ body: (_ write: Write, _ commitTs: UInt64) throws -> Bool) throws {
        let iterator = try reader.makeIterator(.write, lowerBound: MvccKey.encodeBytes(key),
                                               upperBound: MvccKey.versionsEnd(key), scope: .versionsOfOneKey)
        iterator.seek(MvccKey.encode(key, ts: maxCommitTs))
        while iterator.isValid {
            let commitTs = ~MvccKey.readBigEndian(iterator.key.suffix(8))
            guard try body(Write(decoding: iterator.value), commitTs) else { return }
            iterator.next()
        }
        try iterator.checkError()
    }

    /// The newest write record of `key` of any kind (rollbacks included) and its commit ts.
    public func mostRecentWrite(_ key: [UInt8]) throws -> (write: Write, commitTs: UInt64)? {
        var found: (Write, UInt64)?
        try forEachWrite(of: key, atOrBefore: Timestamp.max) { write, commitTs in
            found = (write, commitTs)
            return false
        }
        return found
    }

    /// The write record that the transaction started at `startTs` left on `key` (a commit or a rollback),
    /// and its commit ts.
    public func write(of key: [UInt8], startTs: UInt64) throws -> (write: Write, commitTs: UInt64)? {
        var found: (Write, UInt64)?
        try forEachWrite(of: key, atOrBefore: Timestamp.max) { write, commitTs in
            if commitTs < startTs { return false }  // commits of this txn are at or after its start
            if write.startTs == startTs {
                found = (write, commitTs)
                return false
            }
            return true
        }
        return found
    }

    /// The value of `key` a snapshot read at `ts` sees, ignoring locks: the newest Put or Delete committed at
    /// or before `ts`. Rollback and Lock records are skipped (they change no value).
    public func value(_ key: [UInt8], at ts: UInt64) throws -> [UInt8]? {
        var visible: Write?
        try forEachWrite(of: key, atOrBefore: ts) { write, _ in
            switch write.kind {
            case .put, .delete:
                visible = write
                return false
            case .rollback, .lock:
                return true
            }
        }
        guard let visible, visible.kind == .put else { return nil }
        return try visible.value(of: key, in: reader)
    }
}
