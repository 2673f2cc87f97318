import Foundation
import Storage
import Synchronization
import TinyKVProto

/// Identifies one snapshot of a region: its index and term.
struct SnapshotKey: Hashable, Sendable, CustomStringConvertible {
    var regionID: UInt64
    var term: UInt64
    var index: UInt64

    init(regionID: UInt64, term: UInt64, index: UInt64) {
        self.regionID = regionID
        self.term = term
        self.index = index
    }

    /// The key of a snapshot message (region id from the message, term and index from its metadata).
    init(_ message: RaftServerpb.RaftMessage) {
        let metadata = message.message?.snapshot?.metadata
        self.init(regionID: message.regionId, term: metadata?.term ?? 0, index: metadata?.index ?? 0)
    }

    var description: String { "\(regionID)_\(term)_\(index)" }
}

/// A snapshot file problem: missing, short, corrupt. The snapshot is dropped and Raft retries.
struct SnapshotFileError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The store's snapshot files under `<path>/snap/`, like TiKV's `SnapManager`.
///
/// Names: `gen_<region>_<term>_<index>_<cf>_<crc32>.sst` for snapshots this store
/// generated (to send), `rev_<region>_<term>_<index>_<cf>_<crc32>.sst` plus
/// `rev_<region>_<term>_<index>_meta` (the encoded `RaftSnapshotData`) for snapshots
/// received (to apply). The checksum in the name keeps two generations of the same
/// index apart. Files are written under a `.tmp` name and renamed once complete and
/// synced, so a final name always holds a whole, checked file.
///
/// Lifetimes: a generated snapshot is handed to Raft once; its files go when its send
/// finishes (sends register with ``beginSend(_:files:)``); received files go once
/// applied; anything left behind (a crash, a send that never started, a snapshot Raft
/// refused) is swept after ``staleAfter`` and at startup, except the files of a snapshot
/// whose apply must be finished (``cleanUp(keeping:)``).
public final class SnapshotManager: Sendable {
    /// The directory holding the files.
    public let directory: String
    /// Concurrent incoming snapshot streams accepted; more get RESOURCE_EXHAUSTED (the sender retries later).
    let maxReceiving: Int
    /// Age after which an unused file is garbage (longer than the snapshot stream's 600 s deadline).
    let staleAfter: TimeInterval = 15 * 60

    private struct State {
        /// Sends in progress per generated file.
        var sending: [String: Int] = [:]
        var receiving = 0
    }
    private let state = Mutex(State())

    /// Uses (creating it when missing) `directory`; at most `maxReceiving` snapshots are received at once.
    public init(directory: String, maxReceiving: Int = 4) throws {
        self.directory = directory
        self.maxReceiving = maxReceiving
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    // MARK: - Names

    private static func suffix(_ file: RaftServerpb.SnapshotCFFile) -> String {
        "\(file.cf)_\(String(file.checksum, radix: 16))"
    }

    func generatedPath(_ key: SnapshotKey, file: RaftServerpb.SnapshotCFFile) -> String {
        "\(directory)/gen_\(key)_\(Self.suffix(file)).sst"
    }

    func receivedPath(_ key: SnapshotKey, file: RaftServerpb.SnapshotCFFile) -> String {
        "\(directory)/rev_\(key)_\(Self.suffix(file)).sst"
    }

    func receivedMetaPath(_ key: SnapshotKey) -> String { "\(directory)/rev_\(key)_meta" }
    /// A unique temporary name next to `path` (renamed once complete).
    func temporaryPath(for path: String) -> String { "\(path).\(UUID().uuidString).tmp" }

    // MARK: - Sending

    /// Registers a send of the generated snapshot `key`; false when its files are gone (its
    /// send finished, or it was swept): the send fails and Raft asks for a new snapshot.
    func beginSend(_ key: SnapshotKey, files: [RaftServerpb.SnapshotCFFile]) -> Bool {
        let paths = files.map { generatedPath(key, file: $0) }
        return state.withLock { state in
            guard paths.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) else { return false }
            for path in paths { state.sending[path, default: 0] += 1 }
            return true
        }
    }

