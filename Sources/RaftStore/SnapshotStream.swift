import Foundation
import Storage
import TinyKVProto

/// The sending half of a `TinyKv/Snapshot` stream: the raft message first (its snapshot's
/// `data` is the small `RaftSnapshotData` naming the files), then the files' bytes, in
/// `meta.cf_files` order, read from disk in chunks of at most ``chunkSize``.
///
/// The gRPC client (``RaftClient``) and the test harness's simulated network both send
/// through this, into the same ``SnapshotReceiver``.
enum SnapshotSender {
    /// Bytes per `SnapshotChunk` (gRPC messages stay far below the 16 MiB limit).
    static let chunkSize = 1 << 20

    /// Streams `message`'s snapshot from `manager`'s generated files through `emit`.
    /// Throws ``SnapshotFileError`` when the files are gone (Raft then generates a new one).
    static func send(_ message: RaftServerpb.RaftMessage, manager: SnapshotManager,
                     emit: (RaftServerpb.SnapshotChunk) async throws -> Void) async throws {
        let data = try RaftServerpb.RaftSnapshotData(decoding: message.message?.snapshot?.data ?? [])
        let key = SnapshotKey(message)
        let files = data.meta?.cfFiles ?? []
        guard manager.beginSend(key, files: files) else { throw SnapshotFileError("snapshot \(key): files gone") }
        defer { manager.endSend(key, files: files) }
        try await emit(RaftServerpb.SnapshotChunk(message: message))
        for file in files {
            let path = manager.generatedPath(key, file: file)
            guard let handle = FileHandle(forReadingAtPath: path) else { throw SnapshotFileError("cannot open \(path)") }
            defer { try? handle.close() }
            var sent: UInt64 = 0
            while sent < file.size {
                let want = Int(min(UInt64(chunkSize), file.size - sent))
                guard let chunk = try handle.read(upToCount: want), !chunk.isEmpty else {
                    throw SnapshotFileError("\(path) is shorter than \(file.size) bytes")
                }
                sent += UInt64(chunk.count)
                try await emit(RaftServerpb.SnapshotChunk(data: [UInt8](chunk)))
            }
        }
    }
}

extension SnapshotSender {
    /// Deletes the files of a snapshot message that will not be sent (no connection, unroutable),
    /// unless another send uses them. Raft hears of the failure and asks for a new snapshot.
    static func discard(_ message: RaftServerpb.RaftMessage, manager: SnapshotManager) {
        let files = (try? RaftServerpb.RaftSnapshotData(decoding: message.message?.snapshot?.data ?? []))?.meta?.cfFiles ?? []
        manager.deleteGenerated(SnapshotKey(message), files: files)
    }
}

/// The receiving half: writes chunks to `rev_` files as they arrive (memory bounded by one
/// chunk), checks each file's size and CRC-32 against `meta.cf_files`, and only then renames
/// the files into place and returns the raft message to step. A stream that breaks, carries
/// too much or too little, or fails a checksum leaves nothing behind (``abort()``).
///
/// Holds one of the manager's receive slots from `init` to ``finish()``/``abort()``.
final class SnapshotReceiver {
    private let manager: SnapshotManager
    private var message: RaftServerpb.RaftMessage?
    private var key = SnapshotKey(regionID: 0, term: 0, index: 0)
    private var files: [RaftServerpb.SnapshotCFFile] = []
    private var data = RaftServerpb.RaftSnapshotData()
    /// The file being written: its index in `files`, handle, bytes so far, checksum.
    private var current: (index: Int, handle: FileHandle, written: UInt64, crc: CRC32)?
    private var nextFile = 0
    private var temporary: [(path: String, final: String)] = []
    private var released = false

    /// Throws when the store already receives as many snapshots as it accepts.
    init(manager: SnapshotManager) throws {
        guard manager.beginReceive() else { throw SnapshotFileError("too many snapshots being received") }
        self.manager = manager
    }

    deinit { abort() }

