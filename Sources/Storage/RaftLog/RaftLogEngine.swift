import Dispatch
import Foundation

/// The raft store's log engine: every key and value in memory (``OrderedKeyMap``), made
/// durable by a write-ahead log of preallocated segments and by checkpoints.
///
/// Why not RocksDB for the raft log: each round's batch would go through a memtable skiplist
/// (and later flushes and compactions) only to be deleted after log GC, and RocksDB's WAL grows
/// with every write, so each `fdatasync` also commits the file system's journal. Here a batch is
/// one record appended to a segment whose blocks were written before (zero-filled, or recycled
/// after a checkpoint), so the sync flushes data only, and the in-memory map answers reads.
///
/// Files in the directory:
/// - `wal-<n>`: segments, numbered in write order (``LogRecord``);
/// - `checkpoint-<n>`: the map as of the start of segment `n` (``LogCheckpoint``); segments
///   before `n` are then recycled as `spare-<n>` or deleted;
/// - `*.tmp`: unfinished files, removed at open.
///
/// Recovery loads the newest checkpoint and replays the segments after it, record by record,
/// while each record is intact and carries the next sequence number. The first record that
/// is not ends the log (a write torn by a crash was never acknowledged), as with RocksDB's
/// point-in-time recovery; a later segment that continues past a gap is reported as corruption.
///
/// Thread-safe; the raft store uses it from its raft thread. Checkpoints and spare segments
/// are written on a background queue.
public final class RaftLogEngine: RaftLogStore, @unchecked Sendable {
    /// Sizes and thresholds.
    public struct Options: Sendable {
        /// Bytes per segment (a bigger batch gets a segment of its own, grown as needed).
        public var segmentSize = 16 << 20
        /// A checkpoint is written once the segments since the last one hold this many bytes
        /// and more than twice the live data.
        public var checkpointAfterBytes = 48 << 20
        /// Segments kept for reuse instead of deleted: enough to cover the segments written
        /// between two checkpoints, so that new ones rarely need zero-filling.
        public var spareSegments = 4

        public init() {}
    }

    private let directory: String
    private let options: Options
    private let lock = NSLock()
    private let background = DispatchQueue(label: "raft-log-engine")

    // Guarded by `lock`.
    private var map: OrderedKeyMap
    private var segment: LogFile?
    private var segmentNumber: UInt64
    private var offset = 0
    /// Whether the current segment's blocks were written before it was opened (a spare).
    private var segmentPreallocated = false
    private var nextSequence: UInt64
    private var bytesSinceCheckpoint: Int
    private var checkpointRunning = false
    private var preparingSpare = false
    /// Names of segments ready for reuse.
    private var spares: [String]
    private var freshSpares: UInt64 = 0
    private var failure: String?
    private var closed = false

    /// Opens (or creates) the engine in `directory`, recovering what was written before.
    public init(directory: String, options: Options = Options()) throws {
        self.directory = directory
        self.options = options
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let recovered = try Recovery.run(directory: directory)
        map = recovered.map
        nextSequence = recovered.nextSequence
        segmentNumber = recovered.lastSegment
        bytesSinceCheckpoint = recovered.replayedBytes
        spares = recovered.spares
        freshSpares = recovered.spares.compactMap { Self.number($0, prefix: "spare-fresh-") }.max() ?? 0
        for stale in recovered.staleSegments { recycle(stale) }
        // Write into a fresh segment: the last one may end in a torn record.
        try lock.withLock { try startSegment() }
        lock.withLock { maybeStartCheckpoint() }
    }

    /// Syncs what was written and waits for background work; later calls fail.
    public func close() {
        let open = lock.withLock { () -> Bool in
            defer { closed = true }
            return !closed
        }
        guard open else { return }
        background.sync {}
        lock.withLock {
            try? segment?.sync()
            segment?.close()
            segment = nil
        }
    }

    // MARK: - RaftLogStore

    public func get(_ key: [UInt8]) throws -> [UInt8]? {
        lock.withLock { map.get(key) }
    }

    /// `body` runs with the engine locked: it must not call back into the engine.
    public func scan(from start: [UInt8], to end: [UInt8], _ body: (_ key: [UInt8], _ value: [UInt8]) throws -> Bool) throws {
        try lock.withLock {
            try map.forEach(from: start, to: end) { try body($0.key, $0.value) }
        }
    }

