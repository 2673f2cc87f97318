import Codec
import TinyKVProto
import XCTest
@testable import CoprocessorEngine

/// Rows and index entries written through KvPrewrite/KvCommit with TinySQL's encodings, then read
/// back with coprocessor requests built as TinySQL builds them.
///
/// Table 50: id BIGINT PRIMARY KEY (handle), name VARCHAR, age BIGINT, score DOUBLE, city VARCHAR
/// (added later with DEFAULT 'nowhere'); index 1 on age (non-unique), index 2 on name (unique).
final class EndToEndTests: XCTestCase {
    static let table: Int64 = 50
    let people: [(id: Int64, name: String, age: Int64?, score: Double?, city: String?)] = [
        (1, "alice", 30, 90.5, "paris"),
        (2, "bob", 25, 70, "rome"),
        (3, "carol", 30, nil, "paris"),
        (4, "dave", nil, 60, nil),  // written before `city` existed
        (5, "eve", 35, 85, "rome"),
    ]
    var store: StoreFixture!
    let readTs: UInt64 = 100

    var columns: [Tipb.ColumnInfo] {
        [PB.columnInfo(1, PB.longlong, pk: true), PB.columnInfo(2, PB.varchar), PB.columnInfo(3, PB.longlong),
         PB.columnInfo(4, PB.double), PB.columnInfo(5, PB.varchar, defaultValue: .string("nowhere"))]
    }
    var tableRange: (start: [UInt8], end: [UInt8]) {
        let prefix = TableCodec.recordPrefix(tableID: Self.table)
        return (prefix, TableCodec.prefixNext(prefix))
    }
    func indexRange(_ id: Int64) -> (start: [UInt8], end: [UInt8]) {
        let prefix = TableCodec.indexPrefix(tableID: Self.table, indexID: id)
        return (prefix, TableCodec.prefixNext(prefix))
    }

    func expectedRow(_ p: (id: Int64, name: String, age: Int64?, score: Double?, city: String?)) -> [Datum] {
        [.int(p.id), .string(p.name), p.age.map(Datum.int) ?? .null, p.score.map(Datum.float) ?? .null, .string(p.city ?? "nowhere")]
    }

    override func setUp() async throws {
        store = try StoreFixture()
        var pairs: [(key: [UInt8], value: [UInt8]?)] = []
        for p in people {
            var cols: [(id: Int64, value: Datum)] = [(2, .string(p.name)), (3, p.age.map(Datum.int) ?? .null), (4, p.score.map(Datum.float) ?? .null)]
            if let city = p.city { cols.append((5, .string(city))) }
            pairs.append((TableCodec.rowKey(tableID: Self.table, handle: p.id), try RowCodec.encode(cols)))
            pairs.append((try TableCodec.indexKey(tableID: Self.table, indexID: 1, values: [p.age.map(Datum.int) ?? .null], handle: p.id), [0x30]))
            pairs.append((try TableCodec.indexKey(tableID: Self.table, indexID: 2, values: [.string(p.name)], handle: nil),
                          TableCodec.uniqueIndexValue(handle: p.id)))
        }
        await store.write(pairs, startTs: 10, commitTs: 20)
    }

    override func tearDown() { store = nil }

    func testTableScan() async throws {
        let dag = PB.dag([PB.tableScan(Self.table, columns)], outputOffsets: [0, 1, 2, 3, 4], startTs: readTs)
        let rows = try await store.rows(dag, ranges: [tableRange], startTs: readTs, width: 5)
        XCTAssertEqual(rows, people.map(expectedRow))
    }

    func testDescScanWithLimitAndOutputOffsets() async throws {
        let dag = PB.dag([PB.tableScan(Self.table, columns, desc: true), PB.limit(2)], outputOffsets: [1, 0], startTs: readTs)
        let rows = try await store.rows(dag, ranges: [tableRange], startTs: readTs, width: 2)
        XCTAssertEqual(rows, [[.string("eve"), .int(5)], [.string("dave"), .int(4)]])
    }

