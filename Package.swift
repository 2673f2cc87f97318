// swift-tools-version:6.0
import PackageDescription

let log: Target.Dependency = .product(name: "Logging", package: "swift-log")
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")
let coreMetrics: Target.Dependency = .product(name: "CoreMetrics", package: "swift-metrics")
let metrics: Target.Dependency = .product(name: "Metrics", package: "swift-metrics")

let package = Package(
    name: "TinyKV",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tinykv-server", targets: ["tinykv-server"]),
        .executable(name: "tinyscheduler-server", targets: ["tinyscheduler-server"]),
        .executable(name: "tinykv-bench", targets: ["tinykv-bench"]),
        .executable(name: "tinykv-ctl", targets: ["tinykv-ctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // Wire: protobuf-c generated C (make proto) and the generated Swift value types over it.
        .target(name: "CTinyKVProto", linkerSettings: [.linkedLibrary("protobuf-c")]),
        .target(name: "TinyKVProto", dependencies: ["CTinyKVProto"]),

        // Transport: gRPC's C core (Debian libgrpc-dev) and a Swift server and client over it.
        .systemLibrary(name: "CGRPC", path: "CGRPC"),
        .target(name: "Transport", dependencies: ["CGRPC", "TinyKVProto", coreMetrics]),

        // Storage: RocksDB with the default, lock and write column families.
        .systemLibrary(name: "CRocksDB"),
        .target(name: "Storage", dependencies: ["CRocksDB", "TinyKVProto"]),

        // Raft: a pure, deterministic consensus state machine (messages in, Ready out).
        .target(name: "Raft", dependencies: ["TinyKVProto"]),

        // Transactions: MVCC over the three column families, Percolator commands, latches.
        .target(name: "Transaction", dependencies: ["TinyKVProto", "Storage", log]),

        // Scheduler (PD role): TSO, ID allocation, cluster metadata and region scheduling.
        .target(name: "Scheduler", dependencies: ["TinyKVProto", "Storage", log, coreMetrics]),

        // Operability: gRPC reflection (descriptors of proto/ embedded by `make proto`) and health,
        // Prometheus metrics, the HTTP status port.
        .target(name: "Operability", dependencies: [
            "TinyKVProto", "Transport", coreMetrics, .product(name: "Prometheus", package: "swift-prometheus"),
        ]),

        // A routing client: scheduler lookups, store channels, region-error retries (ctl, bench).
        .target(name: "KVClient", dependencies: ["TinyKVProto", "Transport", "Storage", "Transaction", "Operability"]),

        // Linearizability checking of client histories (Porcupine-style), for tests and chaos runs.
        .target(name: "Linearizability"),

        // Typed client of schedulerpb.Scheduler (and the protocol the raft store talks to).
        .target(name: "SchedulerClient", dependencies: ["TinyKVProto", "Transport", log]),

        // The raft store: replicated regions over the Raft module, two RocksDB engines.
        .target(name: "RaftStore", dependencies: ["Raft", "Storage", "TinyKVProto", "Transport", "SchedulerClient", log, coreMetrics]),

        // Configuration files: TOML with readable durations and sizes.
        .target(name: "TinyKVConfig", dependencies: [.product(name: "TOMLKit", package: "TOMLKit")]),

        // TinySQL's encodings: datums, memcomparable keys, row and index keys, row values.
        .target(name: "Codec"),

        // The coprocessor: DAG requests (scans, selection, aggregation, TopN, limit) over MVCC.
        .target(name: "CoprocessorEngine", dependencies: ["TinyKVProto", "Storage", "Transaction", "Codec", log]),

        // The servers' services and their assembly.
        .target(name: "TinyKVServer", dependencies: ["TinyKVProto", "Transport", "Storage", "Transaction", "CoprocessorEngine", "TinyKVConfig", "Operability", "RaftStore", "SchedulerClient", metrics, log]),

        // Benchmarks: closed-loop workloads, routing through the scheduler, HDR latency histograms.
        .target(name: "Bench", dependencies: ["TinyKVProto", "Transport", "KVClient", "Transaction", argumentParser, .product(name: "Histogram", package: "hdrhistogram-swift")]),

        // Executables.
        // Release servers (and the benchmark client, which shares their two cores) allocate with
        // jemalloc, as TiKV does: gRPC, RocksDB and Swift free on other threads than they
        // allocate on, which glibc's arenas handle worse (~4% more puts).
        // Debug builds keep glibc's malloc, which the sanitizer builds need.
        .executableTarget(name: "tinykv-server", dependencies: ["TinyKVServer", "TinyKVConfig", "Transport", "Storage", "Operability", argumentParser, log],
                          linkerSettings: [.linkedLibrary("jemalloc", .when(configuration: .release))]),
        .executableTarget(name: "tinyscheduler-server", dependencies: ["Scheduler", "TinyKVServer", "TinyKVConfig", "Transport", "Operability", metrics, argumentParser, log],
                          linkerSettings: [.linkedLibrary("jemalloc", .when(configuration: .release))]),
        .executableTarget(name: "tinykv-ctl", dependencies: ["TinyKVProto", "Storage", "Linearizability", "KVClient", "Bench", "Transport", "Transaction", "Operability", argumentParser]),
        .executableTarget(name: "tinykv-bench", dependencies: ["Bench", argumentParser],
                          linkerSettings: [.linkedLibrary("jemalloc", .when(configuration: .release))]),
        .executableTarget(name: "transport-bench", dependencies: ["Transport"]),

        .testTarget(name: "TinyKVProtoTests", dependencies: ["TinyKVProto"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "Raft"]),
        .testTarget(name: "TransportTests", dependencies: ["Transport"]),
        .testTarget(name: "TinyKVConfigTests", dependencies: ["TinyKVConfig"]),
        .testTarget(name: "TransactionTests", dependencies: ["Transaction", "Raft"]),
        .testTarget(name: "SchedulerTests", dependencies: ["Scheduler"]),
        .testTarget(name: "LinearizabilityTests", dependencies: ["Linearizability"]),
        .testTarget(name: "RaftTests", dependencies: ["Raft", "TinyKVProto"]),
        .testTarget(name: "CodecTests", dependencies: ["Codec"]),
        .testTarget(name: "CoprocessorEngineTests", dependencies: ["CoprocessorEngine", "Codec", "Transaction", "Storage", "TinyKVProto"]),
        .testTarget(name: "OperabilityTests", dependencies: ["Operability", "TinyKVProto"]),
        .testTarget(name: "KVClientTests", dependencies: ["KVClient", "TinyKVProto", "Transport"]),
        .testTarget(name: "RaftStoreTests", dependencies: ["RaftStore", "Raft", "Storage", "Transaction", "TinyKVProto", "SchedulerClient", "Scheduler", "Linearizability", log]),
    ]
)
