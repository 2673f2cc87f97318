import ArgumentParser
import Foundation
import KVClient

/// `tinykv-ctl raw`: the raw (non-transactional) key-value API.
struct RawCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raw",
        abstract: "Read and write keys with the raw API (no transactions).",
        subcommands: [Get.self, Put.self, Delete.self, Scan.self])

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the value of a key (exit 1 if absent).")
        @OptionGroup var options: ClusterOptions
        @Option(help: "Column family.") var cf = "default"
        @Argument(help: "The key.") var key: String

        func run() async throws {
            let key = try options.bytes(key)
            var value: [UInt8]?
            try await reportingErrors {
                value = try await RawKVClient(router: options.router(), timeout: options.requestTimeout).get(key, cf: cf)
            }
            try Output.printLookup(key: key, value: value, options: options)
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a key to a value.")
        @OptionGroup var options: ClusterOptions
        @Option(help: "Column family.") var cf = "default"
        @Argument(help: "The key.") var key: String
        @Argument(help: "The value.") var value: String

        func run() async throws {
            let key = try options.bytes(key), value = try options.bytes(value)
            try await reportingErrors {
                try await RawKVClient(router: options.router(), timeout: options.requestTimeout).put(key, value, cf: cf)
            }
            if options.format == .json { Output.printJSON(["key": options.show(key), "ok": true]) } else { print("OK") }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a key (succeeds when absent too).")
        @OptionGroup var options: ClusterOptions
        @Option(help: "Column family.") var cf = "default"
        @Argument(help: "The key.") var key: String

        func run() async throws {
            let key = try options.bytes(key)
            try await reportingErrors {
                try await RawKVClient(router: options.router(), timeout: options.requestTimeout).delete(key, cf: cf)
            }
            if options.format == .json { Output.printJSON(["key": options.show(key), "ok": true]) } else { print("OK") }
        }
    }

    struct Scan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys and values in key order, across regions.")
        @OptionGroup var options: ClusterOptions
        @Option(help: "Column family.") var cf = "default"
        @Option(help: "Stop before this key (default: no bound).") var end: String?
        @Option(help: "At most this many pairs.") var limit = 100
        @Argument(help: "The first key (default: the start of the key space).") var start: String = ""

        func validate() throws {
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
        }

        func run() async throws {
            let start = try options.bytes(start), end = try end.map(options.bytes) ?? []
            var pairs: [(key: [UInt8], value: [UInt8])] = []
            try await reportingErrors {
                pairs = try await RawKVClient(router: options.router(), timeout: options.requestTimeout)
                    .scan(from: start, to: end, limit: limit, cf: cf)
            }
            printPairs(pairs, options: options)
        }
    }
}

func printPairs(_ pairs: [(key: [UInt8], value: [UInt8])], options: ClusterOptions) {
    Output.print(
        options.format, headers: ["KEY", "VALUE"],
        rows: pairs.map { [options.show($0.key), options.show($0.value)] },
        json: pairs.map { ["key": options.show($0.key), "value": options.show($0.value)] })
}

