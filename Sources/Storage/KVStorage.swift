import TinyKVProto

/// Where the KV services read and write: one node's engine in standalone mode,
/// or a region of the raft store.
///
/// Implementations route by `context` (region id, epoch, peer) and throw
/// ``RegionError`` when the request must go elsewhere. Every request names the keys it
/// touches and their ``KeySpace`` (`keys`): a multi-region store checks them against the
/// region (`key_not_in_region`) in that space, and finds the region by them when the
/// context's region id is 0. One node's storage holds every key and ignores them.
public protocol KVStorage: Sendable {
    /// A consistent, linearizable snapshot for the region of `context`, after checking that
    /// `keys` belong to it.
    func reader(_ context: Kvrpcpb.Context, for keys: RequestKeys) async throws -> any KVReader

    /// Applies `batch` atomically and durably; returns once it is committed. `keys` are the
    /// request's keys (the batch's stored keys are checked against the region too).
    func write(_ context: Kvrpcpb.Context, for keys: RequestKeys, _ batch: WriteBatch) async throws
}

extension KVStorage {
    /// A snapshot for a request that names its region and has no keys to check or route by
    /// (tools and tests). With region id 0 it only works on a store with a single region.
    public func reader(_ context: Kvrpcpb.Context) async throws -> any KVReader {
        try await reader(context, for: RequestKeys(.raw))
    }

    /// A write whose batch keys are checked against the region of `context` at proposal; see
    /// ``reader(_:)`` for region id 0.
    public func write(_ context: Kvrpcpb.Context, _ batch: WriteBatch) async throws {
        try await write(context, for: RequestKeys(.raw), batch)
    }
}

/// A routing error for the client: wrong leader, stale epoch, key not in region...
/// Services return it in the response's `region_error` field.
public struct RegionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var error: Errorpb.Error

    public init(_ error: Errorpb.Error) { self.error = error }

    public var description: String { error.message.isEmpty ? "region error \(error)" : error.message }
}

extension Errorpb.Error {
    /// The `region_error` for any error thrown by storage: routing errors as they are,
    /// anything else as a message the client can report and retry on.
    public static func from(_ error: any Error) -> Errorpb.Error {
        if let region = error as? RegionError { return region.error }
        return Errorpb.Error(message: "\(error)")
    }
}

/// A single node's engine: every key is local, writes go through group commit.
public final class StandaloneStorage: KVStorage {
    public let engine: any KVEngine
    private let committer: GroupCommitter

    /// Reads snapshots of `engine`; writes through `committer` (which must write to the
    /// same engine), or a new one.
    public init(engine: any KVEngine, committer: GroupCommitter? = nil) {
        self.engine = engine
        self.committer = committer ?? GroupCommitter(engine: engine)
    }

    public func reader(_ context: Kvrpcpb.Context, for keys: RequestKeys) async throws -> any KVReader {
        try engine.snapshot()
    }

    public func write(_ context: Kvrpcpb.Context, for keys: RequestKeys, _ batch: WriteBatch) async throws {
        if batch.isEmpty { return }
        try await committer.commit(batch)
    }

    /// Stops accepting writes once the queued ones are done.
    public func stop() { committer.stop() }
}