    /// Takes the next chunk of the stream.
    func accept(_ chunk: RaftServerpb.SnapshotChunk) throws {
        if let header = chunk.message {
            guard message == nil else { throw SnapshotFileError("snapshot stream with two messages") }
            guard let snapshot = header.message?.snapshot, header.message?.msgType == .msgSnapshot else {
                throw SnapshotFileError("snapshot stream without a snapshot message")
            }
            data = try RaftServerpb.RaftSnapshotData(decoding: snapshot.data)
            guard data.region?.id == header.regionId, (snapshot.metadata?.index ?? 0) > 0 else {
                throw SnapshotFileError("snapshot message with a bad region or index")
            }
            files = data.meta?.cfFiles ?? []
            guard files.allSatisfy({ file in ColumnFamily.dataFamilies.contains { $0.name == file.cf } }),
                  Set(files.map(\.cf)).count == files.count else {
                throw SnapshotFileError("snapshot with unknown or repeated column families")
            }
            message = header
            key = SnapshotKey(header)
        }
        guard message != nil else { throw SnapshotFileError("snapshot data before the message") }
        var bytes = chunk.data[...]
        while !bytes.isEmpty {
            if current == nil { try openNext() }
            guard var file = current else { break }
            let size = files[file.index].size
            let take = Int(min(UInt64(bytes.count), size - file.written))
            let piece = bytes.prefix(take)
            piece.withUnsafeBytes { file.crc.update($0) }
            try file.handle.write(contentsOf: piece)
            file.written += UInt64(take)
            bytes = bytes.dropFirst(take)
            current = file
            if file.written == size { try closeCurrent() }
        }
    }

    /// The stream ended: checks that every file is complete, syncs and renames them into place,
    /// and returns the message for Raft.
    func finish() throws -> RaftServerpb.RaftMessage {
        guard let message else { throw SnapshotFileError("empty snapshot stream") }
        // Files of size 0 (none are written, but be strict) complete without data.
        while current == nil, nextFile < files.count, files[nextFile].size == 0 { try openNext(); try closeCurrent() }
        guard current == nil, nextFile == files.count else { throw SnapshotFileError("snapshot \(key): stream ended early") }
        for (path, final) in temporary {
            if FileManager.default.fileExists(atPath: final) { try FileManager.default.removeItem(atPath: final) }
            try FileManager.default.moveItem(atPath: path, toPath: final)
        }
        temporary = []
        let metaPath = manager.receivedMetaPath(key), metaTemporary = manager.temporaryPath(for: metaPath)
        guard FileManager.default.createFile(atPath: metaTemporary, contents: Data(data.encode())) else {
            throw SnapshotFileError("cannot write \(metaTemporary)")
        }
        try SnapshotManager.sync(metaTemporary)
        if FileManager.default.fileExists(atPath: metaPath) { try FileManager.default.removeItem(atPath: metaPath) }
        try FileManager.default.moveItem(atPath: metaTemporary, toPath: metaPath)
        try SnapshotManager.sync(manager.directory)
        release()
        return message
    }

    /// Drops what was received (a broken stream or a bad file); Raft will send again.
    func abort() {
        if let file = current { try? file.handle.close() }
        current = nil
        for (path, _) in temporary { try? FileManager.default.removeItem(atPath: path) }
        temporary = []
        release()
    }

    private func release() {
        if !released { manager.endReceive() }
        released = true
    }

    private func openNext() throws {
        guard nextFile < files.count else { throw SnapshotFileError("snapshot \(key): more data than its files") }
        let final = manager.receivedPath(key, file: files[nextFile])
        let path = manager.temporaryPath(for: final)
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw SnapshotFileError("cannot create \(path)")
        }
        temporary.append((path, final))
        current = (nextFile, handle, 0, CRC32())
        nextFile += 1
    }

    private func closeCurrent() throws {
        guard let file = current else { return }
        current = nil
        try file.handle.synchronize()
        try file.handle.close()
        let expected = files[file.index]
        guard file.crc.value == expected.checksum else {
            throw SnapshotFileError("snapshot \(key): \(expected.cf) checksum mismatch")
        }
    }
}
