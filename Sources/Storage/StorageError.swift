#if canImport(Glibc)
import Glibc
#endif

/// An error reported by the storage engine.
public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// RocksDB returned an error (I/O failure, corruption, a full disk, ...).
    case engine(String)
    /// A column family the engine was not opened with.
    case unknownColumnFamily(String)
    /// The engine has been closed.
    case closed
    /// A failpoint fired (tests only): `errno` names the simulated failure.
    case injected(point: String, errno: Int32)
    /// A durable write failed earlier; the engine refuses every write since (fail-stop).
    case writesStopped(cause: String)

    public var description: String {
        switch self {
        case .engine(let message): return "storage engine error: \(message)"
        case .unknownColumnFamily(let name): return "unknown column family \"\(name)\""
        case .closed: return "storage engine is closed"
        case .injected(let point, let errno):
            return "storage engine error: \(String(cString: strerror(errno))) (injected at failpoint \(point))"
        case .writesStopped(let cause):
            return "store stopped serving writes after a failed disk write: \(cause)"
        }
    }
}
