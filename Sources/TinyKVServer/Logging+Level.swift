import Foundation
import Logging
import Transport

extension Logger.Level {
    /// A level from the names TinyKV and TiKV use (`warn`, `fatal`, ...), case-insensitive.
    public init?(tinyKVName name: String) {
        switch name.lowercased() {
        case "trace": self = .trace
        case "debug": self = .debug
        case "info": self = .info
        case "notice": self = .notice
        case "warn", "warning": self = .warning
        case "error": self = .error
        case "fatal", "critical": self = .critical
        default: return nil
        }
    }
}

/// Process-wide logging of the servers: one line per event on standard error, at `level`.
public enum ServerLogging {
    public static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// How the servers end when they cannot start once native threads exist (the raft store, the
/// gRPC core, RocksDB): logged, then `_exit(1)`. Returning the error to the argument parser
/// ran `exit`, whose static destructors raced those threads and could abort with a crash
/// report instead of the one line that says what is wrong.
public enum ServerStartup {
    public static func fail(_ error: any Error, logger: Logger) -> Never {
        logger.critical("cannot start: \(describe(error))")
        GRPCRuntime.exitAfterShutdown(1)
    }

    /// `error` in one readable line: Foundation's file errors (a data directory that is a file,
    /// or cannot be created) as "path: reason" instead of their NSError dump.
    static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain else { return "\(error)" }
        var reason = ns.localizedDescription
        if let underlyingError = ns.userInfo[NSUnderlyingErrorKey] as? any Error {
            let underlying = underlyingError as NSError
            reason = underlying.domain == NSPOSIXErrorDomain
                ? String(cString: strerror(Int32(underlying.code))) : underlying.localizedDescription
        }
        guard let path = ns.userInfo[NSFilePathErrorKey] as? String else { return reason }
        return "\(path): \(reason)"
    }
}
