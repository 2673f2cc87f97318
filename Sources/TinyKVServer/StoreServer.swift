import Foundation
import Logging
import Metrics
import Operability
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
    /// Reflection, health, and the status port.
    public let operability: ServerOperability

    /// Opens the store's data and binds its address; serving starts with ``run()``.
    public init(config: StoreConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        if config.raft {
            throw StoreServerError.raftStoreUnavailable
        }
        let kvPath = config.dataPath + "/kv"
        try FileManager.default.createDirectory(atPath: kvPath, withIntermediateDirectories: true)
        engine = try RocksEngine(path: kvPath)
        storage = StandaloneStorage(engine: engine)
        let transactions = TransactionService(storage: storage, logger: logger)
        let coprocessor = CoprocessorService(storage: storage, logger: logger)
        var handlers = TinyKvHandlers.make(
            raw: RawKVService(storage: storage), transactions: transactions, coprocessor: coprocessor)
        operability = ServerOperability(role: "store", services: ["tinykvpb.TinyKv"])
        handlers.merge(operability.handlers)
        server = try GRPCServer(address: config.storeAddress, handlers: handlers.byPath)
    }

    /// The port the server is bound to.
    public var port: Int { server.port }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    public func run() async throws {
        server.start()
        // Standalone: the store serves its own engine, so it is ready as soon as it listens.
        operability.health.setAll(.serving)
        logger.info("tinykv-server serving", metadata: [
            "addr": "\(config.storeAddress)", "port": "\(server.port)", "path": "\(config.dataPath)", "mode": "standalone",
        ])
        if !config.statusAddress.isEmpty {
            try startStatusServer()
        }
        let signal = await SignalWaiter.waitForTermination()
        logger.info("received \(signal), shutting down")
        operability.beginShutdown()
        await server.shutdown(gracePeriod: .seconds(5))
        operability.stop()
        storage.stop()
        engine.close()
        logger.info("tinykv-server stopped")
    }
}

extension StoreServer {
    /// Serves `/metrics` (storage size, region and leader counts, RPC metrics) and `/status`.
    private func startStatusServer() throws {
        let sizeGauge = Gauge(label: "tinykv_store_size_bytes")
        let regionGauge = Gauge(label: "tinykv_region_count")
        let leaderGauge = Gauge(label: "tinykv_leader_count")
        let dataPath = config.dataPath
        let port = try operability.startStatusServer(
            address: config.statusAddress, grpcAddress: config.storeAddress,
            refresh: {
                sizeGauge.record(directorySize(dataPath))
                // Standalone: one store holds the whole key space as one region it leads.
                regionGauge.record(1)
                leaderGauge.record(1)
            },
            details: { ["mode": "standalone", "data_path": dataPath, "scheduler": self.config.schedulerAddress, "regions": 1, "leaders": 1] })
        logger.info("status server listening", metadata: ["status-addr": "\(config.statusAddress)", "port": "\(port)"])
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
