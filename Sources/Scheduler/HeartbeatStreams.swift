import Synchronization
import TinyKVProto

/// The open RegionHeartbeat streams, keyed by the store whose leaders report on them.
///
/// PD sends a region's commands on the stream of the region leader's store; a store
/// binds itself by sending heartbeats. Each stream has an outbox (an AsyncStream)
/// drained by one task, so commands from the scheduling loop and from heartbeat
/// handling never call the transport's `send` concurrently.
final class HeartbeatStreams: Sendable {
    typealias Outbox = AsyncStream<Schedulerpb.RegionHeartbeatResponse>.Continuation

    private struct Binding {
        var streamID: UInt64
        var outbox: Outbox
    }

    private struct State {
        var nextStreamID: UInt64 = 1
        var byStore: [UInt64: Binding] = [:]
    }

    private let state = Mutex(State())

    /// A fresh id for a new stream.
    func newStreamID() -> UInt64 {
        state.withLock { s in
            defer { s.nextStreamID += 1 }
            return s.nextStreamID
        }
    }

    /// Routes the store's commands to this stream from now on.
    func bind(store: UInt64, streamID: UInt64, outbox: Outbox) {
        state.withLock { s in
            if s.byStore[store]?.streamID != streamID { s.byStore[store] = Binding(streamID: streamID, outbox: outbox) }
        }
    }

    /// Forgets every binding of a closed stream.
    func unbind(streamID: UInt64) {
        state.withLock { s in s.byStore = s.byStore.filter { $0.value.streamID != streamID } }
    }

    /// Queues a command for the store's stream. False when the store has no stream.
    @discardableResult
    func send(_ response: Schedulerpb.RegionHeartbeatResponse, toStore store: UInt64) -> Bool {
        guard let outbox = state.withLock({ $0.byStore[store]?.outbox }) else { return false }
        if case .terminated = outbox.yield(response) { return false }
        return true
    }

    func closeAll() {
        let outboxes = state.withLock { s in
            defer { s.byStore = [:] }
            return s.byStore.values.map(\.outbox)
        }
        outboxes.forEach { $0.finish() }
    }
}
