import Codec
import TinyKVProto

/// Encodes result rows as TinySQL's `distsql` decodes them (`EncodeType.TypeDefault`): each row its
/// output columns as value-form datums, rows back to back, a new `tipb.Chunk` every 64 rows.
struct ResponseEncoder {
    static let rowsPerChunk = 64

    private let outputOffsets: [Int]
    private(set) var chunks: [Tipb.Chunk] = []
    private var rowsInChunk = 0
    private var data: [UInt8] = []

    /// `offsets` picks the output columns; empty means all of them.
    init(outputOffsets offsets: [UInt32], width: Int) throws {
        outputOffsets = offsets.isEmpty ? Array(0..<width) : offsets.map(Int.init)
        if let bad = outputOffsets.first(where: { $0 >= width }) {
            throw CoprocessorError.invalid("output offset \(bad) outside the \(width) result columns")
        }
    }

    mutating func append(_ row: [Datum]) throws {
        for i in outputOffsets { try DatumCodec.appendValue(row[i], to: &data) }
        rowsInChunk += 1
        if rowsInChunk == Self.rowsPerChunk { flush() }
    }

    mutating func finish() -> [Tipb.Chunk] {
        if rowsInChunk > 0 { flush() }
        return chunks
    }

    private mutating func flush() {
        chunks.append(Tipb.Chunk(rowsData: data))
        data = []
        rowsInChunk = 0
    }
}
