import CoprocessorEngine
import Foundation
import Logging
import Operability
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
    /// What ``server`` serves once ``run()`` starts it.
    private let handlers: [String: MethodHandler]
    private let mode: Mode
    /// Reflection, health, and the status port.
    public let operability: ServerOperability
    /// What the status port reports; it serves from before the store joins the cluster.
    private let statusFacts: StatusFacts

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
        try FailPoints.loadEnvironment()
        let status = try StatusPort(config: config, logger: logger, mode: "standalone", counts: (1, 1))
        do {
            let engine = try RocksEngine(path: kvPath)
            engine.onWriteFailure { cause in
                logger.critical("disk write failed; the store stops serving writes until restarted (reads go on)", metadata: [
                    "cause": "\(cause)", "path": "\(kvPath)",
                ])
            }
            let storage = StandaloneStorage(engine: engine)
            try self.init(config: config, logger: logger, storage: storage, extra: ServiceHandlers(), mode: .standalone(engine, storage),
                          status: status)
        } catch {
            status.operability.stop()
            throw error
        }
    }

    /// Opens the store in the configured mode. With `raft = true` the store joins the cluster
    /// through the scheduler at `config.schedulerAddress` (bootstrapping it if first), recovers
    /// its regions, and serves the raw and transactional APIs through Raft.
    public static func start(config: StoreConfig, logger: Logger) async throws -> StoreServer {
        // Metrics created from here on must land in the registry the status port renders.
        if !config.statusAddress.isEmpty { _ = ServerMetrics.registry }
        try FailPoints.loadEnvironment()
        // The check says why an address cannot be bound (the gRPC core does not).
        try ListenAddress.checkBindable(config.storeAddress)
        guard config.raft else { return try StoreServer(config: config, logger: logger) }
        // Claim both addresses before the store joins the cluster and announces it: a store that
        // cannot listen must not register. The status port serves while the store joins
        // (health NOT_SERVING, mode "joining").
        let status = try StatusPort(config: config, logger: logger, mode: "joining", counts: (0, 0))
        let server: GRPCServer
        do {
            server = try bind(config)
        } catch {
            status.operability.stop()
            throw error
        }
        do {
            var raftConfig = config.raftStoreConfig
            // The store's own connections (to the scheduler and other stores) use the same TLS settings.
            raftConfig.tls = try config.security.tls()
            let node = try await RaftStoreNode.start(config: raftConfig, dataPath: config.dataPath,
                                                     storeAddress: config.storeAddress, schedulerAddress: config.schedulerAddress,
                                                     logger: logger)
            do {
                return try StoreServer(config: config, logger: logger, storage: node.storage, extra: node.handlers,
                                       mode: .raft(node), status: status, server: server)
            } catch {
                node.stop()
                throw error
            }
        } catch {
            await server.shutdown(gracePeriod: .zero)
            status.operability.stop()
            throw error
        }
    }

    /// The gRPC server on the store's address, bound and not yet serving.
    private static func bind(_ config: StoreConfig) throws -> GRPCServer {
        try GRPCServer(address: config.storeAddress, maxMessageBytes: Int(config.maxGrpcMessageSize), tls: try config.security.tls())
    }

    private init(config: StoreConfig, logger: Logger, storage: any KVStorage, extra: ServiceHandlers, mode: Mode,
                 status: StatusPort, server: GRPCServer? = nil) throws {
        self.config = config
        self.logger = logger
        self.mode = mode
        for (point, action) in FailPoints.active {
            logger.warning("failpoint active", metadata: ["point": "\(point)", "action": "\(action)"])
        }
        let transactions = TransactionService(storage: storage, logger: logger)
        let coprocessor = CoprocessorService(storage: storage, logger: logger)
        var handlers = TinyKvHandlers.make(
            raw: RawKVService(storage: storage), transactions: transactions, coprocessor: coprocessor,
            limits: config.requestLimits)
        handlers.merge(extra)
        operability = status.operability
        statusFacts = status.facts
        handlers.merge(operability.handlers)
        self.handlers = handlers.byPath
        self.server = try server ?? Self.bind(config)
        statusFacts.mode.withLock { $0 = modeName }
    }

    /// The port the server is bound to.
    public var port: Int { server.port }

    private var modeName: String {
        switch mode {
        case .standalone: return "standalone"
        case .raft(let node): return "raft (store \(node.storeID))"
        }
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    public func run() async throws {
        server.start(adding: handlers)
        // Both modes are ready once listening: a raft store has joined the cluster before it gets here.
        operability.health.setAll(.serving)
        logger.info("tinykv-server serving", metadata: [
            "addr": "\(config.storeAddress)", "port": "\(server.port)", "path": "\(config.dataPath)", "mode": "\(modeName)",
            "tls": "\(config.security.isEnabled ? (config.security.caPath.isEmpty ? "tls" : "mutual-tls") : "off")",
        ])
        // The counts only feed the status port: no polling of the raft thread without it.
        let counter = config.statusAddress.isEmpty ? nil : Task { await refreshRegionCounts() }
        let signal = await SignalWaiter.waitForTermination()
        logger.info("received \(signal), shutting down")
        counter?.cancel()
        operability.beginShutdown()
        await server.shutdown(gracePeriod: .seconds(5))
        operability.stop()
        switch mode {
        case .standalone(let engine, let storage):
            storage.stop()
            engine.close()
        case .raft(let node):
            node.stop()
        }
        logger.info("tinykv-server stopped")
    }

    /// Keeps the region and leader counts current for the status port (raft mode only).
    private func refreshRegionCounts() async {
        guard case .raft(let node) = mode else { return }
        while !Task.isCancelled {
            let regions = await node.regions()
            statusFacts.counts.withLock { $0 = (regions.count, regions.filter(\.isLeader).count) }
            try? await Task.sleep(for: .seconds(2))
        }
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
