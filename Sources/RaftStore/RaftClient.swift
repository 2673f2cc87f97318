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
/// Messages of a round are queued per store without blocking the raft thread; each
/// store's sender task drains its queue onto the stream. A message that fails to go
/// out is reported unreachable so Raft backs off that follower.
public final class RaftClient: RaftTransport {
    private let scheduler: any SchedulerAPI
    private let logger: Logger
    private let tls: TLSConfig?
    private let connections = Mutex<[UInt64: StoreConnection]>([:])
    private let snapshots: SnapshotManager

    /// Connects to other stores over TLS when `tls` is given; sends snapshots from `snapshots`' files.
    public init(scheduler: any SchedulerAPI, logger: Logger, tls: TLSConfig? = nil, snapshots: SnapshotManager) {
        self.scheduler = scheduler
        self.logger = logger
        self.tls = tls
        self.snapshots = snapshots
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

    /// Stops every sender task and closes the channels.
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
            let created = StoreConnection(storeID: storeID, scheduler: scheduler, logger: logger, tls: tls, snapshots: snapshots)
            current[storeID] = created
            return created
        }
    }
}

/// The stream to one store and the task feeding it.
final class StoreConnection: Sendable {
    private typealias Item = (RaftServerpb.RaftMessage, TransportFeedback)
    let storeID: UInt64
    private let scheduler: any SchedulerAPI
    private let logger: Logger
    private let tls: TLSConfig?
    /// Messages waiting for the stream; the sender takes them all at once and coalesces them.
    private let pending = Mutex<[Item]>([])
    /// Wakes the sender when `pending` gets messages.
    private let queue: AsyncStream<Void>
    private let input: AsyncStream<Void>.Continuation
    private let task = Mutex<Task<Void, Never>?>(nil)
    private let channel = Mutex<GRPCChannel?>(nil)
    private let snapshots: SnapshotManager
    /// One snapshot stream at a time to a store: a second one waits for the first.
    private let snapshotSlot = SnapshotSlot()

    init(storeID: UInt64, scheduler: any SchedulerAPI, logger: Logger, tls: TLSConfig?, snapshots: SnapshotManager) {
        self.storeID = storeID
        self.snapshots = snapshots
        self.scheduler = scheduler
        self.logger = logger
        self.tls = tls
        // Raft retransmits: when a store is down, old messages are worth nothing.
        (queue, input) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        let started = Task<Void, Never> { [weak self] in await self?.run() }
        task.withLock { $0 = started }
    }

    func enqueue(_ messages: [RaftServerpb.RaftMessage], feedback: TransportFeedback) {
        for message in messages {
            if message.message?.msgType == .msgSnapshot {
                Task { await self.sendSnapshot(message, feedback: feedback) }
            } else {
                pending.withLock { queued in
                    // Raft retransmits: when a store is down, old messages are worth nothing.
                    if queued.count >= 8192 { queued.removeFirst(queued.count - 8191) }
                    queued.append((message, feedback))
                }
                input.yield(())
            }
        }
    }

    func close() {
        input.finish()
        task.withLock { $0?.cancel() }
        channel.withLock { $0?.close(); $0 = nil }
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

    private func run() async {
        var iterator = queue.makeAsyncIterator()
        var backoff: Duration = .milliseconds(50)
        var carry: [Item] = []
        while !Task.isCancelled {
            var call: ClientStreamingCall?
            do {
                let channel = try await connect()
                let stream = try channel.clientStreaming(method: Tinykvpb.TinyKv.raft.path)
                call = stream
                while true {
                    // One gRPC send is in flight at a time, so messages pile up meanwhile: take
                    // them all and merge what Raft allows, so a busy region sends one append per
                    // round trip instead of one per proposal.
                    var batch = carry + pending.withLock { queued in
                        defer { queued = [] }
                        return queued
                    }
                    carry = []
                    if batch.isEmpty {
                        guard await iterator.next() != nil else {
                            _ = try? await stream.finish()
                            return
                        }
                        continue
                    }
                    batch = RaftMessageCoalescer.coalesce(batch)
                    for (index, (message, feedback)) in batch.enumerated() {
                        do {
                            try await stream.send(message.encode())
                        } catch {
                            feedback.unreachable(message)
                            carry = Array(batch[(index + 1)...])
                            throw error
                        }
                    }
                    backoff = .milliseconds(50)
                }
            } catch {
                call?.cancel()
                logger.debug("raft stream to store failed", metadata: ["store": "\(storeID)", "error": "\(error)"])
                disconnect()
                // Report (and drop) what queued up meanwhile so Raft probes again later.
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(1))
            }
        }
    }

    /// Sends a snapshot on its own `Snapshot` stream (``SnapshotSender``: the message, then the
    /// files read from disk in 1 MiB chunks), one stream at a time to this store.
    private func sendSnapshot(_ message: RaftServerpb.RaftMessage, feedback: TransportFeedback) async {
        await snapshotSlot.acquire()
        defer { snapshotSlot.release() }
        do {
            let channel = try await connect()
            let call = try channel.clientStreaming(method: Tinykvpb.TinyKv.snapshot.path, timeout: .seconds(600))
            do {
                try await SnapshotSender.send(message, manager: snapshots) { chunk in try await call.send(chunk.encode()) }
                _ = try await call.finish()
            } catch {
                call.cancel()
                throw error
            }
            feedback.snapshotFinished(message, true)
        } catch {
            logger.warning("sending snapshot failed", metadata: ["store": "\(storeID)", "region": "\(message.regionId)", "error": "\(error)"])
            SnapshotSender.discard(message, manager: snapshots)
            feedback.unreachable(message)
            feedback.snapshotFinished(message, false)
        }
    }
}

/// An async mutex: one snapshot send per destination at a time.
final class SnapshotSlot: Sendable {
    private let state = Mutex<(busy: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { state -> Bool in
                if !state.busy { state.busy = true; return true }
                state.waiting.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiting.isEmpty { state.busy = false; return nil }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
