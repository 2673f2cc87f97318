// transport-bench: N concurrent unary echo calls for S seconds against an
// in-process server (or --target host:port serving /bench.Echo/Unary, or with --callback
// /bench.Echo/Callback).
// Prints calls/s and latency percentiles.
//
//   transport-bench [--concurrency 64] [--seconds 5] [--payload 32] [--target host:port] [--callback]
//   transport-bench --serve 127.0.0.1:50051 [--seconds 60]   (interop test server)
import Transport
#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var concurrency = 64
    var seconds = 5
    var payload = 32
    var target: String?
    var serverThreads = 2
    var serve: String?
    /// Call the server's callback-answered echo (`.unaryCallback`, as a store's KV methods are).
    var callback = false

    init(_ args: [String]) {
        var it = args.dropFirst().makeIterator()
        while let flag = it.next() {
            if flag == "--callback" { callback = true; continue }
            let value = it.next() ?? ""
            switch flag {
            case "--concurrency", "-c": concurrency = Int(value) ?? concurrency
            case "--seconds", "-s": seconds = Int(value) ?? seconds
            case "--payload", "-p": payload = Int(value) ?? payload
            case "--target", "-t": target = value
            case "--server-threads": serverThreads = Int(value) ?? serverThreads
            case "--serve": serve = value
            default: print("unknown flag \(flag)")
            }
        }
    }
}

let options = Options(CommandLine.arguments)
let method = options.callback ? "/bench.Echo/Callback" : "/bench.Echo/Unary"
/// The echo methods calls are measured against: answered by a task, or by callback.
let echoHandlers: [String: MethodHandler] = [
    "/bench.Echo/Unary": .unary { _, request in request },
    "/bench.Echo/Callback": .unaryCallback { _, request, respond in respond(.success(request)) },
]

if let address = options.serve {
    // Interop mode: a few methods for external clients (e.g. Python grpcio).
    let s = try GRPCServer(address: address, handlers: echoHandlers.merging([
        "/bench.Echo/Fail": .unary { _, _ in throw GRPCStatus(.notFound, "key not found: ü") },
        "/bench.Echo/Meta": .unary { context, _ in Array((context.requestMetadata["x-token"] ?? "").utf8) },
        "/bench.Echo/Sum": .clientStreaming { _, requests in
            var total = 0
            for try await message in requests { total += message.count }
            return Array(String(total).utf8)
        },
        "/bench.Echo/Bidi": .bidiStreaming { _, requests, writer in
            for try await message in requests { try await writer.send(message) }
        },
    ]) { ours, _ in ours }, completionQueueThreads: options.serverThreads)
    s.start()
    print("serving on port \(s.port)")
    try await Task.sleep(for: .seconds(options.seconds))
    await s.shutdown(gracePeriod: .seconds(1))
    exit(0)
}

var server: GRPCServer?
let target: String
if let given = options.target {
    target = given
} else {
    let s = try GRPCServer(
        address: "127.0.0.1:0", handlers: echoHandlers, completionQueueThreads: options.serverThreads)
    s.start()
    server = s
    target = "127.0.0.1:\(s.port)"
}

let channel = GRPCChannel(target: target)
let request = [UInt8](repeating: 7, count: options.payload)
_ = try await channel.unary(method: method, request: request)  // connect + warm up

let clock = ContinuousClock()
let end = clock.now + .seconds(options.seconds)
let latencies: [Int64] = try await withThrowingTaskGroup(of: [Int64].self) { group in
    for _ in 0..<options.concurrency {
        group.addTask {
            var samples: [Int64] = []
            samples.reserveCapacity(200_000)
            while clock.now < end {
                let start = clock.now
                _ = try await channel.unary(method: method, request: request)
                let elapsed = clock.now - start
                samples.append(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
            }
            return samples
        }
    }
    var all: [Int64] = []
    for try await part in group { all += part }
    return all
}

let sorted = latencies.sorted()
func percentile(_ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let index = min(sorted.count - 1, Int(Double(sorted.count) * p))
    return Double(sorted[index]) / 1_000_000
}
let rate = Double(sorted.count) / Double(options.seconds)
print("concurrency=\(options.concurrency) payload=\(options.payload)B calls=\(sorted.count) "
    + "rate=\(Int(rate)) calls/s p50=\(percentile(0.50)) ms p99=\(percentile(0.99)) ms p999=\(percentile(0.999)) ms")

channel.close()
await server?.shutdown(gracePeriod: .seconds(1))
