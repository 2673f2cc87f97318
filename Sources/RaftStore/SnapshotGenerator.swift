import Foundation
import Logging
import Storage
import TinyKVProto

/// Generates snapshots off the raft thread, one at a time, into SST files.
///
/// The raft thread takes the consistent kv-engine view (cheap) and reads the index and
/// term there; this worker then scans the region in that view column family by column
/// family and writes each family's keys (in order) into one SST file, so memory stays
/// bounded whatever the region's size. The result, an `Eraftpb.Snapshot` whose `data` is
/// a small `RaftSnapshotData` (region, files with sizes and CRC-32s, no key/values),
/// goes back to the raft thread through `done`.
final class SnapshotWorker: Sendable {
    let manager: SnapshotManager
    private let queue = DispatchQueue(label: "raftstore-snapshot")
    private let logger: Logger
    private let done: @Sendable (UInt64, Result<Eraftpb.Snapshot, any Error>) -> Void

    init(manager: SnapshotManager, logger: Logger, done: @escaping @Sendable (UInt64, Result<Eraftpb.Snapshot, any Error>) -> Void) {
        self.manager = manager
        self.logger = logger
        self.done = done
    }

    /// Starts generating the snapshot of `region` at `index`/`term` from `view`; `done` hears of it.
    func generate(region: Metapb.Region, index: UInt64, term: UInt64, view: any KVReader) {
        let manager = manager, done = done, logger = logger
        queue.async {
            let started = ContinuousClock.now
            let result = Result { try Self.write(region: region, index: index, term: term, view: view, manager: manager) }
            switch result {
            case .success(let snapshot):
                let data = try? RaftServerpb.RaftSnapshotData(decoding: snapshot.data)
                logger.info("generated snapshot", metadata: ["region": "\(region.id)", "index": "\(index)",
                                                             "bytes": "\(data?.fileSize ?? 0)", "took": "\(ContinuousClock.now - started)"])
            case .failure(let error):
                logger.warning("snapshot generation failed", metadata: ["region": "\(region.id)", "error": "\(error)"])
            }
            done(region.id, result)
        }
    }

    /// Deletes files nobody uses any more, in the background.
    func sweep() {
        let manager = manager
        queue.async { manager.sweep() }
    }

    /// Writes the region's files (`gen_` names) and returns the snapshot describing them.
    static func write(region: Metapb.Region, index: UInt64, term: UInt64, view: any KVReader,
                      manager: SnapshotManager) throws -> Eraftpb.Snapshot {
        let key = SnapshotKey(regionID: region.id, term: term, index: index)
        var files: [RaftServerpb.SnapshotCFFile] = []
        var temporary: [String] = []
        var writer: (cf: ColumnFamily, sst: SSTFileWriter)?
        do {
            func finishWriter() throws {
                guard let (cf, sst) = writer else { return }
                writer = nil
                let size = try sst.finish()
                try SnapshotManager.sync(sst.path)
                let file = RaftServerpb.SnapshotCFFile(cf: cf.name, size: size, checksum: try SnapshotManager.checksum(of: sst.path))
                try FileManager.default.moveItem(atPath: sst.path, toPath: manager.generatedPath(key, file: file))
                files.append(file)
            }
            // RegionData decides membership (and walks the families one after the other, keys in order).
            try RegionData.forEach(region, in: view) { cf, stored, value in
                if writer?.cf != cf {
                    try finishWriter()
                    let path = manager.temporaryPath(for: "\(manager.directory)/gen_\(key)_\(cf.name)")
                    temporary.append(path)
                    writer = (cf, try SSTFileWriter(path: path))
                }
                try writer!.sst.put(stored, value)
            }
            try finishWriter()
            try SnapshotManager.sync(manager.directory)
        } catch {
            for path in temporary { try? FileManager.default.removeItem(atPath: path) }
            manager.deleteGenerated(key, files: files)
            throw error
        }
        let data = RaftServerpb.RaftSnapshotData(region: region, fileSize: files.reduce(0) { $0 + $1.size },
                                                 meta: RaftServerpb.SnapshotMeta(cfFiles: files))
        let metadata = Eraftpb.SnapshotMetadata(confState: Eraftpb.ConfState(nodes: region.peers.map(\.id)), index: index, term: term)
        return Eraftpb.Snapshot(data: data.encode(), metadata: metadata)
    }
}
