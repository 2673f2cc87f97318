/// An error reported by the storage engine.
public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// RocksDB returned an error (I/O failure, corruption, a full disk, ...).
    case engine(String)
    /// A column family the engine was not opened with.
    case unknownColumnFamily(String)
    /// The engine has been closed.
    case closed

    public var description: String {
        switch self {
        case .engine(let message): return "storage engine error: \(message)"
        case .unknownColumnFamily(let name): return "unknown column family \"\(name)\""
        case .closed: return "storage engine is closed"
        }
    }
}
