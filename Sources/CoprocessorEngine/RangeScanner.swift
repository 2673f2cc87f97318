import Storage
import TinyKVProto
import Transaction

/// The key/value pairs visible at `startTs` in the request's key ranges, in ascending or
/// descending key order. A lock of a transaction that started at or before `startTs` on a key in
/// range stops the scan with ``CoprocessorError/locked(_:)``.
final class RangeScanner {
    private let mvcc: MvccReader
    private let startTs: UInt64
    private let desc: Bool
    private var ranges: [Coprocessor.KeyRange]
    private var scanner: MvccScanner?
    private var end: [UInt8] = []
    /// Descending scans buffer one range (MvccScanner only walks forward), newest key last.
    private var buffered: [(key: [UInt8], value: [UInt8])] = []

    init(mvcc: MvccReader, ranges: [Coprocessor.KeyRange], startTs: UInt64, desc: Bool) {
        self.mvcc = mvcc
        self.startTs = startTs
        self.desc = desc
        // Ranges arrive ascending; a descending scan visits them last first.
        self.ranges = desc ? ranges : ranges.reversed()
    }

    /// The next visible pair, or nil when every range is done.
    func next() throws -> (key: [UInt8], value: [UInt8])? {
        while true {
            if desc {
                if let pair = buffered.popLast() { return pair }
                guard let range = ranges.popLast() else { return nil }
                buffered = try scanAll(range)
                continue
            }
            if let scanner, let pair = try nextInRange(scanner) { return pair }
            guard let range = ranges.popLast() else { return nil }
            scanner = try MvccScanner(mvcc, start: range.start, ts: startTs)
            end = range.end
        }
    }

    private func nextInRange(_ scanner: MvccScanner) throws -> (key: [UInt8], value: [UInt8])? {
        guard let entry = try scanner.next() else { self.scanner = nil; return nil }
        switch entry {
        case .value(let key, let value):
            if !end.isEmpty && !key.lexicographicallyPrecedes(end) { self.scanner = nil; return nil }
            return (key, value)
        case .locked(let key, let lock):
            if !end.isEmpty && !key.lexicographicallyPrecedes(end) { self.scanner = nil; return nil }
            throw CoprocessorError.locked(lock.info(key: key))
        }
    }

    private func scanAll(_ range: Coprocessor.KeyRange) throws -> [(key: [UInt8], value: [UInt8])] {
        let s = try MvccScanner(mvcc, start: range.start, ts: startTs)
        end = range.end
        scanner = s
        var out: [(key: [UInt8], value: [UInt8])] = []
        while let pair = try nextInRange(s) { out.append(pair) }
        return out
    }
}
