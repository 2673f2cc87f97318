import Storage
import TinyKVProto

/// Where transactional commands read and write.
///
/// Standalone: a RocksDB snapshot and the group committer (``StandaloneTxnStorage``). Raft store: a
/// read-index snapshot of the region and one Raft proposal per batch.
public protocol TxnStorage: Sendable {
    /// A consistent snapshot for the region of `context`.
    ///
    /// - Throws: ``RegionError`` for routing problems (not leader, epoch mismatch, ...); any other error
    ///   is reported to the client as a region error carrying only a message.
    func reader(_ context: Kvrpcpb.Context) async throws -> any KVReader

    /// Applies `batch` atomically and durably.
    func write(_ context: Kvrpcpb.Context, _ batch: WriteBatch) async throws
}

/// A routing error thrown by a ``TxnStorage``; the service returns it as the response's `region_error`.
public struct RegionError: Error, Sendable, Hashable {
    public var error: Errorpb.Error

    public init(_ error: Errorpb.Error) { self.error = error }
}

/// A ``TxnStorage`` over one local engine, for the standalone server: the context is ignored, reads
/// use an engine snapshot and writes go through a ``GroupCommitter`` (synced, one fsync per group).
public final class StandaloneTxnStorage: TxnStorage {
    private let engine: any KVEngine
    private let committer: GroupCommitter

    /// Reads `engine` snapshots; writes through `committer` (which must write to the same engine).
    public init(engine: any KVEngine, committer: GroupCommitter) {
        self.engine = engine
        self.committer = committer
    }

    public func reader(_ context: Kvrpcpb.Context) async throws -> any KVReader {
        engine.snapshot()
    }

    public func write(_ context: Kvrpcpb.Context, _ batch: WriteBatch) async throws {
        if batch.isEmpty { return }
        try await committer.commit(batch)
    }
}
