import ArgumentParser
import Foundation
import KVClient
import Transaction

/// `tinykv-ctl txn`: transactions (client-side Percolator, timestamps from the scheduler's TSO).
struct TxnCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "txn",
        abstract: "Read and write keys in Percolator transactions (timestamps from the scheduler).",
        subcommands: [Get.self, Put.self, Scan.self])

    static func client(_ options: ClusterOptions) -> PercolatorClient {
        let router = options.router()
        return PercolatorClient(
            rpc: RoutedTxnKVClient(router: router, timeout: options.requestTimeout),
            oracle: SchedulerTimestampOracle(scheduler: options.schedulerClient()))
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a key's committed value at a fresh timestamp (exit 1 if absent).")
        @OptionGroup var options: ClusterOptions
        @Option(help: "Read at this timestamp instead of a fresh one.") var ts: UInt64?
        @Argument(help: "The key.") var key: String

        func run() async throws {
            let key = try options.bytes(key)
            var value: [UInt8]?
            var readTs: UInt64 = 0
            try await reportingErrors {
                let client = TxnCommand.client(options)
                if let ts { readTs = ts } else { readTs = try await client.oracle.next() }
                value = try await client.get(key, at: readTs)
            }
            try Output.printLookup(key: key, value: value, options: options, extra: ["ts": readTs])
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write one or more keys atomically: KEY VALUE [KEY VALUE ...].",
            discussion: "Commits with two-phase commit; retries a conflicting transaction (--retries) and exits 2 if it keeps conflicting.")
        @OptionGroup var options: ClusterOptions
        @Option(help: "How many times to retry a conflicting transaction.") var retries = 3
        @Argument(help: "Key and value pairs.") var pairs: [String]

        func validate() throws {
            guard !pairs.isEmpty, pairs.count % 2 == 0 else { throw ValidationError("give KEY VALUE pairs") }
        }

        func run() async throws {
            var writes: [([UInt8], [UInt8])] = []
            for i in stride(from: 0, to: pairs.count, by: 2) {
                writes.append((try options.bytes(pairs[i]), try options.bytes(pairs[i + 1])))
            }
            var result: (start: UInt64, commit: UInt64)?
            var lastConflict = ""
            try await reportingErrors {
                let client = TxnCommand.client(options)
                for _ in 0...max(0, retries) {
                    var txn = try await client.begin()
                    for (key, value) in writes { txn.set(key, value) }
                    do {
                        let commitTs = try await client.commit(txn)
                        result = (txn.startTs, commitTs)
                        return
                    } catch PercolatorError.conflict(let message) {
                        lastConflict = message
                    } catch PercolatorError.aborted(let message) {
                        lastConflict = message
                    }
                }
            }
            guard let result else {
                var stderr = StandardError()
                print("error: transaction conflict: \(lastConflict)", to: &stderr)
                throw Exit.conflict
            }
            if options.format == .json {
                Output.printJSON(["keys": writes.count, "start_ts": result.start, "commit_ts": result.commit])
            } else {
                print("committed \(writes.count) key(s) at \(result.commit) (start \(result.start))")
            }
        }
    }

    struct Scan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List committed keys and values at a fresh timestamp, in key order.")
        @OptionGroup var options: ClusterOptions
        @Option(help: "At most this many pairs.") var limit: UInt32 = 100
        @Option(help: "Read at this timestamp instead of a fresh one.") var ts: UInt64?
        @Argument(help: "The first key (default: the start of the key space).") var start: String = ""

        func validate() throws {
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
        }

        func run() async throws {
            let start = try options.bytes(start)
            var pairs: [(key: [UInt8], value: [UInt8])] = []
            try await reportingErrors {
                let client = TxnCommand.client(options)
                let readTs: UInt64
                if let ts { readTs = ts } else { readTs = try await client.oracle.next() }
                pairs = try await client.scan(from: start, limit: limit, at: readTs)
            }
            printPairs(pairs, options: options)
        }
    }
}
