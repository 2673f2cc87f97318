import Codec
import TinyKVProto

/// One pushed-down aggregate and its partial result, in the layout TinySQL's final aggregation
/// merges: COUNT -> count; SUM -> sum; AVG -> count, sum; MIN / MAX / FIRST -> the value.
///
/// Sums of integers and decimals are decimals, sums of anything else doubles (TinySQL's SUM and AVG
/// return DECIMAL for exact inputs and DOUBLE otherwise).
struct AggregateFunction {
    enum Kind { case count, sum, avg, min, max, first }

    let kind: Kind
    let args: [Expression]

    init(_ expr: Tipb.Expr, columnCount: Int) throws {
        switch expr.tp {
        case .count: kind = .count
        case .sum: kind = .sum
        case .avg: kind = .avg
        case .min: kind = .min
        case .max: kind = .max
        case .first: kind = .first
        default: throw CoprocessorError.unsupported("aggregate function \(expr.tp.map { "\($0)" } ?? "?") is not supported")
        }
        args = try expr.children.map { try Expression.compile($0, columnCount: columnCount) }
        guard kind == .count ? !args.isEmpty : args.count == 1 else {
            throw CoprocessorError.invalid("aggregate \(kind) with \(args.count) arguments")
        }
    }

    /// The running state of one group.
    struct State {
        var count: Int64 = 0
        var value: Datum = .null
        var seenFirst = false
    }

    func update(_ state: inout State, row: [Datum]) throws {
        switch kind {
        case .count:
            for arg in args where try arg.eval(row).isNull { return }
            state.count += 1
        case .sum, .avg:
            let v = try args[0].eval(row)
            if v.isNull { return }
            state.count += 1
            state.value = try Self.add(state.value, v)
        case .min, .max:
            let v = try args[0].eval(row)
            if v.isNull { return }
            let c = Datum.compare(v, state.value)
            if state.value.isNull || (kind == .min ? c < 0 : c > 0) { state.value = v }
        case .first:
            if state.seenFirst { return }
            state.seenFirst = true
            state.value = try args[0].eval(row)
        }
    }

    /// The partial result columns of one group.
    func partialResult(_ state: State) -> [Datum] {
        switch kind {
        case .count: return [.int(state.count)]
        case .sum, .min, .max, .first: return [state.value]
        case .avg: return [.int(state.count), state.value]
        }
    }

    static func add(_ sum: Datum, _ v: Datum) throws -> Datum {
        switch v {
        case .int, .uint, .decimal:
            guard let x = v.decimalValue else { return sum }
            if case .float(let s) = sum { return .float(s + (v.doubleValue ?? 0)) }
            let base = sum.decimalValue ?? .zero
            do { return .decimal(try base.adding(x)) } catch { throw CoprocessorError.outOfRange("DECIMAL") }
        default:
            return .float((sum.doubleValue ?? 0) + (v.doubleValue ?? 0))
        }
    }
}
