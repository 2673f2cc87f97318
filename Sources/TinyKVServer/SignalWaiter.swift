import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Waits for SIGINT or SIGTERM, so a server can shut down gracefully.
public enum SignalWaiter {
    /// Returns the name of the first termination signal received.
    public static func waitForTermination() async -> String {
        await withCheckedContinuation { continuation in
            let queue = DispatchQueue(label: "signals")
            let resumed = ResumeOnce(continuation)
            var sources: [DispatchSourceSignal] = []
            for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler { resumed.resume(name) }
                source.resume()
                sources.append(source)
            }
            // The sources must outlive this scope; they live as long as the process.
            SignalSources.keep(sources)
        }
    }
}

private final class ResumeOnce: @unchecked Sendable {
    private var continuation: CheckedContinuation<String, Never>?
    init(_ continuation: CheckedContinuation<String, Never>) { self.continuation = continuation }

    /// Only touched from the one serial signal queue.
    func resume(_ name: String) {
        continuation?.resume(returning: name)
        continuation = nil
    }
}

private enum SignalSources {
    nonisolated(unsafe) private static var all: [DispatchSourceSignal] = []
    static func keep(_ sources: [DispatchSourceSignal]) { all.append(contentsOf: sources) }
}
