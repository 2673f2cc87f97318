import ArgumentParser
import Foundation
import Logging
import Metrics
import Operability
import Scheduler
import TinyKVConfig
import TinyKVServer
import Transport

/// `tinyscheduler-server`: the cluster's scheduler (the PD role).
///
/// Flags follow the original program (`--client-urls`, `--data-dir`, `--name`,
/// `--config`, `--log-level`) and also accept a single dash.
@main
struct TinySchedulerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tinyscheduler-server",
        abstract: "Run the TinyKV scheduler: timestamps, ids, routing and balancing.")

    @Option(name: [.customLong("client-urls"), .customLong("client-urls", withSingleDash: true)], help: "URL to serve clients on, e.g. http://127.0.0.1:2379.")
    var clientURLs: String?

    @Option(name: [.customLong("peer-urls"), .customLong("peer-urls", withSingleDash: true)], help: "Peer URLs (accepted for compatibility; one scheduler serves the cluster).")
    var peerURLs: String?

    @Option(name: [.customLong("data-dir"), .customLong("data-dir", withSingleDash: true)], help: "Where the scheduler keeps its state.")
    var dataDir: String?

    @Option(name: [.customLong("name"), .customLong("name", withSingleDash: true)], help: "This scheduler's name.")
    var name: String?

    @Option(name: [.customLong("config"), .customLong("config", withSingleDash: true)], help: "A TOML config file.")
    var config: String?

    @Option(name: [.customLong("log-level"), .customLong("log-level", withSingleDash: true), .customLong("L", withSingleDash: true)], help: "trace, debug, info, warn, error or fatal.")
    var logLevel: String?

    @Option(name: [.customLong("status-addr"), .customLong("status-addr", withSingleDash: true)], help: "HTTP address (HOST:PORT) serving /metrics and /status; empty turns it off (default: off).")
    var statusAddr: String?

    @Option(name: [.customLong("cacert"), .customLong("cacert", withSingleDash: true)], help: "CA certificate (PEM): require and verify client certificates (mutual TLS).")
    var cacert: String?

    @Option(name: [.customLong("cert"), .customLong("cert", withSingleDash: true)], help: "The scheduler's certificate (PEM): serve TLS.")
    var cert: String?

    @Option(name: [.customLong("key"), .customLong("key", withSingleDash: true)], help: "The private key (PEM) of --cert.")
    var key: String?

    func run() async throws {
        var statusAddress = ""
        var settings = SchedulerConfig(dataDirectory: "default.tinyscheduler")
        var level = "info"
        var security = SecurityConfig()
        let tls: TLSConfig?
        do {
            if let config {
                let file = try ConfigFile(path: config)
                try settings.apply(file)
                if let v = try file.string("log-level") { level = v }
                try security.apply(file)
                if let v = try file.string("status-addr") { statusAddress = v }
                try file.rejectUnknownKeys()
            }
            if let cacert { security.caPath = cacert }
            if let cert { security.certPath = cert }
            if let key { security.keyPath = key }
            tls = try security.tls()
        } catch let error as ConfigError {
            throw ValidationError(error.message)
        }
        if let clientURLs { settings.clientURLs = clientURLs.split(separator: ",").map(String.init) }
        if let peerURLs { settings.peerURLs = peerURLs.split(separator: ",").map(String.init) }
        if let dataDir { settings.dataDirectory = dataDir }
        if let name { settings.name = name }
        if let logLevel { level = logLevel }
        if let statusAddr { statusAddress = statusAddr }
        guard let logLevel = Logger.Level(tinyKVName: level) else {
            throw ValidationError("log level \"\(level)\" is not one of trace, debug, info, warn, error, fatal")
        }
        guard let firstURL = settings.clientURLs.first, let address = Self.listenAddress(firstURL) else {
            throw ValidationError("--client-urls must be like http://127.0.0.1:2379")
        }
        ServerLogging.bootstrap(level: logLevel)
        bootstrapServerMetrics()
        let logger = Logger(label: "tinyscheduler")
        let scheduler: SchedulerServer
        let operability = ServerOperability(role: "scheduler", services: ["schedulerpb.Scheduler"])
        let server: GRPCServer
        do {
            try ListenAddress.checkBindable(address)
            if !statusAddress.isEmpty { try ListenAddress.checkBindable(statusAddress) }
            try FileManager.default.createDirectory(atPath: settings.dataDirectory, withIntermediateDirectories: true)
            scheduler = try SchedulerServer(config: settings, logger: logger)
            var handlers = SchedulerHandlers.make(scheduler)
            handlers.merge(operability.handlers)
            server = try GRPCServer(address: address, handlers: handlers.byPath, tls: tls)
            server.start()
            // The state was loaded by SchedulerServer's initializer: ready to serve.
            operability.health.setAll(.serving)
            if !statusAddress.isEmpty {
                let port = try Self.startStatusServer(operability, scheduler: scheduler, statusAddress: statusAddress, address: address, name: settings.name)
                logger.info("status server listening", metadata: ["status-addr": "\(statusAddress)", "port": "\(port)"])
            }
        } catch {
            ServerStartup.fail(error, logger: logger)
        }
        logger.info("tinyscheduler-server serving", metadata: [
            "address": "\(address)", "name": "\(settings.name)", "cluster-id": "\(scheduler.clusterID)",
            "data-dir": "\(settings.dataDirectory)",
            "tls": "\(tls == nil ? "off" : (security.caPath.isEmpty ? "tls" : "mutual-tls"))",
        ])
        let loop = Task { await scheduler.run() }
        let signal = await SignalWaiter.waitForTermination()
        logger.info("received \(signal), shutting down")
        loop.cancel()
        operability.beginShutdown()
        await server.shutdown(gracePeriod: .seconds(3))
        operability.stop()
        scheduler.shutdown()
        await loop.value
        logger.info("tinyscheduler-server stopped")
        GRPCRuntime.exitAfterShutdown()
    }

    /// `/metrics` (stores, regions, leaders, operators, TSO and RPC metrics) and `/status`.
    static func startStatusServer(
        _ operability: ServerOperability, scheduler: SchedulerServer, statusAddress: String, address: String, name: String
    ) throws -> Int {
        let stores = Gauge(label: "tinyscheduler_store_count")
        let regions = Gauge(label: "tinyscheduler_region_count")
        let operators = Gauge(label: "tinyscheduler_running_operators")
        let bootstrapped = Gauge(label: "tinyscheduler_bootstrapped")
        let clusterID = scheduler.clusterID
        return try operability.startStatusServer(
            address: statusAddress, grpcAddress: address,
            refresh: {
                let stats = scheduler.statistics
                stores.record(stats.stores)
                regions.record(stats.regions)
                operators.record(stats.runningOperators)
                bootstrapped.record(stats.bootstrapped ? 1 : 0)
                for (store, count) in stats.leadersByStore {
                    Gauge(label: "tinyscheduler_leader_count", dimensions: [("store", "\(store)")]).record(count)
                }
            },
            details: {
                let stats = scheduler.statistics
                return [
                    "name": name, "cluster_id": "\(clusterID)", "bootstrapped": stats.bootstrapped,
                    "stores": stats.stores, "regions": stats.regions, "running_operators": stats.runningOperators,
                ]
            })
    }

    /// `http://HOST:PORT` (or `HOST:PORT`) as the `HOST:PORT` to listen on.
    static func listenAddress(_ url: String) -> String? {
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        guard let colon = rest.lastIndex(of: ":"), Int(rest[rest.index(after: colon)...]) != nil else { return nil }
        return String(rest)
    }
}
