import Codec

/// `Limit`: the first `limit` rows of its child; stops pulling (and scanning) once they are out.
final class LimitExecutor: Executor {
    private let child: Executor
    private var remaining: UInt64

    init(child: Executor, limit: UInt64) {
        self.child = child
        self.remaining = limit
    }

    func next() throws -> [Datum]? {
        guard remaining > 0, let row = try child.next() else { return nil }
        remaining -= 1
        return row
    }
}
