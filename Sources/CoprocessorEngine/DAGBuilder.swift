import Codec
import TinyKVProto
import Transaction

/// Turns a `tipb.DAGRequest` into a chain of executors: a table or index scan, then any of
/// Selection, Aggregation (hash or stream), TopN and Limit in the order given.
enum DAGBuilder {
    /// The last executor and the number of columns of its rows.
    static func build(_ dag: Tipb.DAGRequest, mvcc: MvccReader, ranges: [Coprocessor.KeyRange], startTs: UInt64) throws -> (Executor, Int) {
        guard let first = dag.executors.first else { throw CoprocessorError.invalid("DAG request without executors") }
        var executor: Executor
        var width: Int
        switch first.tp ?? .typeTableScan {
        case .typeTableScan:
            guard let scan = first.tblScan else { throw CoprocessorError.invalid("TableScan executor without tbl_scan") }
            let columns = try scan.columns.map(ColumnSchema.init)
            let scanner = RangeScanner(mvcc: mvcc, ranges: ranges, startTs: startTs, desc: scan.desc ?? false)
            executor = TableScanExecutor(scanner: scanner, columns: columns)
            width = columns.count
        case .typeIndexScan:
            guard let scan = first.idxScan else { throw CoprocessorError.invalid("IndexScan executor without idx_scan") }
            let columns = try scan.columns.map(ColumnSchema.init)
            guard !columns.isEmpty else { throw CoprocessorError.invalid("IndexScan without columns") }
            let scanner = RangeScanner(mvcc: mvcc, ranges: ranges, startTs: startTs, desc: scan.desc ?? false)
            executor = IndexScanExecutor(scanner: scanner, columns: columns)
            width = columns.count
        case let other:
            throw CoprocessorError.unsupported("the first executor must be a table or index scan, not \(other)")
        }
        for exec in dag.executors.dropFirst() {
            switch exec.tp ?? .typeTableScan {
            case .typeSelection:
                let conditions = try (exec.selection?.conditions ?? []).map { try Expression.compile($0, columnCount: width) }
                executor = SelectionExecutor(child: executor, conditions: conditions)
            case .typeAggregation, .typeStreamAgg:
                guard let agg = exec.aggregation ?? exec.streamAgg else { throw CoprocessorError.invalid("aggregation executor without its message") }
                let functions = try agg.aggFunc.map { try AggregateFunction($0, columnCount: width) }
                let groupBy = try agg.groupBy.map { try Expression.compile($0, columnCount: width) }
                executor = AggregationExecutor(child: executor, functions: functions, groupBy: groupBy)
                width = functions.reduce(0) { $0 + ($1.kind == .avg ? 2 : 1) } + groupBy.count
            case .typeTopN:
                guard let topN = exec.topN else { throw CoprocessorError.invalid("TopN executor without top_n") }
                let items = try topN.orderBy.map { item -> TopNExecutor.OrderItem in
                    guard let e = item.expr else { throw CoprocessorError.invalid("TopN order item without an expression") }
                    return TopNExecutor.OrderItem(expression: try Expression.compile(e, columnCount: width), desc: item.desc ?? false)
                }
                executor = TopNExecutor(child: executor, items: items, limit: topN.limit ?? 0)
            case .typeLimit:
                executor = LimitExecutor(child: executor, limit: exec.limit?.limit ?? 0)
            case let other:
                throw CoprocessorError.unsupported("executor \(other) after the scan is not supported")
            }
        }
        return (executor, width)
    }
}
