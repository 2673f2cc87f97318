import Codec

/// `TableScan`: rows of the table decoded into the requested columns. The handle column comes
/// from the key; a column missing from the row value takes its default.
final class TableScanExecutor: Executor {
    private let scanner: RangeScanner
    private let columns: [ColumnSchema]

    init(scanner: RangeScanner, columns: [ColumnSchema]) {
        self.scanner = scanner
        self.columns = columns
    }

    func next() throws -> [Datum]? {
        guard let (key, value) = try scanner.next() else { return nil }
        do {
            let handle = try TableCodec.decodeRowKey(key)
            let row = try RowCodec.decode(value)
            return try columns.map { column in
                if column.isHandle { return column.handleDatum(handle) }
                return try row.datum(columnID: column.id, as: column.valueClass) ?? column.defaultValue
            }
        } catch let error as CodecError {
            throw CoprocessorError.invalid("row \(key): \(error)")
        }
    }
}
