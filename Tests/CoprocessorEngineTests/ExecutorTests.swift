import Codec
import TinyKVProto
import XCTest
@testable import CoprocessorEngine

/// A child executor yielding fixed rows.
final class RowsExecutor: Executor {
    private var rows: [[Datum]]
    private(set) var pulled = 0
    init(_ rows: [[Datum]]) { self.rows = rows.reversed() }
    func next() throws -> [Datum]? {
        guard let row = rows.popLast() else { return nil }
        pulled += 1
        return row
    }
}

/// Each executor on its own, over fixed input rows.
final class ExecutorTests: XCTestCase {
    /// Columns: 0 = group (string), 1 = int value (nullable), 2 = double value.
    let input: [[Datum]] = [
        [.string("a"), .int(1), .float(0.5)],
        [.string("b"), .null, .float(1.5)],
        [.string("a"), .int(3), .float(2.5)],
        [.string("b"), .int(-4), .float(-1)],
        [.string("c"), .null, .float(0)],
    ]

    func drain(_ e: Executor) throws -> [[Datum]] {
        var out: [[Datum]] = []
        while let row = try e.next() { out.append(row) }
        return out
    }

    func compile(_ e: Tipb.Expr) throws -> CoprocessorEngine.Expression { try Expression.compile(e, columnCount: 3) }

    func testSelectionDropsFalseAndNull() throws {
        let cond = try compile(PB.fn(.gtInt, [PB.column(1, PB.longlong), PB.int(0)]))
        let rows = try drain(SelectionExecutor(child: RowsExecutor(input), conditions: [cond]))
        XCTAssertEqual(rows.map { $0[1] }, [.int(1), .int(3)])
        let two = [cond, try compile(PB.fn(.ltReal, [PB.column(2, PB.double), PB.real(1)]))]
        XCTAssertEqual(try drain(SelectionExecutor(child: RowsExecutor(input), conditions: two)).count, 1)
    }

    func testLimitStopsPulling() throws {
        let child = RowsExecutor(input)
        XCTAssertEqual(try drain(LimitExecutor(child: child, limit: 2)).count, 2)
        XCTAssertEqual(child.pulled, 2)
        XCTAssertEqual(try drain(LimitExecutor(child: RowsExecutor(input), limit: 0)), [])
    }

    func testTopN() throws {
        let byValue = TopNExecutor.OrderItem(expression: try compile(PB.column(1, PB.longlong)), desc: false)
        XCTAssertEqual(try drain(TopNExecutor(child: RowsExecutor(input), items: [byValue], limit: 3)).map { $0[2] },
                       [.float(1.5), .float(0), .float(-1)], "NULLs first, ties in input order")
        let byDouble = TopNExecutor.OrderItem(expression: try compile(PB.column(2, PB.double)), desc: true)
        XCTAssertEqual(try drain(TopNExecutor(child: RowsExecutor(input), items: [byDouble], limit: 2)).map { $0[2] }, [.float(2.5), .float(1.5)])
        XCTAssertEqual(try drain(TopNExecutor(child: RowsExecutor(input), items: [byDouble], limit: 0)), [])
        // Many rows: the buffer is trimmed along the way and the result is still exact.
        let many = (0..<5000).map { [Datum.string("x"), .int(Int64(($0 * 7919) % 5000)), .float(0)] }
        XCTAssertEqual(try drain(TopNExecutor(child: RowsExecutor(many), items: [byValue], limit: 3)).map { $0[1] }, [.int(0), .int(1), .int(2)])
    }

    /// `ORDER BY ... LIMIT 18446744073709551615` (MySQL's idiom for "all rows") reaches the store as
    /// TopN.limit = UInt64.max: every row, sorted, and no arithmetic overflow.
    func testTopNWithTheLargestLimit() throws {
        let byValue = TopNExecutor.OrderItem(expression: try compile(PB.column(2, PB.double)), desc: false)
        for limit in [UInt64.max, UInt64(Int.max), UInt64(Int.max / 2 + 1)] {
            XCTAssertEqual(try drain(TopNExecutor(child: RowsExecutor(input), items: [byValue], limit: limit)).map { $0[2] },
                           [.float(-1), .float(0), .float(0.5), .float(1.5), .float(2.5)])
        }
    }

    func testAggregationPartialLayout() throws {
        let funcs = try [PB.agg(.count, [PB.column(1, PB.longlong)]), PB.agg(.sum, [PB.column(1, PB.longlong)], PB.newDecimal),
                         PB.agg(.avg, [PB.column(2, PB.double)], PB.double), PB.agg(.max, [PB.column(1, PB.longlong)]),
                         PB.agg(.min, [PB.column(2, PB.double)], PB.double), PB.agg(.first, [PB.column(1, PB.longlong)])]
            .map { try AggregateFunction($0, columnCount: 3) }
        let agg = AggregationExecutor(child: RowsExecutor(input), functions: funcs, groupBy: [try compile(PB.column(0, PB.varchar))])
        let dec = { (v: Int64) -> Datum in .decimal(SQLDecimal(unscaled: Int128(v), scale: 0)) }
        XCTAssertEqual(try drain(agg), [
            // count, sum (decimal for ints), avg count + sum, max, min, first, then the group value.
            [.int(2), dec(4), .int(2), .float(3), .int(3), .float(0.5), .int(1), .string("a")],
            [.int(1), dec(-4), .int(2), .float(0.5), .int(-4), .float(-1), .null, .string("b")],
            [.int(0), .null, .int(1), .float(0), .null, .float(0), .null, .string("c")],
        ])
    }

    func testAggregationWithoutGroupsAndEmptyInput() throws {
        let count = try AggregateFunction(PB.agg(.count, [PB.int(1)]), columnCount: 3)
        XCTAssertEqual(try drain(AggregationExecutor(child: RowsExecutor(input), functions: [count], groupBy: [])), [[.int(5)]])
        XCTAssertEqual(try drain(AggregationExecutor(child: RowsExecutor([]), functions: [count], groupBy: [])), [])
        XCTAssertThrowsError(try AggregateFunction(PB.agg(.groupConcat, [PB.column(0, PB.varchar)]), columnCount: 3))
        XCTAssertThrowsError(try AggregateFunction(PB.agg(.sum, []), columnCount: 3))
    }

    func testSumKinds() throws {
        XCTAssertEqual(try AggregateFunction.add(.null, .int(2)), .decimal(SQLDecimal(Int64(2))))
        XCTAssertEqual(try AggregateFunction.add(.decimal(SQLDecimal("1.5")!), .uint(2)), .decimal(SQLDecimal("3.5")!))
        XCTAssertEqual(try AggregateFunction.add(.null, .float(2)), .float(2))
        XCTAssertEqual(try AggregateFunction.add(.null, .string("2.5")), .float(2.5))
    }

    func testResponseEncoderChunksAndOffsets() throws {
        var encoder = try ResponseEncoder(outputOffsets: [2, 0], width: 3)
        for i in 0..<130 { try encoder.append([.int(Int64(i)), .null, .string("r")]) }
        let chunks = encoder.finish()
        XCTAssertEqual(chunks.count, 3)
        XCTAssertEqual(try DatumCodec.decodeAll(chunks[2].rowsData ?? []), [.string("r"), .int(128), .string("r"), .int(129)])
        XCTAssertThrowsError(try ResponseEncoder(outputOffsets: [3], width: 3))
    }
}
