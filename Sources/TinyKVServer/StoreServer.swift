import Foundation
import Logging
import RaftStore
import Storage
import TinyKVProto
import Transaction
import Transport

/// A running store: its storage (one node's engine, or the raft store), its services
/// and the gRPC server in front of them.
public final class StoreServer: Sendable {
    public let config: StoreConfig
    private let logger: Logger
    private let server: GRPCServer
    private let mode: Mode

    private enum Mode: Sendable {
        case standalone(RocksEngine, StandaloneStorage)
        case raft(RaftStoreNode)
    }

    /// Opens a standalone store (`raft = false`) and binds its address; serving starts with ``run()``.
    public convenience init(config: StoreConfig, logger: Logger) throws {
        if config.raft {
            throw StoreServerError.raftStoreNeedsAsyncStart
        }
        let kvPath = config.dataPath + "/kv"
        try FileManager.default.createDirectory(atPath: kvPath, withIntermediateDirectories: true)
        let engine = try RocksEngine(path: kvPath)
        let storage = StandaloneStorage(engine: engine)
        try self.init(config: config, logger: logger, storage: storage, extra: ServiceHandlers(), mode: .standalone(engine, storage))
    }

    /// Opens the store in the configured mode. With `raft = true` the store joins the cluster
    /// through the scheduler at `config.schedulerAddress` (bootstrapping it if first), recovers
    /// its regions, and serves the raw and transactional APIs through Raft.
    public static func start(config: StoreConfig, logger: Logger) async throws -> StoreServer {
        guard config.raft else { return try StoreServer(config: config, logger: logger) }
        let node = try await RaftStoreNode.start(config: config.raftStoreConfig, dataPath: config.dataPath,
                                                 storeAddress: config.storeAddress, schedulerAddress: config.schedulerAddress,
                                                 logger: logger)
        do {
            return try StoreServer(config: config, logger: logger, storage: node.storage, extra: node.handlers, mode: .raft(node))
        } catch {
            node.stop()
            throw error
        }
    }

    private init(config: StoreConfig, logger: Logger, storage: any KVStorage, extra: ServiceHandlers, mode: Mode) throws {
        self.config = config
        self.logger = logger
        self.mode = mode
        let transactions = TransactionService(storage: storage, logger: logger)
        var handlers = TinyKvHandlers.make(raw: RawKVService(storage: storage), transactions: transactions)
        handlers.merge(extra)
        server = try GRPCServer(address: config.storeAddress, handlers: handlers.byPath)
    }

    /// The port the server is bound to.
    public var port: Int { server.port }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    public func run() async throws {
        server.start()
        let modeName: String
        switch mode {
        case .standalone: modeName = "standalone"
        case .raft(let node): modeName = "raft (store \(node.storeID))"
        }
        logger.info("tinykv-server serving", metadata: [
            "addr": "\(config.storeAddress)", "port": "\(server.port)", "path": "\(config.dataPath)", "mode": "\(modeName)",
        ])
        let signal = await SignalWaiter.waitForTermination()
        logger.info("received \(signal), shutting down")
        await server.shutdown(gracePeriod: .seconds(5))
        switch mode {
        case .standalone(let engine, let storage):
            storage.stop()
            engine.close()
        case .raft(let node):
            node.stop()
        }
        logger.info("tinykv-server stopped")
    }
}

/// Why a store cannot start.
public enum StoreServerError: Error, CustomStringConvertible {
    case raftStoreNeedsAsyncStart

    public var description: String {
        switch self {
        case .raftStoreNeedsAsyncStart:
            return "raft = true: open the store with StoreServer.start(config:logger:)"
        }
    }
}
