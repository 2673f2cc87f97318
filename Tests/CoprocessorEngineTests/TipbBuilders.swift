import Codec
import TinyKVProto

/// Builds tipb messages the way TinySQL does (`expression/expr_to_pb.go`, `executor/builder.go`).
enum PB {
    static let longlong = MySQLType.longlong, double = MySQLType.double, varchar = MySQLType.varchar, newDecimal = MySQLType.newDecimal

    static func fieldType(_ tp: Int32, unsigned: Bool = false) -> Tipb.FieldType {
        Tipb.FieldType(tp: tp, flag: unsigned ? UInt32(MySQLType.unsignedFlag) : 0, flen: -1, decimal: -1, collate: 46, charset: "utf8mb4")
    }

    static func comparableInt(_ v: Int64) -> [UInt8] {
        var out: [UInt8] = []
        NumberCodec.appendComparableInt(v, to: &out)
        return out
    }

    static func column(_ offset: Int, _ tp: Int32, unsigned: Bool = false) -> Tipb.Expr {
        Tipb.Expr(tp: .columnRef, val: comparableInt(Int64(offset)), fieldType: fieldType(tp, unsigned: unsigned))
    }

    static func int(_ v: Int64) -> Tipb.Expr { Tipb.Expr(tp: .int64, val: comparableInt(v), fieldType: fieldType(longlong)) }

    static func uint(_ v: UInt64) -> Tipb.Expr {
        var out: [UInt8] = []
        NumberCodec.appendComparableUint(v, to: &out)
        return Tipb.Expr(tp: .uint64, val: out, fieldType: fieldType(longlong, unsigned: true))
    }

    static func real(_ v: Double) -> Tipb.Expr {
        var out: [UInt8] = []
        NumberCodec.appendComparableFloat(v, to: &out)
        return Tipb.Expr(tp: .float64, val: out, fieldType: fieldType(double))
    }

    static func string(_ s: String) -> Tipb.Expr { Tipb.Expr(tp: .string, val: Array(s.utf8), fieldType: fieldType(varchar)) }

    static func decimal(_ s: String) -> Tipb.Expr {
        var out: [UInt8] = []
        try! DatumCodec.appendValue(.decimal(SQLDecimal(s)!), to: &out)
        return Tipb.Expr(tp: .mysqlDecimal, val: Array(out.dropFirst()), fieldType: fieldType(newDecimal))
    }

    static let null = Tipb.Expr(tp: .null, fieldType: fieldType(MySQLType.null))

    static func fn(_ sig: Tipb.ScalarFuncSig, _ children: [Tipb.Expr], _ tp: Int32 = longlong, unsigned: Bool = false) -> Tipb.Expr {
        Tipb.Expr(tp: .scalarFunc, children: children, sig: sig, fieldType: fieldType(tp, unsigned: unsigned))
    }

    static func agg(_ tp: Tipb.ExprType, _ children: [Tipb.Expr], _ retTp: Int32 = longlong) -> Tipb.Expr {
        Tipb.Expr(tp: tp, children: children, fieldType: fieldType(retTp))
    }

    static func columnInfo(_ id: Int64, _ tp: Int32, pk: Bool = false, unsigned: Bool = false, defaultValue: Datum? = nil) -> Tipb.ColumnInfo {
        Tipb.ColumnInfo(columnId: id, tp: tp, collation: 46, columnLen: -1, decimal: -1,
                        flag: (pk ? 2 : 0) | (unsigned ? MySQLType.unsignedFlag : 0),
                        defaultVal: defaultValue.map { try! DatumCodec.encodeValue([$0]) }, pkHandle: pk)
    }

    static func tableScan(_ tableID: Int64, _ columns: [Tipb.ColumnInfo], desc: Bool = false) -> Tipb.Executor {
        Tipb.Executor(tp: .typeTableScan, tblScan: Tipb.TableScan(tableId: tableID, columns: columns, desc: desc))
    }

    static func indexScan(_ tableID: Int64, _ indexID: Int64, _ columns: [Tipb.ColumnInfo], unique: Bool, desc: Bool = false) -> Tipb.Executor {
        Tipb.Executor(tp: .typeIndexScan, idxScan: Tipb.IndexScan(tableId: tableID, indexId: indexID, columns: columns, desc: desc, unique: unique))
    }

    static func selection(_ conditions: [Tipb.Expr]) -> Tipb.Executor {
        Tipb.Executor(tp: .typeSelection, selection: Tipb.Selection(conditions: conditions))
    }

    static func aggregation(_ funcs: [Tipb.Expr], groupBy: [Tipb.Expr], streamed: Bool = false) -> Tipb.Executor {
        let agg = Tipb.Aggregation(groupBy: groupBy, aggFunc: funcs, streamed: streamed)
        return streamed ? Tipb.Executor(tp: .typeStreamAgg, streamAgg: agg) : Tipb.Executor(tp: .typeAggregation, aggregation: agg)
    }

    static func topN(_ items: [(Tipb.Expr, Bool)], limit: UInt64) -> Tipb.Executor {
        Tipb.Executor(tp: .typeTopN, topN: Tipb.TopN(orderBy: items.map { Tipb.ByItem(expr: $0.0, desc: $0.1) }, limit: limit))
    }

    static func limit(_ n: UInt64) -> Tipb.Executor { Tipb.Executor(tp: .typeLimit, limit: Tipb.Limit(limit: n)) }

    static func dag(_ executors: [Tipb.Executor], outputOffsets: [UInt32], startTs: UInt64) -> Tipb.DAGRequest {
        Tipb.DAGRequest(startTsFallback: startTs, executors: executors, timeZoneOffset: 0, flags: 1, outputOffsets: outputOffsets, encodeType: .typeDefault)
    }
}
