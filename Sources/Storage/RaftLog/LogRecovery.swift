import Foundation

extension RaftLogEngine {
    /// What opening a directory found: the map, where writing continues, and files to reuse.
    struct Recovery {
        var map = OrderedKeyMap()
        var nextSequence: UInt64 = 1
        /// The highest segment number in use (new writes go to the next one).
        var lastSegment: UInt64 = 0
        var replayedBytes = 0
        /// Names of spare segments.
        var spares: [String] = []
        /// Segments a checkpoint already covers.
        var staleSegments: [UInt64] = []

        /// Loads the newest checkpoint and replays the segments after it.
        static func run(directory: String) throws -> Recovery {
            var recovery = Recovery()
            let names = try FileManager.default.contentsOfDirectory(atPath: directory)
            for name in names where name.hasSuffix(".tmp") { try LogFile.remove(directory + "/" + name) }
            recovery.spares = names.filter { $0.hasPrefix("spare-") && !$0.hasSuffix(".tmp") }
            let segments = names.compactMap { RaftLogEngine.number($0, prefix: "wal-") }.sorted()
            var firstSegment: UInt64 = 0
            if let newest = names.compactMap({ RaftLogEngine.number($0, prefix: "checkpoint-") }).max() {
                let checkpoint = try LogCheckpoint.read(directory + "/" + LogCheckpoint.fileName(firstSegment: newest))
                recovery.map = checkpoint.map
                recovery.nextSequence = checkpoint.nextSequence
                firstSegment = checkpoint.firstSegment
                recovery.lastSegment = firstSegment > 0 ? firstSegment - 1 : 0
                for name in names {
                    if let number = RaftLogEngine.number(name, prefix: "checkpoint-"), number < newest {
                        try LogFile.remove(directory + "/" + name)
                    }
                }
            }
            recovery.staleSegments = segments.filter { $0 < firstSegment }
            for number in segments where number >= firstSegment {
                recovery.lastSegment = max(recovery.lastSegment, number)
                let file = try LogFile(path: RaftLogEngine.segmentPath(directory, number), create: false)
                let bytes = try file.readAll()
                let replayed = try bytes.withUnsafeBytes { buffer in
                    // A segment continues the log, or holds nothing of it (zeros, a recycled
                    // segment's old records, a segment opened just before a crash): skipped.
                    if let header = LogRecord.header(in: buffer, at: 0), header.sequence > recovery.nextSequence {
                        throw gap(number, found: header.sequence, expected: recovery.nextSequence)
                    }
                    var offset = 0
                    while let header = LogRecord.header(in: buffer, at: offset), header.sequence == recovery.nextSequence {
                        try LogRecord.apply(payload: UnsafeRawBufferPointer(rebasing: buffer[header.payload]), to: &recovery.map)
                        recovery.nextSequence += 1
                        offset += header.size
                    }
                    recovery.replayedBytes += offset
                    return offset > 0
                }
                // What was replayed may be in the page cache only (the process, not the machine,
                // crashed): make it durable before anything is written after it.
                if replayed { try file.sync() }
                file.close()
            }
            return recovery
        }

        private static func gap(_ segment: UInt64, found: UInt64, expected: UInt64) -> StorageError {
            .engine("raft log: segment \(LogCheckpoint.hex(segment)) starts at record \(found) but the log before it ends at "
                    + "record \(expected - 1): records in between are missing or damaged")
        }
    }
}