    func testPointAndMultipleRanges() async throws {
        func point(_ h: Int64) -> (start: [UInt8], end: [UInt8]) {
            let k = TableCodec.rowKey(tableID: Self.table, handle: h)
            return (k, k + [0])
        }
        let dag = PB.dag([PB.tableScan(Self.table, columns)], outputOffsets: [0], startTs: readTs)
        let rows = try await store.rows(dag, ranges: [point(2), point(4), point(9)], startTs: readTs, width: 1)
        XCTAssertEqual(rows, [[.int(2)], [.int(4)]])
        let desc = PB.dag([PB.tableScan(Self.table, columns, desc: true)], outputOffsets: [0], startTs: readTs)
        let descRows = try await store.rows(desc, ranges: [point(2), point(4)], startTs: readTs, width: 1)
        XCTAssertEqual(descRows, [[.int(4)], [.int(2)]])
    }

    func testSelection() async throws {
        // WHERE age > 26 AND city = 'paris'
        let cond = PB.fn(.logicalAnd, [PB.fn(.gtInt, [PB.column(2, PB.longlong), PB.int(26)]),
                                       PB.fn(.eqString, [PB.column(4, PB.varchar), PB.string("paris")])])
        var dag = PB.dag([PB.tableScan(Self.table, columns), PB.selection([cond])], outputOffsets: [0], startTs: readTs)
        var rows = try await store.rows(dag, ranges: [tableRange], startTs: readTs, width: 1)
        XCTAssertEqual(rows, [[.int(1)], [.int(3)]])
        // WHERE score IS NULL OR city = 'nowhere' (the default of a missing column)
        let cond2 = PB.fn(.logicalOr, [PB.fn(.realIsNull, [PB.column(3, PB.double)]),
                                       PB.fn(.eqString, [PB.column(4, PB.varchar), PB.string("nowhere")])])
        dag = PB.dag([PB.tableScan(Self.table, columns), PB.selection([cond2])], outputOffsets: [0], startTs: readTs)
        rows = try await store.rows(dag, ranges: [tableRange], startTs: readTs, width: 1)
        XCTAssertEqual(rows, [[.int(3)], [.int(4)]])
        // WHERE age IN (25, 35) with a limit after the selection
        let cond3 = PB.fn(.inInt, [PB.column(2, PB.longlong), PB.int(25), PB.int(35)])
        dag = PB.dag([PB.tableScan(Self.table, columns), PB.selection([cond3]), PB.limit(1)], outputOffsets: [1], startTs: readTs)
        rows = try await store.rows(dag, ranges: [tableRange], startTs: readTs, width: 1)
        XCTAssertEqual(rows, [[.string("bob")]])
    }

    func testIndexScanNonUnique() async throws {
        let cols = [PB.columnInfo(3, PB.longlong), PB.columnInfo(1, PB.longlong, pk: true)]
        var dag = PB.dag([PB.indexScan(Self.table, 1, cols, unique: false)], outputOffsets: [0, 1], startTs: readTs)
        var rows = try await store.rows(dag, ranges: [indexRange(1)], startTs: readTs, width: 2)
        XCTAssertEqual(rows, [[.null, .int(4)], [.int(25), .int(2)], [.int(30), .int(1)], [.int(30), .int(3)], [.int(35), .int(5)]])
        dag = PB.dag([PB.indexScan(Self.table, 1, cols, unique: false, desc: true), PB.limit(2)], outputOffsets: [1], startTs: readTs)
        rows = try await store.rows(dag, ranges: [indexRange(1)], startTs: readTs, width: 1)
        XCTAssertEqual(rows, [[.int(5)], [.int(3)]])
        // age = 30 as TinySQL ranges it: [prefix + EncodeKey(30), PrefixNext(prefix + EncodeKey(30))).
        let start = try TableCodec.indexPrefix(tableID: Self.table, indexID: 1) + DatumCodec.encodeKey([.int(30)])
        dag = PB.dag([PB.indexScan(Self.table, 1, cols, unique: false)], outputOffsets: [1], startTs: readTs)
        rows = try await store.rows(dag, ranges: [(start, TableCodec.prefixNext(start))], startTs: readTs, width: 1)
        XCTAssertEqual(rows, [[.int(1)], [.int(3)]])
    }

    func testIndexScanUniqueHandleFromValue() async throws {
        let cols = [PB.columnInfo(2, PB.varchar), PB.columnInfo(1, PB.longlong, pk: true)]
        let sel = PB.selection([PB.fn(.likeSig, [PB.column(0, PB.varchar), PB.string("%e%"), PB.int(92)])])
        let dag = PB.dag([PB.indexScan(Self.table, 2, cols, unique: true), sel], outputOffsets: [0, 1], startTs: readTs)
        let rows = try await store.rows(dag, ranges: [indexRange(2)], startTs: readTs, width: 2)
        XCTAssertEqual(rows, [[.string("alice"), .int(1)], [.string("dave"), .int(4)], [.string("eve"), .int(5)]])
    }

