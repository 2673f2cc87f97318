import Codec

/// Hash or stream `Aggregation`: one output row per group, in order of first appearance, holding
/// each aggregate's partial result and then the group-by values. Without GROUP BY every row is in one
/// group; an empty input yields no row (TinySQL's final aggregation supplies the defaults).
final class AggregationExecutor: Executor {
    private let child: Executor
    private let functions: [AggregateFunction]
    private let groupBy: [Expression]
    private var output: [[Datum]]?
    private var position = 0

    init(child: Executor, functions: [AggregateFunction], groupBy: [Expression]) {
        self.child = child
        self.functions = functions
        self.groupBy = groupBy
    }

    func next() throws -> [Datum]? {
        if output == nil { output = try aggregate() }
        guard let output, position < output.count else { return nil }
        defer { position += 1 }
        return output[position]
    }

    private func aggregate() throws -> [[Datum]] {
        var index: [[UInt8]: Int] = [:]
        var groups: [(values: [Datum], states: [AggregateFunction.State])] = []
        while let row = try child.next() {
            let values = try groupBy.map { try $0.eval(row) }
            // Group by the encoded values, as TinySQL does: 1 and 1.0 of one column never differ in kind.
            let key = try DatumCodec.encodeValue(values)
            let g: Int
            if let existing = index[key] {
                g = existing
            } else {
                g = groups.count
                index[key] = g
                groups.append((values, Array(repeating: AggregateFunction.State(), count: functions.count)))
            }
            for (i, f) in functions.enumerated() { try f.update(&groups[g].states[i], row: row) }
        }
        return groups.map { group in
            zip(functions, group.states).flatMap { $0.partialResult($1) } + group.values
        }
    }
}
