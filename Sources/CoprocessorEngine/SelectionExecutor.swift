import Codec

/// `Selection`: keeps the rows for which every condition is true (NULL and false drop the row).
final class SelectionExecutor: Executor {
    private let child: Executor
    private let conditions: [Expression]

    init(child: Executor, conditions: [Expression]) {
        self.child = child
        self.conditions = conditions
    }

    func next() throws -> [Datum]? {
        rows: while let row = try child.next() {
            for condition in conditions where try condition.eval(row).boolValue != true { continue rows }
            return row
        }
        return nil
    }
}
