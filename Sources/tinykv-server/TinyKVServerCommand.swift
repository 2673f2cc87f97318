import ArgumentParser
import Logging
import Operability
import Storage
import TinyKVConfig
import TinyKVServer
import Transport

/// `tinykv-server`: one TinyKV store.
///
/// Flags follow the original Go program (`-scheduler`, `-addr`, `-path`,
/// `-loglevel`, `-config`) and also accept two dashes.
@main
struct TinyKVServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tinykv-server",
        abstract: "Run one TinyKV store.",
        discussion: "With -scheduler (or `raft = true` in the -config file) the store joins a replicated cluster through the scheduler (raft mode); otherwise it serves one node's RocksDB directly (standalone mode). `raft = false` in the config file forces standalone mode even with -scheduler.")

    @Option(name: [.customLong("scheduler", withSingleDash: true), .customLong("scheduler")], help: "The scheduler's address (HOST:PORT).")
    var scheduler: String?

    @Option(name: [.customLong("addr", withSingleDash: true), .customLong("addr")], help: "The address to serve on (HOST:PORT).")
    var addr: String?

    @Option(name: [.customLong("path", withSingleDash: true), .customLong("path")], help: "The data directory.")
    var path: String?

    @Option(name: [.customLong("loglevel", withSingleDash: true), .customLong("loglevel"), .customLong("log-level")], help: "trace, debug, info, warn, error or fatal.")
    var logLevel: String?

    @Option(name: [.customLong("config", withSingleDash: true), .customLong("config")], help: "A TOML config file.")
    var config: String?

    @Option(name: [.customLong("status-addr", withSingleDash: true), .customLong("status-addr")], help: "HTTP address (HOST:PORT) serving /metrics and /status; off unless given.")
    var statusAddr: String?

    @Option(name: [.customLong("cacert", withSingleDash: true), .customLong("cacert")], help: "CA certificate (PEM): require and verify client certificates (mutual TLS).")
    var cacert: String?

    @Option(name: [.customLong("cert", withSingleDash: true), .customLong("cert")], help: "This store's certificate (PEM): serve TLS.")
    var cert: String?

    @Option(name: [.customLong("key", withSingleDash: true), .customLong("key")], help: "The private key (PEM) of --cert.")
    var key: String?

    func run() async throws {
        var storeConfig: StoreConfig
        do {
            storeConfig = try config.map { try StoreConfig(file: ConfigFile(path: $0)) } ?? StoreConfig()
            if let scheduler {
                storeConfig.schedulerAddress = scheduler
                // Like the original: naming a scheduler starts a raft store, unless the
                // config file explicitly asks for standalone (`raft = false`).
                if !storeConfig.raftSetInFile { storeConfig.raft = true }
            }
            if let addr { storeConfig.storeAddress = addr }
            if let path { storeConfig.dataPath = path }
            if let logLevel { storeConfig.logLevel = logLevel }
            if let statusAddr { storeConfig.statusAddress = statusAddr }
            if let cacert { storeConfig.security.caPath = cacert }
            if let cert { storeConfig.security.certPath = cert }
            if let key { storeConfig.security.keyPath = key }
            try storeConfig.validate()
        } catch let error as ConfigError {
            throw ValidationError(error.message)
        }
        let level = Logger.Level(tinyKVName: storeConfig.logLevel) ?? .info
        ServerLogging.bootstrap(level: level)
        bootstrapServerMetrics()
        let logger = Logger(label: "tinykv-server")
        do {
            let server = try await StoreServer.start(config: storeConfig, logger: logger)
            try await server.run()
        } catch {
            ServerStartup.fail(error, logger: logger)
        }
        GRPCRuntime.exitAfterShutdown()
    }
}