    /// Ends a send: files no other send uses are deleted.
    func endSend(_ key: SnapshotKey, files: [RaftServerpb.SnapshotCFFile]) {
        let paths = files.map { generatedPath(key, file: $0) }
        state.withLock { state in
            for path in paths {
                let left = (state.sending[path] ?? 1) - 1
                state.sending[path] = left > 0 ? left : nil
                if left <= 0 { try? FileManager.default.removeItem(atPath: path) }
            }
        }
    }

    /// Deletes a generated snapshot nobody sends (never handed out, superseded, or its peer is gone).
    func deleteGenerated(_ key: SnapshotKey, files: [RaftServerpb.SnapshotCFFile]) {
        let paths = files.map { generatedPath(key, file: $0) }
        state.withLock { state in
            for path in paths where state.sending[path] == nil { try? FileManager.default.removeItem(atPath: path) }
        }
    }

    // MARK: - Receiving

    /// Takes one of the ``maxReceiving`` receive slots; false when all are taken.
    func beginReceive() -> Bool {
        state.withLock { state in
            guard state.receiving < maxReceiving else { return false }
            state.receiving += 1
            return true
        }
    }

    func endReceive() {
        state.withLock { $0.receiving -= 1 }
    }

    /// The received snapshot `key`'s data (region and files), checked against the files on disk
    /// (sizes; with `verifyChecksums`, contents too).
    func loadReceived(_ key: SnapshotKey, verifyChecksums: Bool) throws -> RaftServerpb.RaftSnapshotData {
        guard let bytes = FileManager.default.contents(atPath: receivedMetaPath(key)) else {
            throw SnapshotFileError("snapshot \(key): meta file missing")
        }
        let data = try RaftServerpb.RaftSnapshotData(decoding: [UInt8](bytes))
        try checkReceived(key, files: data.meta?.cfFiles ?? [])
        for file in data.meta?.cfFiles ?? [] where verifyChecksums {
            let path = receivedPath(key, file: file)
            if try Self.checksum(of: path) != file.checksum {
                throw SnapshotFileError("snapshot \(key): \(file.cf) checksum mismatch")
            }
        }
        return data
    }

    /// Throws unless every one of `files` was received for `key` with its full size.
    func checkReceived(_ key: SnapshotKey, files: [RaftServerpb.SnapshotCFFile]) throws {
        for file in files {
            let size = (try? FileManager.default.attributesOfItem(atPath: receivedPath(key, file: file))[.size] as? NSNumber)?.uint64Value
            guard size == file.size else { throw SnapshotFileError("snapshot \(key): \(file.cf) file missing or short") }
        }
    }

    /// Deletes a received snapshot's files (applied, or refused).
    func deleteReceived(_ key: SnapshotKey) {
        let prefix = "\(directory)/rev_\(key)_"
        for path in listing() where path.hasPrefix(prefix) { try? FileManager.default.removeItem(atPath: path) }
    }

    // MARK: - Garbage collection

    /// At startup: deletes every file except the received snapshots in `keeping` (whose
    /// apply was interrupted and is finished before the store serves).
    func cleanUp(keeping: Set<SnapshotKey>) {
        let prefixes = keeping.map { "\(directory)/rev_\($0)_" }
        for path in listing() where path.hasSuffix(".tmp") || !prefixes.contains(where: { path.hasPrefix($0) }) {
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// Deletes files older than ``staleAfter`` that no send is using.
    func sweep(now: Date = Date()) {
        state.withLock { state in
            for path in listing() where state.sending[path] == nil {
                guard let modified = try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date,
                      now.timeIntervalSince(modified) > staleAfter else { continue }
                try? FileManager.default.removeItem(atPath: path)
            }
        }
    }

    /// Every file in the directory (full paths).
    func listing() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).map { "\(directory)/\($0)" }
    }

    /// The CRC-32 of a file, read in 1 MiB pieces.
    static func checksum(of path: String) throws -> UInt32 {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw SnapshotFileError("cannot open \(path)") }
        defer { try? handle.close() }
        var crc = CRC32()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            chunk.withUnsafeBytes { crc.update($0) }
        }
        return crc.value
    }

    /// Flushes a file (or directory) to disk.
    static func sync(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SnapshotFileError("cannot open \(path) to sync") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw SnapshotFileError("fsync \(path) failed") }
    }
}
