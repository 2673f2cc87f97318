import Codec

/// `TopN`: the first `limit` rows of its child in `ORDER BY` order (NULLs first ascending, as in
/// MySQL); ties keep scan order.
final class TopNExecutor: Executor {
    struct OrderItem {
        let expression: Expression
        let desc: Bool
    }

    private let child: Executor
    private let items: [OrderItem]
    private let limit: Int
    private var sorted: [[Datum]]?
    private var position = 0

    init(child: Executor, items: [OrderItem], limit: UInt64) {
        self.child = child
        self.items = items
        self.limit = Int(min(limit, UInt64(Int.max)))
    }

    func next() throws -> [Datum]? {
        if sorted == nil { sorted = try collect() }
        guard let sorted, position < sorted.count else { return nil }
        defer { position += 1 }
        return sorted[position]
    }

    /// Keeps at most `limit` rows: sorts and trims whenever the buffer doubles, so memory stays
    /// proportional to the limit rather than to the table.
    private func collect() throws -> [[Datum]] {
        guard limit > 0 else { return [] }
        var buffer: [(keys: [Datum], seq: Int, row: [Datum])] = []
        var seq = 0
        func trim() {
            buffer.sort { a, b in precedes(a.keys, b.keys) ?? (a.seq < b.seq) }
            if buffer.count > limit { buffer.removeLast(buffer.count - limit) }
        }
        while let row = try child.next() {
            buffer.append((try items.map { try $0.expression.eval(row) }, seq, row))
            seq += 1
            // Saturating: `LIMIT 18446744073709551615` (MySQL's "all rows") gives limit = Int.max.
            if buffer.count >= max(limit > Int.max / 2 ? Int.max : 2 * limit, 1024) { trim() }
        }
        trim()
        return buffer.map(\.row)
    }

    /// Whether `a` sorts before `b`; nil when the keys are equal.
    private func precedes(_ a: [Datum], _ b: [Datum]) -> Bool? {
        for (i, item) in items.enumerated() {
            let c = Datum.compare(a[i], b[i])
            if c != 0 { return item.desc ? c > 0 : c < 0 }
        }
        return nil
    }
}
