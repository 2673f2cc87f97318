import Foundation
import Logging
import SchedulerClient
import Synchronization
import TinyKVProto
import Transport

/// The gRPC ``RaftTransport``: one long-lived `TinyKv/Raft` client stream per
/// destination store, addresses resolved through the scheduler (GetStore, cached),
/// reconnection with exponential backoff, and `TinyKv/Snapshot` streams for snapshots.
///
/// Messages of a round are handed to each store's stream without blocking the raft
/// thread (see ``StoreConnection``). A message that fails to go out is reported
/// unreachable so Raft backs off that follower.
public final class RaftClient: RaftTransport {
    private let scheduler: any SchedulerAPI
    private let logger: Logger
    private let tls: TLSConfig?
    private let connections = Mutex<[UInt64: StoreConnection]>([:])

    /// Chunk size of snapshot data on the `Snapshot` stream.
    public static let snapshotChunkSize = 1 << 20

    /// Connects to other stores over TLS when `tls` is given.
    public init(scheduler: any SchedulerAPI, logger: Logger, tls: TLSConfig? = nil) {
        self.scheduler = scheduler
        self.logger = logger
        self.tls = tls
    }

    public func send(_ messages: [RaftServerpb.RaftMessage], feedback: TransportFeedback) {
        var byStore: [UInt64: [RaftServerpb.RaftMessage]] = [:]
        for message in messages {
            byStore[message.toPeer?.storeId ?? 0, default: []].append(message)
        }
        for (storeID, messages) in byStore {
            connection(to: storeID).enqueue(messages, feedback: feedback)
        }
    }

    /// Stops every stream and closes the channels.
    public func close() {
        let all = connections.withLock { current -> [StoreConnection] in
            defer { current = [:] }
            return Array(current.values)
        }
        for connection in all { connection.close() }
    }

    private func connection(to storeID: UInt64) -> StoreConnection {
        connections.withLock { current in
            if let existing = current[storeID] { return existing }
            let created = StoreConnection(storeID: storeID, scheduler: scheduler, logger: logger, tls: tls)
            current[storeID] = created
            return created
        }
    }
}

/// The stream to one store.
///
/// Messages are sent straight from the caller's thread (the raft poller) when the stream is
/// idle, and the next ones from the completion of the previous send on the transport's poll
/// thread: one gRPC send in flight at a time, no task hand-off per round. Messages that pile
/// up meanwhile are taken all at once and merged by ``RaftMessageCoalescer``, so a busy
/// region sends one append per round trip instead of one per proposal. A task only
/// (re)connects: it resolves the address through the scheduler and opens the stream, with
/// exponential backoff after failures.
final class StoreConnection: Sendable {
    private typealias Item = (RaftServerpb.RaftMessage, TransportFeedback)
    private struct State {
        /// Messages waiting for the stream.
        var pending: [Item] = []
        var stream: ClientStreamingCall?
        /// A send of `stream` is in flight (its completion sends what is pending).
        var sending = false
        /// Stream failures since the last successful send (the reconnect backoff).
        var failures = 0
        var closed = false
    }

    let storeID: UInt64
    private let scheduler: any SchedulerAPI
    private let logger: Logger
    private let tls: TLSConfig?
    private let state = Mutex(State())
    /// Wakes the connecting task when a stream is needed.
    private let wake: AsyncStream<Void>
    private let input: AsyncStream<Void>.Continuation
    private let task = Mutex<Task<Void, Never>?>(nil)
    private let channel = Mutex<GRPCChannel?>(nil)

    init(storeID: UInt64, scheduler: any SchedulerAPI, logger: Logger, tls: TLSConfig?) {
        self.storeID = storeID
        self.scheduler = scheduler
        self.logger = logger
        self.tls = tls
        (wake, input) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        let started = Task<Void, Never> { [weak self] in await self?.connectLoop() }
        task.withLock { $0 = started }
    }

    func enqueue(_ messages: [RaftServerpb.RaftMessage], feedback: TransportFeedback) {
        var snapshots: [RaftServerpb.RaftMessage] = []
        let (ready, needStream): ((ClientStreamingCall, [Item])?, Bool) = state.withLock { s in
            for message in messages {
                if message.message?.msgType == .msgSnapshot {
                    snapshots.append(message)
                } else {
                    // Raft retransmits: when a store is down, old messages are worth nothing.
                    if s.pending.count >= 8192 { s.pending.removeFirst(s.pending.count - 8191) }
                    s.pending.append((message, feedback))
                }
            }
            return (Self.takeIfIdle(&s), s.stream == nil && !s.pending.isEmpty)
        }
        for message in snapshots { Task { await self.sendSnapshot(message, feedback: feedback) } }
        if let (stream, items) = ready { send(items, on: stream) }
        if needStream { input.yield(()) }
    }

    func close() {
        let stream: ClientStreamingCall? = state.withLock { s in
            s.closed = true
            s.pending = []
            defer { s.stream = nil }
            return s.stream
        }
        stream?.cancel()
        input.finish()
        task.withLock { $0?.cancel() }
        channel.withLock { $0?.close(); $0 = nil }
    }

