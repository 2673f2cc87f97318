import Codec
import TinyKVProto

/// One column a scan produces, from `tipb.ColumnInfo`.
struct ColumnSchema {
    /// TinySQL's id of the hidden row-id column (`model.ExtraHandleID`).
    static let extraHandleID: Int64 = -1

    let id: Int64
    let valueClass: ValueClass
    /// The column is the integer primary key: its value is the row's handle, not stored in the row.
    let isHandle: Bool
    /// The value of a column missing from a row (added by a later `ALTER TABLE`), or NULL.
    let defaultValue: Datum

    init(_ info: Tipb.ColumnInfo) throws {
        id = info.columnId ?? 0
        let flag = info.flag ?? 0
        valueClass = ValueClass(type: info.tp ?? MySQLType.null, flag: flag)
        isHandle = (info.pkHandle ?? false) || id == Self.extraHandleID
        if let encoded = info.defaultVal, !encoded.isEmpty {
            do {
                defaultValue = try DatumCodec.decodeAll(encoded).first?.coerced(to: valueClass) ?? .null
            } catch {
                throw CoprocessorError.invalid("default value of column \(id): \(error)")
            }
        } else {
            defaultValue = .null
        }
    }

    /// The handle as this column's datum (unsigned primary keys are stored as the same 64 bits).
    func handleDatum(_ handle: Int64) -> Datum {
        valueClass == .uint ? .uint(UInt64(bitPattern: handle)) : .int(handle)
    }
}
