import Storage

/// Iterates user keys from a start key in order, yielding what a snapshot read at `ts` sees for each:
/// its value, or the lock that blocks the read. Keys deleted (or never written) as of `ts` are skipped.
///
/// Walks the `write` and `lock` column families side by side, so a key that is only locked (its first
/// version is being prewritten) still reports its lock, as TiKV's scanner does.
public final class MvccScanner {
    /// One entry of the scan.
    public enum Entry: Sendable, Hashable {
        case value(key: [UInt8], value: [UInt8])
        case locked(key: [UInt8], lock: Lock)
    }

    private let mvcc: MvccReader
    private let ts: UInt64
    private let writes: EngineIterator
    private let locks: EngineIterator

    public init(_ mvcc: MvccReader, start: [UInt8], ts: UInt64) throws {
        self.mvcc = mvcc
        self.ts = ts
        writes = try mvcc.reader.makeIterator(.write, lowerBound: MvccKey.encodeBytes(start), upperBound: nil)
        writes.seek(MvccKey.encodeBytes(start))
        locks = try mvcc.reader.makeIterator(.lock, lowerBound: start, upperBound: nil)
        locks.seek(start)
    }

    /// The next visible entry, or nil at the end.
    public func next() throws -> Entry? {
        while true {
            let writeKey = writes.isValid ? try MvccKey.userKey(writes.key) : nil
            let lockKey = locks.isValid ? locks.key : nil
            let key: [UInt8]
            switch (writeKey, lockKey) {
            case (nil, nil):
                try writes.checkError()
                try locks.checkError()
                return nil
            case (let w?, nil): key = w
            case (nil, let l?): key = l
            case (let w?, let l?): key = w.lexicographicallyPrecedes(l) ? w : l
            }
            var entry: Entry?
            if lockKey == key {
                let lock = try Lock(decoding: locks.value)
                locks.next()
                if lock.blocksRead(of: key, at: ts) { entry = .locked(key: key, lock: lock) }
            }
            if writeKey == key {
                if entry == nil { entry = try visibleValue(of: key) }
                writes.seek(MvccKey.versionsEnd(key))
            }
            if let entry { return entry }
        }
    }

    /// The value of `key` at `ts`, reading the versions under the write iterator.
    private func visibleValue(of key: [UInt8]) throws -> Entry? {
        writes.seek(MvccKey.encode(key, ts: ts))
        while writes.isValid {
            let (userKey, _) = try MvccKey.decode(writes.key)
            guard userKey == key else { return nil }
            let write = try Write(decoding: writes.value)
            switch write.kind {
            case .put:
                let value = try write.value(of: key, in: mvcc.reader) ?? []
                return .value(key: key, value: value)
            case .delete:
                return nil
            case .rollback, .lock:
                writes.next()
            }
        }
        return nil
    }
}
