import ArgumentParser
import KVClient
import Transaction
import Transport

/// Closed-loop load against a TinyKV cluster, with latency percentiles: the `tinykv-bench`
/// executable and `tinykv-ctl bench`.
public struct BenchCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure a TinyKV cluster: ops/s and latency percentiles.",
        discussion: """
            Workloads: raw-put, raw-get, raw-mixed (--read-ratio), txn (--txn-keys keys read and written per Percolator
            transaction, or only written with --no-txn-reads; timestamps from the scheduler; conflicts are counted as retries), tso (--tso-count timestamps per
            request, one stream per client).
            Requests are routed through the scheduler (GetRegion, GetStore) and retried on region errors.
            """)

    public init() {}

    enum Workload: String, ExpressibleByArgument, CaseIterable {
        case rawPut = "raw-put", rawGet = "raw-get", rawMixed = "raw-mixed", txn, tso
    }

    @Option(help: "The workload: \(Workload.allCases.map(\.rawValue).joined(separator: ", ")).")
    var workload: Workload = .rawPut
    @Option(help: "The scheduler's address.")
    var scheduler = "127.0.0.1:2379"
    @Option(help: "Clients with one request in flight each.")
    var concurrency = 64
    @Option(help: "Seconds to measure.")
    var duration = 10.0
    @Option(help: "Seconds of warm-up before measuring.")
    var warmup = 1.0
    @Option(help: "Distinct keys.")
    var keys = 100_000
    @Option(help: "Key size in bytes.")
    var keySize = 16
    @Option(help: "Value size in bytes.")
    var valueSize = 100
    @Option(help: "Key distribution: uniform or zipfian.")
    var distribution = "uniform"
    @Option(help: "Share of gets in raw-mixed.")
    var readRatio = 0.5
    @Option(help: "Keys per transaction (txn).")
    var txnKeys = 2
    @Flag(inversion: .prefixedNo, help: "txn reads its keys (KvGet at the start timestamp) before writing them; --no-txn-reads only writes (prewrite + commit).")
    var txnReads = true
    @Option(help: "A store to use while the scheduler knows no regions (standalone store).")
    var store: String?
    @Option(help: "Timestamps per TSO request.")
    var tsoCount: UInt32 = 1
    @Flag(help: "Write every key before measuring (for reads).")
    var prefill = false
    @Flag(help: "Print the result as JSON.")
    var json = false
    @Flag(inversion: .prefixedNo, help: "Show a progress bar on standard error (when it is a terminal).")
    var progress = true

    public func validate() throws {
        guard concurrency > 0, duration > 0, keys > 0, valueSize >= 0 else {
            throw ValidationError("concurrency, duration and keys must be positive")
        }
        guard KeyGenerator.Distribution(rawValue: distribution) != nil else {
            throw ValidationError("--distribution must be uniform or zipfian")
        }
    }

    public func run() async throws {
        let generator = KeyGenerator(keyCount: keys, keySize: keySize, distribution: KeyGenerator.Distribution(rawValue: distribution)!)
        let pd = SchedulerClient(address: scheduler)
        let router = RegionRouter(pd: pd, fallbackStore: store)
        let raw = RawKVClient(router: router)
        if prefill {
            await Workloads.prefill(client: raw, keys: generator, valueSize: valueSize, concurrency: concurrency)
        }
        let operation: @Sendable (Int) async -> OperationOutcome
        var items = 1
        switch workload {
        case .rawPut: operation = Workloads.rawPut(client: raw, keys: generator, valueSize: valueSize)
        case .rawGet: operation = Workloads.rawGet(client: raw, keys: generator)
        case .rawMixed: operation = Workloads.rawMixed(client: raw, keys: generator, valueSize: valueSize, readRatio: readRatio)
        case .txn:
            let percolator = PercolatorClient(rpc: RoutedTxnKVClient(router: router), oracle: SchedulerTimestampOracle(scheduler: pd))
            operation = Workloads.txn(client: percolator, keys: generator, keysPerTxn: txnKeys, valueSize: valueSize, readFirst: txnReads)
            items = txnKeys
        case .tso:
            operation = try Workloads.tso(scheduler: pd.channel, count: tsoCount, streams: concurrency)
            items = Int(tsoCount)
        }
        let (recorder, seconds) = await BenchRunner.run(
            concurrency: concurrency, warmup: .milliseconds(Int(warmup * 1000)), duration: .milliseconds(Int(duration * 1000)),
            progress: progress, operation: operation)
        let report = BenchReport(workload: workload.rawValue, concurrency: concurrency, seconds: seconds, itemsPerOperation: items, recorder: recorder)
        print(json ? report.json : report.line)
    }
}
