/// A set of writes applied atomically, across column families.
public struct WriteBatch: Sendable, Hashable {
    /// One write of a batch.
    public enum Operation: Sendable, Hashable {
        case put(ColumnFamily, key: [UInt8], value: [UInt8])
        case delete(ColumnFamily, key: [UInt8])
        /// Deletes every key in `[start, end)`.
        case deleteRange(ColumnFamily, start: [UInt8], end: [UInt8])
    }

    /// The writes, in the order they apply.
    public private(set) var operations: [Operation] = []

    public init() {}

    public var isEmpty: Bool { operations.isEmpty }
    public var count: Int { operations.count }

    /// Bytes of keys and values, to size batches.
    public var byteSize: Int {
        operations.reduce(0) { total, operation in
            switch operation {
            case .put(_, let key, let value): return total + key.count + value.count
            case .delete(_, let key): return total + key.count
            case .deleteRange(_, let start, let end): return total + start.count + end.count
            }
        }
    }

    public mutating func put(_ cf: ColumnFamily, _ key: [UInt8], _ value: [UInt8]) {
        operations.append(.put(cf, key: key, value: value))
    }

    public mutating func delete(_ cf: ColumnFamily, _ key: [UInt8]) {
        operations.append(.delete(cf, key: key))
    }

    public mutating func deleteRange(_ cf: ColumnFamily, from start: [UInt8], to end: [UInt8]) {
        operations.append(.deleteRange(cf, start: start, end: end))
    }

    /// Appends every write of `other` after this batch's.
    public mutating func append(contentsOf other: WriteBatch) {
        operations.append(contentsOf: other.operations)
    }
}
