import TinyKVProto

/// What a store (and the tools) need from the scheduler, independent of how it is reached.
///
/// ``SchedulerClient`` implements it over gRPC; tests implement it by calling an
/// in-process `SchedulerServer` directly. Methods throw ``SchedulerError`` for an
/// error in the response header and the transport's error when the call failed.
public protocol SchedulerAPI: Sendable {
    /// The cluster id (GetMembers); cached after the first success.
    func clusterID() async throws -> UInt64
    /// A new cluster-unique id.
    func allocID() async throws -> UInt64
    func isBootstrapped() async throws -> Bool
    /// Bootstraps the cluster with its first store. Returns false when another store won the race.
    func bootstrap(store: Metapb.Store) async throws -> Bool
    func putStore(_ store: Metapb.Store) async throws
    /// The store's metadata (address); implementations may cache it.
    func getStore(_ id: UInt64) async throws -> Metapb.Store
    /// Forgets a cached store address (after a connection failure).
    func invalidateStore(_ id: UInt64)
    func storeHeartbeat(_ stats: Schedulerpb.StoreStats) async throws
    /// Queues a region heartbeat on the long-lived RegionHeartbeat stream (opened on first use,
    /// reopened after failures). Never blocks; heartbeats are dropped while the stream is down.
    func regionHeartbeat(_ request: Schedulerpb.RegionHeartbeatRequest)
    /// Where the operator commands received on the RegionHeartbeat stream go.
    func onRegionHeartbeatResponse(_ handler: @escaping @Sendable (Schedulerpb.RegionHeartbeatResponse) -> Void)
    func askSplit(_ region: Metapb.Region) async throws -> Schedulerpb.AskSplitResponse
    /// The region holding `key` and its leader.
    func getRegion(key: [UInt8]) async throws -> (region: Metapb.Region?, leader: Metapb.Peer?)
    func getRegion(id: UInt64) async throws -> (region: Metapb.Region?, leader: Metapb.Peer?)
    /// Stops background streams.
    func close()
}

/// An error the scheduler reported in a response header.
public struct SchedulerError: Error, Sendable, Equatable, CustomStringConvertible {
    public var type: Schedulerpb.ErrorType
    public var message: String

    public init(type: Schedulerpb.ErrorType, message: String) {
        self.type = type
        self.message = message
    }

    /// Throws the header's error, if any.
    public static func check(_ header: Schedulerpb.ResponseHeader?) throws {
        if let error = header?.error, error.type != .ok {
            throw SchedulerError(type: error.type, message: error.message)
        }
    }

    public var description: String { "scheduler error \(type): \(message)" }
}