    public func write(_ batch: WriteBatch, sync: Bool) throws {
        guard !batch.isEmpty else { return }
        for operation in batch.operations {
            switch operation {
            case .put(let cf, _, _), .delete(let cf, _), .deleteRange(let cf, _, _):
                guard cf == .default else { throw StorageError.unknownColumnFamily(cf.name) }
            }
        }
        try lock.withLock {
            guard !closed else { throw StorageError.closed }
            if let failure { throw StorageError.writesStopped(cause: failure) }
            let record = LogRecord.encode(batch, sequence: nextSequence)
            do {
                // Switch when full, or as soon as a spare is ready if this segment still grows.
                if offset > 0, offset + record.count > options.segmentSize || (!segmentPreallocated && !spares.isEmpty) {
                    try startSegment()
                }
                guard let segment else { throw StorageError.closed }
                try segment.write(record, at: offset)
                if sync { try segment.sync() }
            } catch {
                // The log on disk may now end in a partial record: refuse every later write
                // (the next open starts a new segment after it).
                failure = "\(error)"
                throw error
            }
            offset += record.count
            nextSequence += 1
            bytesSinceCheckpoint += record.count
            for operation in batch.operations {
                switch operation {
                case .put(_, let key, let value): map.put(key, value)
                case .delete(_, let key): map.delete(key)
                case .deleteRange(_, let start, let end): map.deleteRange(from: start, to: end)
                }
            }
            maybeStartCheckpoint()
        }
    }

    // MARK: - Segments (called with the lock held)

    /// Closes the current segment (synced: a later synced record must not outlive an
    /// unsynced earlier one) and continues in the next, reusing a spare when there is one.
    /// A spare's blocks were written before, so syncing writes into it flushes data only.
    private func startSegment() throws {
        if let segment {
            try segment.sync()
            segment.close()
        }
        segment = nil
        let number = segmentNumber + 1
        let path = Self.segmentPath(directory, number)
        if let spare = spares.popLast() {
            try LogFile.rename(directory + "/" + spare, to: path)
            segment = try LogFile(path: path, create: false)
            segmentPreallocated = true
        } else {
            // None ready (at the first start, or writes outran the background): a new file,
            // which grows with each write until a spare is ready for the next switch.
            segment = try LogFile(path: path, create: true)
            segmentPreallocated = false
        }
        try LogFile.syncDirectory(directory)
        segmentNumber = number
        offset = 0
        prepareSpareIfNeeded()
    }

    /// Zero-fills a spare segment in the background, so the next switch finds one ready.
    private func prepareSpareIfNeeded() {
        guard spares.isEmpty, !preparingSpare, options.spareSegments > 0 else { return }
        preparingSpare = true
        let directory = directory, size = options.segmentSize
        freshSpares += 1
        let name = "spare-fresh-" + LogCheckpoint.hex(freshSpares)
        background.async { [self] in
            let path = directory + "/" + name
            let made: Bool
            do {
                let file = try LogFile(path: path + ".tmp", create: true)
                try file.fillWithZeros(to: size)
                file.close()
                try LogFile.rename(path + ".tmp", to: path)
                made = true
            } catch {
                try? LogFile.remove(path + ".tmp")
                made = false
            }
            lock.withLock {
                preparingSpare = false
                if made { spares.append(name) }
            }
        }
    }

    /// Keeps a segment no longer needed as a spare (its blocks are allocated), or deletes it.
    private func recycle(_ number: UInt64) {
        let path = Self.segmentPath(directory, number)
        let spare = "spare-" + LogCheckpoint.hex(number)
        if spares.count < options.spareSegments, (try? LogFile.rename(path, to: directory + "/" + spare)) != nil {
            spares.append(spare)
        } else {
            try? LogFile.remove(path)
        }
    }

    // MARK: - Checkpoints

    /// Starts a checkpoint in the background when the segments since the last one grew large
    /// against the live data. It covers every segment before the current one: the map is
    /// copied (copy-on-write) right after switching segments.
    private func maybeStartCheckpoint() {
        guard !checkpointRunning, bytesSinceCheckpoint >= max(options.checkpointAfterBytes, 2 * map.byteCount) else { return }
        do { try startSegment() } catch {
            failure = "\(error)"
            return
        }
        checkpointRunning = true
        bytesSinceCheckpoint = 0
        let checkpoint = LogCheckpoint(firstSegment: segmentNumber, nextSequence: nextSequence, map: map)
        let directory = directory
        background.async { [self] in
            let written = (try? checkpoint.write(into: directory)) != nil
            lock.withLock {
                checkpointRunning = false
                guard written else {
                    // The segments still hold everything; try again after as many bytes.
                    try? LogFile.remove(directory + "/" + LogCheckpoint.fileName(firstSegment: checkpoint.firstSegment) + ".tmp")
                    return
                }
                let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
                for name in files {
                    if let number = Self.number(name, prefix: "wal-"), number < checkpoint.firstSegment { recycle(number) }
                    if let number = Self.number(name, prefix: "checkpoint-"), number < checkpoint.firstSegment {
                        try? LogFile.remove(directory + "/" + name)
                    }
                }
            }
        }
    }

    /// Makes renames and creations in `directory` durable.
    public static func syncDirectory(_ directory: String) throws {
        try LogFile.syncDirectory(directory)
    }

    // MARK: - Names

    static func segmentPath(_ directory: String, _ number: UInt64) -> String { directory + "/wal-" + LogCheckpoint.hex(number) }

    static func number(_ name: String, prefix: String) -> UInt64? {
        guard name.hasPrefix(prefix), !name.hasSuffix(".tmp") else { return nil }
        return UInt64(name.dropFirst(prefix.count), radix: 16)
    }
}
