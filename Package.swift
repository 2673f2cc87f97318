// swift-tools-version:6.0
import PackageDescription

let log: Target.Dependency = .product(name: "Logging", package: "swift-log")
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "TinyKV",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tinykv-server", targets: ["tinykv-server"]),
        .executable(name: "tinyscheduler-server", targets: ["tinyscheduler-server"]),
        .executable(name: "tinykv-ctl", targets: ["tinykv-ctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // Wire: protobuf-c generated C (make proto) and the generated Swift value types over it.
        .target(name: "CTinyKVProto", linkerSettings: [.linkedLibrary("protobuf-c")]),
        .target(name: "TinyKVProto", dependencies: ["CTinyKVProto"]),

        // Transport: gRPC's C core (Debian libgrpc-dev) and a Swift server and client over it.
        .systemLibrary(name: "CGRPC", path: "CGRPC"),
        .target(name: "Transport", dependencies: ["CGRPC", "TinyKVProto"]),

        // Storage: RocksDB with the default, lock and write column families.
        .systemLibrary(name: "CRocksDB"),
        .target(name: "Storage", dependencies: ["CRocksDB", "TinyKVProto"]),

        // Raft: a pure, deterministic consensus state machine (messages in, Ready out).
        .target(name: "Raft", dependencies: ["TinyKVProto"]),

        // Transactions: MVCC over the three column families, Percolator commands, latches.
        .target(name: "Transaction", dependencies: ["TinyKVProto", "Storage", log]),

        // Scheduler (PD role): TSO, ID allocation, cluster metadata and region scheduling.
        .target(name: "Scheduler", dependencies: ["TinyKVProto", "Storage", log]),

        // Typed client of schedulerpb.Scheduler (and the protocol the raft store talks to).
        .target(name: "SchedulerClient", dependencies: ["TinyKVProto", "Transport", log]),

        // The raft store: replicated regions over the Raft module, two RocksDB engines.
        .target(name: "RaftStore", dependencies: ["Raft", "Storage", "TinyKVProto", "Transport", "SchedulerClient", log]),

        // Configuration files: TOML with readable durations and sizes.
        .target(name: "TinyKVConfig", dependencies: [.product(name: "TOMLKit", package: "TOMLKit")]),

        // The servers' services and their assembly.
        .target(name: "TinyKVServer", dependencies: ["TinyKVProto", "Transport", "Storage", "Transaction", "TinyKVConfig", "RaftStore", "SchedulerClient", log]),

        // Executables.
        .executableTarget(name: "tinykv-server", dependencies: ["TinyKVServer", "TinyKVConfig", "Transport", "Storage", argumentParser, log]),
        .executableTarget(name: "tinyscheduler-server", dependencies: ["Scheduler", "TinyKVServer", "TinyKVConfig", "Transport", argumentParser, log]),
        .executableTarget(name: "tinykv-ctl", dependencies: ["TinyKVProto", argumentParser]),
        .executableTarget(name: "transport-bench", dependencies: ["Transport"]),

        .testTarget(name: "TinyKVProtoTests", dependencies: ["TinyKVProto"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage"]),
        .testTarget(name: "TransportTests", dependencies: ["Transport"]),
        .testTarget(name: "TinyKVConfigTests", dependencies: ["TinyKVConfig"]),
        .testTarget(name: "TransactionTests", dependencies: ["Transaction"]),
        .testTarget(name: "SchedulerTests", dependencies: ["Scheduler"]),
        .testTarget(name: "RaftTests", dependencies: ["Raft", "TinyKVProto"]),
        .testTarget(name: "RaftStoreTests", dependencies: ["RaftStore", "Raft", "Storage", "TinyKVProto", "SchedulerClient", "Scheduler", log]),
    ]
)
