/// A column family of the key-value engine.
///
/// TinyKV keeps its data in three: `default` (values), `lock` (Percolator locks)
/// and `write` (commit records). The raw API may address any of them by name.
public struct ColumnFamily: Hashable, Sendable, CustomStringConvertible {
    /// The RocksDB column family name.
    public let name: String

    public init(_ name: String) { self.name = name }

    public static let `default` = ColumnFamily("default")
    public static let lock = ColumnFamily("lock")
    public static let write = ColumnFamily("write")

    /// The column families every TinyKV engine has.
    public static let standard: [ColumnFamily] = [.default, .lock, .write]

    /// The column family a client named, where an empty name means `default`.
    /// Returns nil for a name the engine does not have.
    public static func named(_ name: String, among families: [ColumnFamily] = standard) -> ColumnFamily? {
        if name.isEmpty { return .default }
        return families.first { $0.name == name }
    }

    public var description: String { name }
}
