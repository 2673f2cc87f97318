import Codec
import TinyKVProto

/// The result type of an expression, from `tipb.FieldType`.
struct ResultType {
    let tp: Int32
    let flag: UInt32
    let decimal: Int32
    var valueClass: ValueClass { ValueClass(type: tp, flag: Int32(bitPattern: flag)) }
    var isUnsigned: Bool { flag & UInt32(MySQLType.unsignedFlag) != 0 }

    init(_ ft: Tipb.FieldType?) {
        tp = ft?.tp ?? MySQLType.longlong
        flag = ft?.flag ?? 0
        decimal = ft?.decimal ?? 0
    }
}

/// A pushed-down expression compiled from `tipb.Expr`: a column of the input row, a constant, or a
/// scalar function. Unsupported expression types and function signatures are rejected when compiled,
/// before any row is read.
final class Expression {
    enum Node {
        case column(Int)
        case constant(Datum)
        case function(Tipb.ScalarFuncSig, ScalarFunction)
    }

    let node: Node
    let args: [Expression]
    let type: ResultType

    private init(node: Node, args: [Expression], type: ResultType) {
        self.node = node
        self.args = args
        self.type = type
    }

    /// Compiles `expr` over rows of `columnCount` columns.
    static func compile(_ expr: Tipb.Expr, columnCount: Int) throws -> Expression {
        let type = ResultType(expr.fieldType)
        let val = expr.val ?? []
        func comparable<T>(_ decode: (inout ArraySlice<UInt8>) throws -> T) throws -> T {
            var b = val[...]
            do { return try decode(&b) } catch { throw CoprocessorError.invalid("constant \(expr.tp.map { "\($0)" } ?? "?"): \(error)") }
        }
        switch expr.tp ?? .null {
        case .null: return Expression(node: .constant(.null), args: [], type: type)
        case .int64: return Expression(node: .constant(.int(try comparable(NumberCodec.decodeComparableInt))), args: [], type: type)
        case .uint64: return Expression(node: .constant(.uint(try comparable(NumberCodec.decodeComparableUint))), args: [], type: type)
        case .float32, .float64:
            return Expression(node: .constant(.float(try comparable(NumberCodec.decodeComparableFloat))), args: [], type: type)
        case .string, .bytes: return Expression(node: .constant(.bytes(val)), args: [], type: type)
        case .mysqlDecimal:
            return Expression(node: .constant(.decimal(try comparable(DatumCodec.decodeDecimal))), args: [], type: type)
        case .mysqlDuration:
            return Expression(node: .constant(.duration(try comparable(NumberCodec.decodeComparableInt))), args: [], type: type)
        case .mysqlTime:
            return Expression(node: .constant(.time(try comparable(NumberCodec.decodeComparableUint))), args: [], type: type)
        case .columnRef:
            let offset = try comparable(NumberCodec.decodeComparableInt)
            guard offset >= 0, offset < columnCount else {
                throw CoprocessorError.invalid("column offset \(offset) outside the \(columnCount) input columns")
            }
            return Expression(node: .column(Int(offset)), args: [], type: type)
        case .scalarFunc:
            guard let sig = expr.sig, let function = ScalarFunctions.table[sig] else {
                throw CoprocessorError.unsupported("scalar function \(expr.sig.map { "\($0)" } ?? "without a signature") is not pushed down to this store")
            }
            let args = try expr.children.map { try compile($0, columnCount: columnCount) }
            guard function.arity.contains(args.count) else {
                throw CoprocessorError.invalid("\(sig) takes \(function.arity) arguments, got \(args.count)")
            }
            return Expression(node: .function(sig, function), args: args, type: type)
        default:
            throw CoprocessorError.unsupported("expression type \(expr.tp.map { "\($0)" } ?? "?") is not supported")
        }
    }

    /// Evaluates the expression on `row`. Function results take the kind of their result type, which is
    /// how TinySQL decodes them.
    func eval(_ row: [Datum]) throws -> Datum {
        switch node {
        case .column(let i): return row[i]
        case .constant(let d): return d
        case .function(_, let f):
            let result = try f.body(Call(args: args, row: row, type: type))
            return try Conversions.coerce(result, to: type)
        }
    }
}

/// The arguments of one function evaluation; evaluated on demand so that AND, OR, IF and CASE
/// skip what they do not need.
struct Call {
    let args: [Expression]
    let row: [Datum]
    let type: ResultType

    func arg(_ i: Int) throws -> Datum { try args[i].eval(row) }
    var count: Int { args.count }
}

/// A scalar function's implementation and how many arguments it accepts.
struct ScalarFunction: Sendable {
    let arity: ClosedRange<Int>
    let body: @Sendable (Call) throws -> Datum

    init(_ arity: ClosedRange<Int>, _ body: @escaping @Sendable (Call) throws -> Datum) {
        self.arity = arity
        self.body = body
    }

    init(_ arity: Int, _ body: @escaping @Sendable (Call) throws -> Datum) {
        self.init(arity...arity, body)
    }
}

/// Every supported signature.
enum ScalarFunctions {
    static let table: [Tipb.ScalarFuncSig: ScalarFunction] = {
        var t: [Tipb.ScalarFuncSig: ScalarFunction] = [:]
        registerComparisons(&t)
        registerLogic(&t)
        registerArithmetic(&t)
        registerControl(&t)
        registerStrings(&t)
        registerMath(&t)
        return t
    }()
}
