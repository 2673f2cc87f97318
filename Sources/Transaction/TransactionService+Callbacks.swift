import Storage
import TinyKVProto

/// The callback pipeline: on a ``CallbackKVStorage`` a command runs with no Swift task. Its latches
/// are granted on the calling thread (or on the thread that frees them), its snapshot completes there
/// too for a lease read (or on the raft poller after ReadIndex), its decision runs where the snapshot
/// completed, and its response is sent from the thread that applies its write (the raft apply thread).
/// Each step is quick and never blocks, so all of this may run on transport and raft threads.
extension TransactionService {
    /// True when the callback forms of the commands run without any Swift task (the storage answers
    /// by callback); otherwise they wrap the async forms in a task.
    public var answersByCallback: Bool { callbackStorage != nil }

    /// ``read(_:)`` answered through `done`, exactly once, on the thread that settles the snapshot.
    func read<Response>(_ command: ReadCommand<Response>, done: @escaping @Sendable (Response) -> Void) {
        guard let storage = callbackStorage else { return asTask(done) { await self.read(command) } }
        storage.reader(command.context, for: .transactional(command.keys)) { snapshot in
            let response: Response
            do {
                response = try command.body(MvccReader(snapshot.get()))
            } catch {
                response = self.failure(error)
            }
            done(response)
        }
    }

    /// ``write(_:)`` answered through `done`, exactly once. The latches are released on every path
    /// (decision error, routing error, failed write) just before `done` runs; commands that were
    /// waiting for them are granted after it, so this response never waits for their work.
    func write<Response>(_ command: WriteCommand<Response>, done: @escaping @Sendable (Response) -> Void) {
        guard let storage = callbackStorage else { return asTask(done) { await self.write(command) } }
        let keys = RequestKeys.transactional(command.keys)
        latches.acquire(command.keys) { held in
            let finish: @Sendable (Response) -> Void = { response in held.release { done(response) } }
            storage.reader(command.context, for: keys) { snapshot in
                let response: Response, batch: WriteBatch
                do {
                    (response, batch) = try command.decide(snapshot.get())
                } catch {
                    return finish(self.failure(error))
                }
                if batch.isEmpty { return finish(response) }
                storage.write(command.context, for: keys, batch) { error in
                    finish(error.map { self.failure($0) } ?? response)
                }
            }
        }
    }

    /// Storage without callbacks: run the async form in a task.
    private func asTask<Response: Sendable>(_ done: @escaping @Sendable (Response) -> Void,
                                            _ body: @escaping @Sendable () async -> Response) {
        Task { done(await body()) }
    }
}
