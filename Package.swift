// swift-tools-version:6.0
import PackageDescription

let log: Target.Dependency = .product(name: "Logging", package: "swift-log")
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "TinyKV",
    platforms: [.macOS(.v15)],
    products: [
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // Wire: protobuf-c generated C (make proto) and the generated Swift value types over it.
        .target(name: "CTinyKVProto", linkerSettings: [.linkedLibrary("protobuf-c")]),
        .target(name: "TinyKVProto", dependencies: ["CTinyKVProto"]),

        // Storage: RocksDB with the default, lock and write column families.
        .systemLibrary(name: "CRocksDB"),
        .target(name: "Storage", dependencies: ["CRocksDB"]),

        // Scheduler (PD role): TSO, ID allocation, cluster metadata and region scheduling.
        .target(name: "Scheduler", dependencies: ["TinyKVProto", "Storage", log]),

        .testTarget(name: "TinyKVProtoTests", dependencies: ["TinyKVProto"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage"]),
        .testTarget(name: "SchedulerTests", dependencies: ["Scheduler"]),
    ]
)
