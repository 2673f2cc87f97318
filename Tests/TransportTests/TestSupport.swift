import Foundation
import Synchronization
import XCTest
@testable import Transport

/// Thread-safe counters/flags shared between handlers and tests.
final class Probe: Sendable {
    private let state = Mutex<[String: Int]>([:])

    func bump(_ key: String) {
        state.withLock { $0[key, default: 0] += 1 }
    }

    func count(_ key: String) -> Int {
        state.withLock { $0[key, default: 0] }
    }

    /// Polls until `key` reaches `value` (handlers finish asynchronously).
    func wait(_ key: String, atLeast value: Int = 1, timeout: Duration = .seconds(5)) async -> Bool {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if count(key) >= value { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return count(key) >= value
    }
}

func u32(_ value: UInt32) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}

func readU32(_ bytes: [UInt8]) -> UInt32 {
    bytes.prefix(4).enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
}

func readU64(_ bytes: [UInt8]) -> UInt64 {
    bytes.prefix(8).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
}

struct PlainError: Error, CustomStringConvertible {
    var description: String { "plain failure" }
}

/// The test service: one handler per behaviour under test.
func testHandlers(probe: Probe) -> [String: MethodHandler] {
    [
        "/test.Echo/Unary": .unary { _, request in request },
        "/test.Echo/Fail": .unary { _, _ in throw GRPCStatus(.notFound, "no such key: k1") },
        "/test.Echo/Plain": .unary { _, _ in throw PlainError() },
        "/test.Echo/Metadata": .unary { context, _ in
            let token = context.requestMetadata["x-token"] ?? "<none>"
            let text = "\(token)|\(context.method)|\(context.peer.contains("127.0.0.1"))|\(context.deadline != nil)"
            return Array(text.utf8)
        },
        "/test.Echo/Slow": .unary { context, _ in
            probe.bump("slow.started")
            do {
                try await Task.sleep(for: .seconds(30))
            } catch {
                probe.bump("slow.cancelled")
                if context.isCancelled { probe.bump("slow.contextCancelled") }
                throw error
            }
            return []
        },
        "/test.Echo/Delay": .unary { _, request in
            probe.bump("delay.started")
            // Not cancellable on purpose: a graceful shutdown must wait for it.
            let until = ContinuousClock.now + .milliseconds(300)
            while ContinuousClock.now < until {
                try? await Task.sleep(for: .milliseconds(10))
            }
            probe.bump("delay.finished")
            return request
        },
        "/test.Echo/Sum": .clientStreaming { _, requests in
            var sum: UInt64 = 0
            for try await message in requests {
                sum += UInt64(readU32(message))
            }
            return withUnsafeBytes(of: sum.littleEndian) { Array($0) }
        },
        // Inline client stream: counts messages in the probe, fails on 0xEE, answers [0xD0].
        "/test.Echo/CollectInline": .clientStreamingInline({ _, message in
            if message == [0xEE] { throw GRPCStatus(.failedPrecondition, "refused 0xEE") }
            probe.bump("collect.messages")
        }, { [0xD0] }),
        // Callback unary: echoes from a separate thread (as the raft apply thread would).
        "/test.Echo/CallbackEcho": .unaryCallback { _, request, respond in
            probe.bump("callback.received")
            Thread.detachNewThread { respond(.success(request)) }
        },
        // Callback unary answering with an error status, from another thread.
        "/test.Echo/CallbackFail": .unaryCallback { _, request, respond in
            if request == [0xEE] { throw GRPCStatus(.failedPrecondition, "thrown 0xEE") }
            Thread.detachNewThread { respond(.failure(GRPCStatus(.notFound, "no such key: k2"))) }
        },
        // Callback unary that never answers: parks its responder for the test to answer late.
        "/test.Echo/CallbackNever": .unaryCallback { _, _, respond in
            parkedResponders.withLock { $0.append(respond) }
            probe.bump("never.started")
        },
        // Callback unary whose handler lets go of its responder without answering.
        "/test.Echo/CallbackDrop": .unaryCallback { _, _, _ in probe.bump("drop.started") },
        "/test.Echo/Count": .serverStreaming { _, request, writer in
            let n = Int(readU32(request))
            for i in 0..<n {
                try await writer.send(u32(UInt32(i)))
            }
        },
        "/test.Echo/CountThenFail": .serverStreaming { _, request, writer in
            for i in 0..<Int(readU32(request)) {
                try await writer.send(u32(UInt32(i)))
            }
            throw GRPCStatus(.aborted, "stopped")
        },
        "/test.Echo/Bidi": .bidiStreaming { _, requests, writer in
            for try await message in requests {
                try await writer.send(message)
            }
        },
        // Inline: echoes, skips empty messages (no response), fails on 0xEE.
        "/test.Echo/BidiInline": .bidiStreamingInline { _, message in
            probe.bump("inline.requests")
            if message == [0xEE] { throw GRPCStatus(.failedPrecondition, "refused 0xEE") }
            return message.isEmpty ? nil : message
        },
        "/test.Echo/BidiWatch": .bidiStreaming { _, requests, writer in
            // Ends by error when the client goes away mid-stream.
            probe.bump("watch.started")
            do {
                while let message = try await requests.next() {
                    try await writer.send(message)
                }
                // The core may report a vanished client as a plain end of
                // stream; writing then must fail rather than hang.
                try await writer.send([0xFF])
                probe.bump("watch.endedCleanly")
            } catch {
                probe.bump("watch.failed")
                throw error
            }
        },
    ]
}

/// Responders of `/test.Echo/CallbackNever` calls, kept so a test can answer them late.
let parkedResponders = Mutex<[UnaryResponder]>([])

/// A running server on 127.0.0.1:0 plus a channel to it.
struct Harness {
    let server: GRPCServer
    let channel: GRPCChannel
    let probe: Probe

    static func start(threads: Int = 2) throws -> Harness {
        let probe = Probe()
        let server = try GRPCServer(address: "127.0.0.1:0", handlers: testHandlers(probe: probe), completionQueueThreads: threads)
        server.start()
        let channel = GRPCChannel(target: "127.0.0.1:\(server.port)")
        return Harness(server: server, channel: channel, probe: probe)
    }

    func stop() async {
        channel.close()
        await server.shutdown(gracePeriod: .seconds(1))
    }
}

func XCTAssertThrowsStatus(
    _ code: GRPCStatus.Code, _ body: () async throws -> Void, file: StaticString = #filePath, line: UInt = #line
) async -> GRPCStatus? {
    do {
        try await body()
        XCTFail("expected \(code), got success", file: file, line: line)
    } catch let status as GRPCStatus {
        XCTAssertEqual(status.code, code, "\(status)", file: file, line: line)
        return status
    } catch {
        XCTFail("expected GRPCStatus \(code), got \(error)", file: file, line: line)
    }
    return nil
}
