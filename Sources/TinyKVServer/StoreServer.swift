import Foundation
import Logging
import Storage
import TinyKVProto
import CoprocessorEngine
import Transaction
import Transport

/// A running store: its engine, its services and the gRPC server in front of them.
public final class StoreServer: Sendable {
    public let config: StoreConfig
    private let logger: Logger
    private let engine: RocksEngine
    private let storage: StandaloneStorage
    private let server: GRPCServer

    /// Opens the store's data and binds its address; serving starts with ``run()``.
    public init(config: StoreConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        if config.raft {
            throw StoreServerError.raftStoreUnavailable
        }
        let kvPath = config.dataPath + "/kv"
        try FileManager.default.createDirectory(atPath: kvPath, withIntermediateDirectories: true)
        try FailPoints.loadEnvironment()
        engine = try RocksEngine(path: kvPath)
        engine.onWriteFailure { cause in
            logger.critical("disk write failed; the store stops serving writes until restarted (reads go on)", metadata: [
                "cause": "\(cause)", "path": "\(kvPath)",
            ])
        }
        for (point, action) in FailPoints.active {
            logger.warning("failpoint active", metadata: ["point": "\(point)", "action": "\(action)"])
        }
        storage = StandaloneStorage(engine: engine)
        let transactions = TransactionService(storage: storage, logger: logger)
        let coprocessor = CoprocessorService(storage: storage, logger: logger)
        let handlers = TinyKvHandlers.make(
            raw: RawKVService(storage: storage), transactions: transactions, coprocessor: coprocessor,
            limits: config.requestLimits)
        server = try GRPCServer(
            address: config.storeAddress, handlers: handlers.byPath,
            maxMessageBytes: Int(config.maxGrpcMessageSize), tls: try config.security.tls())
    }

    /// The port the server is bound to.
    public var port: Int { server.port }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    public func run() async throws {
        server.start()
        logger.info("tinykv-server serving", metadata: [
            "addr": "\(config.storeAddress)", "port": "\(server.port)", "path": "\(config.dataPath)", "mode": "standalone",
            "tls": "\(config.security.isEnabled ? (config.security.caPath.isEmpty ? "tls" : "mutual-tls") : "off")",
        ])
        let signal = await SignalWaiter.waitForTermination()
        logger.info("received \(signal), shutting down")
        await server.shutdown(gracePeriod: .seconds(5))
        storage.stop()
        engine.close()
        logger.info("tinykv-server stopped")
    }
}

/// Why a store cannot start.
public enum StoreServerError: Error, CustomStringConvertible {
    case raftStoreUnavailable

    public var description: String {
        switch self {
        case .raftStoreUnavailable:
            return "raft = true: the raft store is not available in this build; run with raft = false (standalone)"
        }
    }
}