    /// Everything pending, if the stream is up and idle (then it is marked sending).
    private static func takeIfIdle(_ s: inout State) -> (ClientStreamingCall, [Item])? {
        guard !s.closed, !s.sending, let stream = s.stream, !s.pending.isEmpty else { return nil }
        s.sending = true
        defer { s.pending = [] }
        return (stream, s.pending)
    }

    private func send(_ items: [Item], on stream: ClientStreamingCall) {
        sendNext(RaftMessageCoalescer.coalesce(items)[...], on: stream)
    }

    /// Sends the first of `rest`; its completion sends the others, then whatever piled up.
    private func sendNext(_ rest: ArraySlice<Item>, on stream: ClientStreamingCall) {
        guard let (message, feedback) = rest.first else {
            let next: (ClientStreamingCall, [Item])? = state.withLock { s in
                s.sending = false
                s.failures = 0
                guard s.stream === stream else { return nil }
                return Self.takeIfIdle(&s)
            }
            if let (stream, items) = next { send(items, on: stream) }
            return
        }
        stream.send(message.encode()) { [self] accepted in
            if accepted {
                sendNext(rest.dropFirst(), on: stream)
            } else {
                failed(stream, message: message, feedback: feedback, rest: rest.dropFirst())
            }
        }
    }

    /// The stream broke: the message is reported unreachable (Raft probes again), the rest
    /// waits for the next stream.
    private func failed(_ stream: ClientStreamingCall, message: RaftServerpb.RaftMessage, feedback: TransportFeedback,
                        rest: ArraySlice<Item>) {
        feedback.unreachable(message)
        state.withLock { s in
            s.sending = false
            s.failures += 1
            if s.stream === stream { s.stream = nil }
            if !s.closed { s.pending = Array(rest) + s.pending }
        }
        stream.cancel()
        logger.debug("raft stream to store failed", metadata: ["store": "\(storeID)"])
        disconnect()
        input.yield(())
    }

    /// The channel to the store, resolving its address through the scheduler when needed.
    private func connect() async throws -> GRPCChannel {
        if let existing = channel.withLock({ $0 }) { return existing }
        let store = try await scheduler.getStore(storeID)
        guard !store.address.isEmpty else { throw GRPCStatus(code: .unavailable, message: "store \(storeID) has no address") }
        return channel.withLock { current in
            if let existing = current { return existing }
            let created = GRPCChannel(target: store.address, tls: tls)
            current = created
            return created
        }
    }

    /// Forgets the channel and the cached address (the store may have moved).
    private func disconnect() {
        channel.withLock { $0?.close(); $0 = nil }
        scheduler.invalidateStore(storeID)
    }

    /// Opens a stream whenever messages wait without one, backing off after failures.
    private func connectLoop() async {
        var iterator = wake.makeAsyncIterator()
        while !Task.isCancelled {
            let (needed, failures) = state.withLock { s in (s.stream == nil && !s.pending.isEmpty && !s.closed, s.failures) }
            guard needed else {
                guard await iterator.next() != nil else { return }
                continue
            }
            if failures > 0 {
                let backoff = min(Duration.milliseconds(50) * (1 << min(failures - 1, 5)), .seconds(1))
                try? await Task.sleep(for: backoff)
            }
            do {
                let channel = try await connect()
                let stream = try channel.clientStreaming(method: Tinykvpb.TinyKv.raft.path)
                let ready: (ClientStreamingCall, [Item])? = state.withLock { s in
                    if s.closed { return nil }
                    s.stream = stream
                    return Self.takeIfIdle(&s)
                }
                if let (stream, items) = ready { send(items, on: stream) }
            } catch {
                logger.debug("cannot open a raft stream to store", metadata: ["store": "\(storeID)", "error": "\(error)"])
                state.withLock { $0.failures += 1 }
                disconnect()
            }
        }
    }

    /// Sends a snapshot on its own `Snapshot` stream: the message (with the data moved out)
    /// first, then the data in chunks.
    private func sendSnapshot(_ message: RaftServerpb.RaftMessage, feedback: TransportFeedback) async {
        do {
            let channel = try await connect()
            let call = try channel.clientStreaming(method: Tinykvpb.TinyKv.snapshot.path, timeout: .seconds(600))
            var header = message
            let data = message.message?.snapshot?.data ?? []
            header.message?.snapshot?.data = []
            try await call.send(RaftServerpb.SnapshotChunk(message: header).encode())
            var offset = 0
            while offset < data.count {
                let end = min(data.count, offset + RaftClient.snapshotChunkSize)
                try await call.send(RaftServerpb.SnapshotChunk(data: Array(data[offset..<end])).encode())
                offset = end
            }
            _ = try await call.finish()
            feedback.snapshotFinished(message, true)
        } catch {
            logger.warning("sending snapshot failed", metadata: ["store": "\(storeID)", "region": "\(message.regionId)", "error": "\(error)"])
            feedback.unreachable(message)
            feedback.snapshotFinished(message, false)
        }
    }
}
