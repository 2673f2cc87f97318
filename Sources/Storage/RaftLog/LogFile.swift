#if canImport(Glibc)
import Glibc
#endif

/// A file of the raft log engine: positioned writes, whole-file reads, `fdatasync`.
final class LogFile {
    let path: String
    private var descriptor: Int32

    /// Opens `path` for reading and writing, creating it when `create`.
    init(path: String, create: Bool) throws {
        self.path = path
        descriptor = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0o644)
        guard descriptor >= 0 else { throw Self.error("open", path) }
    }

    deinit { close() }

    func close() {
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
        descriptor = -1
    }

    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: [UInt8], at offset: Int) throws {
        try bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let written = pwrite(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
                if written < 0 {
                    if errno == EINTR { continue }
                    throw Self.error("write", path)
                }
                done += written
            }
        }
    }

    /// Makes the written data durable (not the modification time: `fdatasync`).
    func sync() throws {
        guard fdatasync(descriptor) == 0 else { throw Self.error("fdatasync", path) }
    }

    /// The whole file.
    func readAll() throws -> [UInt8] {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw Self.error("stat", path) }
        let size = Int(status.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        try bytes.withUnsafeMutableBytes { buffer in
            var done = 0
            while done < size {
                let count = pread(descriptor, buffer.baseAddress! + done, size - done, off_t(done))
                if count < 0 {
                    if errno == EINTR { continue }
                    throw Self.error("read", path)
                }
                if count == 0 { break }
                done += count
            }
        }
        return bytes
    }

    /// Writes zeros up to `size` and syncs: later writes overwrite allocated blocks, so their
    /// `fdatasync` need not commit file-system metadata (with a growing file, every sync does).
    func fillWithZeros(to size: Int) throws {
        let chunk = [UInt8](repeating: 0, count: Self.syncChunk)
        var offset = 0
        while offset < size {
            let length = min(chunk.count, size - offset)
            try write(length == chunk.count ? chunk : Array(chunk[..<length]), at: offset)
            offset += length
            try sync()
        }
    }

    /// Background writes sync after this many bytes: the raft thread's small synced writes
    /// then never queue behind a large burst of another file's dirty pages.
    static let syncChunk = 1 << 20

    /// Writes `bytes` from offset 0 in chunks of ``syncChunk``, syncing after each.
    func writeInSyncedChunks(_ bytes: [UInt8]) throws {
        var offset = 0
        repeat {
            let end = min(bytes.count, offset + Self.syncChunk)
            try write(Array(bytes[offset..<end]), at: offset)
            try sync()
            offset = end
        } while offset < bytes.count
    }

    /// Makes renames and creations in `directory` durable.
    static func syncDirectory(_ directory: String) throws {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw error("open", directory) }
        defer { _ = Glibc.close(descriptor) }
        guard fsync(descriptor) == 0 else { throw error("fsync", directory) }
    }

    static func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw error("rename", from) }
    }

    static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw error("unlink", path) }
    }

    private static func error(_ operation: String, _ path: String) -> StorageError {
        .engine("raft log: \(operation) \(path): \(String(cString: strerror(errno)))")
    }
}
