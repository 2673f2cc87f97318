import ArgumentParser
import Foundation
import KVClient
import Storage
import Operability
import TinyKVProto
import Transport

/// The health of the server at `address` ("SERVING", "NOT_SERVING", "UNREACHABLE", ...).
func health(of address: String, timeout: Duration) async -> String {
    let channel = GRPCChannel(target: address)
    defer { channel.close() }
    do {
        return try await channel.call(HealthService.check, HealthCheckRequest(service: ""), timeout: timeout).status.description
    } catch let status as GRPCStatus where status.code == .unavailable || status.code == .deadlineExceeded {
        return "UNREACHABLE"
    } catch {
        return "UNKNOWN"
    }
}

/// `tinykv-ctl store`.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Inspect stores.", subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the stores the scheduler knows, with their health.")
        @OptionGroup var options: ClusterOptions

        func run() async throws {
            var rows: [[String]] = []
            var json: [[String: Any]] = []
            try await reportingErrors {
                for store in try await options.schedulerClient().stores() {
                    let state = await health(of: store.address, timeout: options.requestTimeout)
                    rows.append(["\(store.id)", store.address, store.state.name, state])
                    json.append(["id": store.id, "address": store.address, "state": store.state.name, "health": state])
                }
            }
            Output.print(options.format, headers: ["ID", "ADDRESS", "STATE", "HEALTH"], rows: rows, json: json)
        }
    }
}

/// `tinykv-ctl region`.
struct RegionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "region", abstract: "Inspect regions.", subcommands: [List.self, Show.self])

    static func describe(_ route: Route, options: ClusterOptions) -> (row: [String], json: [String: Any]) {
        guard let region = route.region else {
            return (["-", "", "", "-", "-", route.address],
                    ["id": 0, "start_key": "", "end_key": "", "standalone": true, "leader_address": route.address])
        }
        let epoch = region.regionEpoch.map { "\($0.confVer)/\($0.version)" } ?? "-"
        let peers = region.peers.map { "\($0.id)@\($0.storeId)" }.joined(separator: ",")
        let leader = route.leader.map { "\($0.id)@\($0.storeId)" } ?? "-"
        return (["\(region.id)", showBoundary(region.startKey, options), showBoundary(region.endKey, options), epoch, peers, "\(leader) \(route.address)"],
                ["id": region.id, "start_key": options.show(region.startKey), "end_key": options.show(region.endKey),
                 "start_key_decoded": decoded(region.startKey, options) ?? NSNull(),
                 "end_key_decoded": decoded(region.endKey, options) ?? NSNull(),
                 "conf_ver": region.regionEpoch?.confVer ?? 0, "version": region.regionEpoch?.version ?? 0,
                 "peers": region.peers.map { ["id": $0.id, "store_id": $0.storeId] },
                 "leader": route.leader.map { ["id": $0.id, "store_id": $0.storeId] as Any } ?? NSNull(),
                 "leader_address": route.address, "standalone": false])
    }

    static let headers = ["ID", "START", "END", "EPOCH(CONF/VER)", "PEERS(ID@STORE)", "LEADER"]

    /// A region boundary for people: boundaries between transactional data are memcomparable
    /// encodings of user keys (`EncodeBytes`), shown decoded as `enc(KEY)`; any other boundary
    /// (a raw-API key) as it is; an empty one (the start or end of the key space) stays empty.
    static func showBoundary(_ key: [UInt8], _ options: ClusterOptions) -> String {
        if key.isEmpty { return "" }
        if let decoded = decoded(key, options) { return "enc(\(decoded))" }
        return options.show(key)
    }

    /// The decoded form of a boundary that is one whole encoded key, for display.
    static func decoded(_ key: [UInt8], _ options: ClusterOptions) -> String? {
        guard !key.isEmpty, let decoded = MemComparable.decode(key) else { return nil }
        return options.show(decoded)
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every region with its peers and leader.",
            discussion: "With a standalone store (scheduler not bootstrapped) prints one pseudo-region: the whole key space on --store.")
        @OptionGroup var options: ClusterOptions

        func run() async throws {
            var described: [(row: [String], json: [String: Any])] = []
            try await reportingErrors {
                described = try await options.router().routes().map { RegionCommand.describe($0, options: options) }
            }
            Output.print(options.format, headers: RegionCommand.headers, rows: described.map(\.row), json: described.map(\.json))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the region holding a key and its leader.",
            discussion: "Raw-API keys are looked up as they are; with --txn the key is a transactional (user) key, looked up by its memcomparable encoding as TinySQL and `txn` commands do.")
        @OptionGroup var options: ClusterOptions
        @Flag(help: "The key is a transactional key (route by its encoding).") var txn = false
        @Argument(help: "The key.") var key: String

        func run() async throws {
            let key = (txn ? KeySpace.transactional : KeySpace.raw).routingKey(try options.bytes(key))
            var described: (row: [String], json: [String: Any])?
            try await reportingErrors {
                described = RegionCommand.describe(try await options.router().route(for: key), options: options)
            }
            guard let described else { return }
            Output.print(options.format, headers: RegionCommand.headers, rows: [described.row], json: described.json)
        }
    }
}