    func testAggregationWithGroupBy() async throws {
        // SELECT count(*), sum(age), avg(score), min(name), max(age), city FROM t GROUP BY city: partial results.
        let funcs = [PB.agg(.count, [PB.int(1)]), PB.agg(.sum, [PB.column(2, PB.longlong)], PB.newDecimal),
                     PB.agg(.avg, [PB.column(3, PB.double)], PB.double), PB.agg(.min, [PB.column(1, PB.varchar)], PB.varchar),
                     PB.agg(.max, [PB.column(2, PB.longlong)])]
        for streamed in [false, true] {
            let dag = PB.dag([PB.tableScan(Self.table, columns), PB.aggregation(funcs, groupBy: [PB.column(4, PB.varchar)], streamed: streamed)],
                             outputOffsets: Array(0..<7), startTs: readTs)
            let rows = try await store.rows(dag, ranges: [tableRange], startTs: readTs, width: 7)
            let dec = { (s: String) in Datum.decimal(SQLDecimal(s)!) }
            XCTAssertEqual(rows, [
                [.int(2), dec("60"), .int(1), .float(90.5), .string("alice"), .int(30), .string("paris")],
                [.int(2), dec("60"), .int(2), .float(155), .string("bob"), .int(35), .string("rome")],
                [.int(1), .null, .int(1), .float(60), .string("dave"), .null, .string("nowhere")],
            ])
        }
    }

    func testAggregationWithoutGroupBy() async throws {
        let funcs = [PB.agg(.count, [PB.column(2, PB.longlong)]), PB.agg(.count, [PB.int(1)]), PB.agg(.first, [PB.column(1, PB.varchar)], PB.varchar)]
        var dag = PB.dag([PB.tableScan(Self.table, columns), PB.aggregation(funcs, groupBy: [])], outputOffsets: [0, 1, 2], startTs: readTs)
        var rows = try await store.rows(dag, ranges: [tableRange], startTs: readTs, width: 3)
        XCTAssertEqual(rows, [[.int(4), .int(5), .string("alice")]])
        // An empty input has no partial row; TinySQL's final aggregation supplies count 0.
        let none = PB.selection([PB.fn(.gtInt, [PB.column(0, PB.longlong), PB.int(100)])])
        dag = PB.dag([PB.tableScan(Self.table, columns), none, PB.aggregation(funcs, groupBy: [])], outputOffsets: [0, 1, 2], startTs: readTs)
        rows = try await store.rows(dag, ranges: [tableRange], startTs: readTs, width: 3)
        XCTAssertEqual(rows, [])
    }

    func testTopN() async throws {
        // ORDER BY score DESC LIMIT 2; then ORDER BY age, id DESC LIMIT 3 (NULL first).
        var dag = PB.dag([PB.tableScan(Self.table, columns), PB.topN([(PB.column(3, PB.double), true)], limit: 2)], outputOffsets: [0], startTs: readTs)
        var rows = try await store.rows(dag, ranges: [tableRange], startTs: readTs, width: 1)
        XCTAssertEqual(rows, [[.int(1)], [.int(5)]])
        dag = PB.dag([PB.tableScan(Self.table, columns), PB.topN([(PB.column(2, PB.longlong), false), (PB.column(0, PB.longlong), true)], limit: 3)],
                     outputOffsets: [0], startTs: readTs)
        rows = try await store.rows(dag, ranges: [tableRange], startTs: readTs, width: 1)
        XCTAssertEqual(rows, [[.int(4)], [.int(2)], [.int(3)]])
    }

