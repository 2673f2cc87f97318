import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Operations completed so far, shared by the workers and the progress bar.
final class OperationCounter: Sendable {
    private let count = Atomic<Int>(0)

    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// A one-line progress bar on standard error, redrawn in place (only on a terminal).
enum ProgressBar {
    static var enabled: Bool { isatty(STDERR_FILENO) != 0 }

    static func draw(elapsed: Duration, total: Duration, warmup: Duration, operations: Int) {
        guard enabled else { return }
        let fraction = min(1, max(0, elapsed / total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let phase = elapsed < warmup ? "warm-up" : "measure"
        let line = "\r[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            + "] \(Int(fraction * 100))% \(phase) \(operations) ops "
        write(line)
    }

    static func finish() {
        guard enabled else { return }
        write("\r" + String(repeating: " ", count: 70) + "\r")
    }

    /// Writes straight to file descriptor 2 (the C `stderr` global is not concurrency-safe).
    private static func write(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