/// `tinykv-ctl cluster`.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Inspect the cluster as a whole.", subcommands: [Status.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the scheduler, the stores with their health, regions and leaders per store.",
            discussion: "Exits 3 when the scheduler is unreachable.")
        @OptionGroup var options: ClusterOptions

        func run() async throws {
            var report: [String: Any] = [:]
            var lines: [String] = []
            try await reportingErrors {
                let pd = options.schedulerClient()
                let schedulerHealth = await health(of: options.scheduler, timeout: options.requestTimeout)
                let members = try await pd.members()
                let bootstrapped = try await pd.isBootstrapped()
                let clusterID = members.header?.clusterId ?? 0
                var stores: [[String: Any]] = []
                var leaders: [UInt64: Int] = [:]
                var regionCount = 0
                if bootstrapped {
                    let regions = try await pd.regions(from: [], limit: 0)
                    regionCount = regions.count
                    for (_, leader) in regions { if let leader { leaders[leader.storeId, default: 0] += 1 } }
                    for store in try await pd.stores() {
                        stores.append(["id": store.id, "address": store.address, "state": store.state.name,
                                       "health": await health(of: store.address, timeout: options.requestTimeout),
                                       "leaders": leaders[store.id] ?? 0])
                    }
                } else {
                    // A standalone store: the whole key space, one pseudo-region it leads.
                    let state = await health(of: options.store, timeout: options.requestTimeout)
                    regionCount = state == "UNREACHABLE" ? 0 : 1
                    stores.append(["id": 0, "address": options.store, "state": "Standalone", "health": state, "leaders": regionCount])
                }
                report = [
                    "scheduler": ["address": options.scheduler, "name": members.leader?.name ?? "", "health": schedulerHealth],
                    "cluster_id": "\(clusterID)", "bootstrapped": bootstrapped,
                    "stores": stores, "regions": regionCount,
                ]
                lines.append("cluster \(clusterID) (\(bootstrapped ? "bootstrapped" : "not bootstrapped: standalone store"))")
                lines.append("scheduler \(members.leader?.name ?? "") at \(options.scheduler): \(schedulerHealth)")
                lines.append("regions: \(regionCount)")
                lines.append("")
            }
            if options.format == .json {
                Output.printJSON(report)
                return
            }
            for line in lines { print(line) }
            let stores = report["stores"] as? [[String: Any]] ?? []
            Output.printTable(
                headers: ["STORE", "ADDRESS", "STATE", "HEALTH", "LEADERS"],
                rows: stores.map { s in ["id", "address", "state", "health", "leaders"].map { "\(s[$0] ?? "")" } })
        }
    }
}

/// `tinykv-ctl tso`.
struct TsoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tso", abstract: "Get a timestamp from the scheduler's TSO (physical milliseconds << 18 | logical).")
    @OptionGroup var options: ClusterOptions
    @Option(help: "Reserve this many timestamps; prints the last.") var count: UInt32 = 1

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be positive") }
    }

    func run() async throws {
        var ts: UInt64 = 0
        try await reportingErrors { ts = try await options.schedulerClient().timestamp(count: count) }
        let physical = ts >> 18, logical = ts & ((1 << 18) - 1)
        let time = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(physical) / 1000))
        if options.format == .json {
            Output.printJSON(["ts": ts, "physical": physical, "logical": logical, "time": time])
        } else {
            print("\(ts)  (physical \(physical) = \(time), logical \(logical))")
        }
    }
}
