import Foundation
import Logging
import Storage

/// Opens a store's raft engine of the configured kind, moving the raft logs of a store
/// written with the other kind into it first.
///
/// | kind | directory |
/// |---|---|
/// | ``RaftEngineKind/raftLog`` | `<path>/raftlog` (``RaftLogEngine``) |
/// | ``RaftEngineKind/rocksdb`` | `<path>/raft` (RocksDB, `default` column family) |
enum RaftEngineDirectory {
    static func open(_ kind: RaftEngineKind, dataPath: String, logger: Logger) throws -> any RaftLogStore {
        let target = path(kind, dataPath)
        let other = RaftEngineKind.allCases.first { $0 != kind }!
        let source = path(other, dataPath)
        let files = FileManager.default
        if files.fileExists(atPath: source) {
            if files.fileExists(atPath: target) {
                // The target appears only by a rename after a complete copy: a crash came
                // before the old engine was removed.
                logger.notice("removing the raft engine logs were moved from", metadata: ["path": "\(source)"])
                try files.removeItem(atPath: source)
            } else {
                try migrate(from: other, at: source, to: kind, at: target, in: dataPath, logger: logger)
            }
        }
        return try openEngine(kind, at: target)
    }

    static func path(_ kind: RaftEngineKind, _ dataPath: String) -> String {
        switch kind {
        case .raftLog: return dataPath + "/raftlog"
        case .rocksdb: return dataPath + "/raft"
        }
    }

    private static func openEngine(_ kind: RaftEngineKind, at path: String) throws -> any RaftLogStore {
        switch kind {
        case .raftLog:
            return try RaftLogEngine(directory: path)
        case .rocksdb:
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            return try RocksEngine(path: path, columnFamilies: [.default])
        }
    }

    /// Copies every key of the old engine into a new one beside it, then puts the new one in
    /// place with a rename (a crash before that leaves the old engine in charge, and the next
    /// start copies again) and removes the old one.
    private static func migrate(from sourceKind: RaftEngineKind, at source: String, to kind: RaftEngineKind, at target: String,
                                in dataPath: String, logger: Logger) throws {
        logger.notice("moving raft logs to the configured raft engine", metadata: [
            "from": "\(sourceKind.rawValue) (\(source))", "to": "\(kind.rawValue) (\(target))"])
        let partial = target + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
        let from = try openEngine(sourceKind, at: source)
        let to: any RaftLogStore
        do { to = try openEngine(kind, at: partial) } catch {
            from.close()
            throw error
        }
        var batch = WriteBatch()
        var copied = 0
        do {
            try from.scan(from: [], to: [UInt8](repeating: 0xFF, count: 32)) { key, value in
                batch.put(.default, key, value)
                copied += 1
                if batch.byteSize >= 4 << 20 {
                    try to.write(batch, sync: false)
                    batch = WriteBatch()
                }
                return true
            }
            try to.write(batch, sync: true)
        } catch {
            to.close()
            from.close()
            throw error
        }
        to.close()
        from.close()
        try FileManager.default.moveItem(atPath: partial, toPath: target)
        try RaftLogEngine.syncDirectory(dataPath)
        try FileManager.default.removeItem(atPath: source)
        logger.notice("raft logs moved", metadata: ["keys": "\(copied)"])
    }
}
