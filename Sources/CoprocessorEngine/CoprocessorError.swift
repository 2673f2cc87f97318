import TinyKVProto

/// Why a coprocessor request failed; ``CoprocessorService`` maps each case to its response field.
enum CoprocessorError: Error, CustomStringConvertible {
    /// A request the engine does not implement (request type, executor, function): `other_error`.
    case unsupported(String)
    /// A malformed request: `other_error`.
    case invalid(String)
    /// A lock of an earlier transaction on a key in range: `locked`, so the client resolves it and retries.
    case locked(Kvrpcpb.LockInfo)
    /// Evaluation failed (overflow, bad value): `SelectResponse.error` with a MySQL error code.
    case evaluation(code: Int32, message: String)

    var description: String {
        switch self {
        case .unsupported(let m): return "unsupported: \(m)"
        case .invalid(let m): return "invalid request: \(m)"
        case .locked(let info): return "key is locked by transaction \(info.lockVersion)"
        case .evaluation(_, let m): return m
        }
    }

    /// MySQL's ER_DATA_OUT_OF_RANGE.
    static func outOfRange(_ what: String) -> CoprocessorError {
        .evaluation(code: 1690, message: "\(what) value is out of range")
    }
}
