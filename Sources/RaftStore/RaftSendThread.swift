import Foundation

/// The thread that starts a ``StoreConnection``'s first send after a quiet spell.
///
/// `grpc_call_start_batch` frames and writes on the calling thread, so the raft poller (the
/// store's serial point) must not call it; a Swift task per kick would cost two pool hand-offs
/// per message (start, then resume after the completion). This thread takes every connection
/// the poller scheduled in a round and starts one send on each; the completions chain the rest.
final class RaftSendThread: Sendable {
    private let inbox = Inbox<StoreConnection>()
    private let thread = DedicatedThread()

    func start() {
        thread.start(name: "raftstore-send") { [inbox] in
            while let connections = inbox.drain(until: .distantFuture) {
                for connection in connections { connection.pump() }
            }
        }
    }

    /// Queues `connection` for a pump; its caller has claimed the connection's pump.
    func schedule(_ connection: StoreConnection) {
        inbox.push(connection)
    }

    /// Stops the thread once it has started what was scheduled.
    func stop() {
        inbox.close()
        thread.join()
    }
}
