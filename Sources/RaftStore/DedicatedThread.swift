import Foundation
import Transport

/// A named thread with a large stack that runs one loop (the raft poller, the apply
/// worker), and a way to wait until the loop has returned.
final class DedicatedThread: @unchecked Sendable {
    private let finished = DispatchSemaphore(value: 0)
    /// Touched only by the owner's start and join, never concurrently.
    private var running = false

    /// Starts `body` on a new thread called `name`.
    func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let finished = self.finished
        let thread = Thread {
            nameCurrentThread(name)
            body()
            finished.signal()
        }
        thread.name = name
        thread.stackSize = 8 << 20
        running = true
        thread.start()
    }

    /// Waits until the loop returned (the owner has made it return, e.g. by closing its inbox).
    func join() {
        guard running else { return }
        finished.wait()
        running = false
    }
}
