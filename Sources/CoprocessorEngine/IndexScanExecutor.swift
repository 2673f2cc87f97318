import Codec

/// `IndexScan`: the indexed values decoded from index keys, plus the handle when the last
/// requested column is the primary key or the hidden row id.
///
/// The handle is the datum after the indexed values in the key (non-unique indexes, and unique
/// ones holding a NULL); otherwise it is the 8-byte big-endian value of a unique index.
final class IndexScanExecutor: Executor {
    private let scanner: RangeScanner
    private let columns: [ColumnSchema]
    private let indexedCount: Int
    private let handleColumn: ColumnSchema?

    init(scanner: RangeScanner, columns: [ColumnSchema]) {
        self.scanner = scanner
        self.columns = columns
        if let last = columns.last, last.isHandle {
            handleColumn = last
            indexedCount = columns.count - 1
        } else {
            handleColumn = nil
            indexedCount = columns.count
        }
    }

    func next() throws -> [Datum]? {
        guard let (key, value) = try scanner.next() else { return nil }
        do {
            let (encoded, rest) = try TableCodec.cutIndexKey(key, columnCount: indexedCount)
            var row: [Datum] = []
            row.reserveCapacity(columns.count)
            for (i, bytes) in encoded.enumerated() {
                var b = bytes
                row.append(try DatumCodec.decodeOne(&b).coerced(to: columns[i].valueClass))
            }
            if let handleColumn {
                if !rest.isEmpty {
                    var b = rest
                    row.append(try DatumCodec.decodeOne(&b).coerced(to: handleColumn.valueClass))
                } else {
                    guard value.count >= 8 else { throw CodecError("unique index value without a handle") }
                    var b = value[...]
                    row.append(handleColumn.handleDatum(Int64(bitPattern: try NumberCodec.readBigEndian(&b))))
                }
            }
            return row
        } catch let error as CodecError {
            throw CoprocessorError.invalid("index entry \(key): \(error)")
        }
    }
}