    func testManyRowsSpanSeveralChunks() async throws {
        let pairs = try (100..<250).map { h -> (key: [UInt8], value: [UInt8]?) in
            (TableCodec.rowKey(tableID: 51, handle: h), try RowCodec.encode([(2, .int(h * 2))]))
        }
        await store.write(pairs, startTs: 30, commitTs: 40)
        let cols = [PB.columnInfo(1, PB.longlong, pk: true), PB.columnInfo(2, PB.longlong)]
        let prefix = TableCodec.recordPrefix(tableID: 51)
        let dag = PB.dag([PB.tableScan(51, cols)], outputOffsets: [0, 1], startTs: readTs)
        let response = await store.send(dag, ranges: [(prefix, TableCodec.prefixNext(prefix))], startTs: readTs)
        let select = try response.data.withUnsafeBytes { try Tipb.SelectResponse(decoding: $0) }
        XCTAssertEqual(select.chunks.count, 3, "64 rows a chunk")
        let rows = try await store.rows(dag, ranges: [(prefix, TableCodec.prefixNext(prefix))], startTs: readTs, width: 2)
        XCTAssertEqual(rows, (100..<250).map { [.int($0), .int($0 * 2)] })
    }

    func testSnapshotAtStartTs() async throws {
        await store.write([(TableCodec.rowKey(tableID: Self.table, handle: 6), try RowCodec.encode([(2, .string("frank"))]))], startTs: 110, commitTs: 120)
        let dag = PB.dag([PB.tableScan(Self.table, columns)], outputOffsets: [0], startTs: readTs)
        let before = try await store.rows(dag, ranges: [tableRange], startTs: readTs, width: 1)
        XCTAssertEqual(before.count, 5)
        let after = try await store.rows(dag, ranges: [tableRange], startTs: 130, width: 1)
        XCTAssertEqual(after.last, [.int(6)])
        XCTAssertEqual(after.count, 6)
    }

    func testLockedKey() async throws {
        let key = TableCodec.rowKey(tableID: Self.table, handle: 3)
        await store.write([(key, try RowCodec.encode([(2, .string("carla"))]))], startTs: 90, commitTs: 0, commit: false)
        let dag = PB.dag([PB.tableScan(Self.table, columns)], outputOffsets: [0], startTs: readTs)
        let response = await store.send(dag, ranges: [tableRange], startTs: readTs)
        XCTAssertEqual(response.locked?.key, key)
        XCTAssertEqual(response.locked?.lockVersion, 90)
        XCTAssertEqual(response.locked?.primaryLock, key)
        // A reader that started before the lock does not see it.
        let earlier = try await store.rows(dag, ranges: [tableRange], startTs: 80, width: 1)
        XCTAssertEqual(earlier.count, 5)
    }

    func testErrors() async throws {
        // Unsupported request type.
        var response = await store.copr.handle(Coprocessor.Request(tp: 104, data: [], ranges: [], startTs: readTs))
        XCTAssertTrue(response.otherError.contains("104"), response.otherError)
        response = await store.copr.handle(Coprocessor.Request(tp: 7, data: [], startTs: readTs))
        XCTAssertTrue(response.otherError.contains("7"), response.otherError)
        // Garbage payload.
        response = await store.copr.handle(Coprocessor.Request(tp: 103, data: [0xFF, 0xFF, 0xFF], startTs: readTs))
        XCTAssertTrue(response.otherError.contains("DAGRequest"), response.otherError)
        // Unsupported function.
        let bad = PB.selection([PB.fn(.jsonTypeSig, [PB.column(1, PB.varchar)])])
        response = await store.send(PB.dag([PB.tableScan(Self.table, columns), bad], outputOffsets: [0], startTs: readTs), ranges: [tableRange], startTs: readTs)
        XCTAssertTrue(response.otherError.contains("JsonTypeSig"), response.otherError)
        // Output offset out of range.
        response = await store.send(PB.dag([PB.tableScan(Self.table, columns)], outputOffsets: [9], startTs: readTs), ranges: [tableRange], startTs: readTs)
        XCTAssertFalse(response.otherError.isEmpty)
        // No executors.
        response = await store.send(PB.dag([], outputOffsets: [], startTs: readTs), ranges: [tableRange], startTs: readTs)
        XCTAssertFalse(response.otherError.isEmpty)
        // Evaluation error: overflow goes to SelectResponse.error with MySQL's code.
        let overflow = PB.selection([PB.fn(.gtInt, [PB.fn(.plusInt, [PB.column(0, PB.longlong), PB.int(.max)]), PB.int(0)])])
        response = await store.send(PB.dag([PB.tableScan(Self.table, columns), overflow], outputOffsets: [0], startTs: readTs), ranges: [tableRange], startTs: readTs)
        XCTAssertEqual(response.otherError, "")
        let select = try response.data.withUnsafeBytes { try Tipb.SelectResponse(decoding: $0) }
        XCTAssertEqual(select.error?.code, 1690)
    }
}
