import ArgumentParser
import Foundation
import KVClient
import TinyKVProto
import Transport

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// Options every cluster command takes.
struct ClusterOptions: ParsableArguments {
    @Option(name: .long, help: "The scheduler's address (HOST:PORT; default $TINYKV_SCHEDULER or 127.0.0.1:2379).")
    var scheduler = ProcessInfo.processInfo.environment["TINYKV_SCHEDULER"] ?? "127.0.0.1:2379"

    @Option(name: .long, help: "The store to use while the scheduler knows no region, i.e. a standalone store (default $TINYKV_STORE or 127.0.0.1:20160).")
    var store = ProcessInfo.processInfo.environment["TINYKV_STORE"] ?? "127.0.0.1:20160"

    @Option(name: .long, help: "Output format: table or json.")
    var format: OutputFormat = .table

    @Flag(name: .long, help: "Keys and values are given and shown as hex.")
    var hex = false

    @Option(name: .long, help: "Seconds to wait for each request.")
    var timeout: Double = 5

    var requestTimeout: Duration { .milliseconds(Int64(timeout * 1000)) }

    func schedulerClient() -> SchedulerClient {
        SchedulerClient(address: scheduler, timeout: requestTimeout)
    }

    func router() -> RegionRouter {
        RegionRouter(pd: schedulerClient(), fallbackStore: store)
    }

    /// Bytes of a key or value given on the command line.
    func bytes(_ text: String) throws -> [UInt8] {
        guard hex else { return Array(text.utf8) }
        var digits = Substring(text)
        if digits.hasPrefix("0x") { digits = digits.dropFirst(2) }
        guard let bytes = Hex.decode(digits) else { throw ValidationError("\"\(text)\" is not hex") }
        return bytes
    }

    /// Bytes for display: text when they are printable UTF-8 (and --hex is off), hex otherwise.
    func show(_ bytes: [UInt8]) -> String {
        if !hex, let text = String(validating: bytes, as: UTF8.self),
           !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return text
        }
        return hex ? Hex.encode(bytes) : "0x" + Hex.encode(bytes)
    }
}

/// Prints results as an aligned table or as JSON.
enum Output {
    /// Prints the result of a point read (JSON adds `extra`); a missing key exits with ``Exit/notFound``.
    static func printLookup(key: [UInt8], value: [UInt8]?, options: ClusterOptions, extra: [String: Any] = [:]) throws {
        if options.format == .json {
            var object: [String: Any] = ["key": options.show(key), "found": value != nil, "value": value.map(options.show) ?? NSNull()]
            object.merge(extra) { _, new in new }
            printJSON(object)
        } else if let value {
            Swift.print(options.show(value))
        } else {
            var stderr = StandardError()
            Swift.print("key not found", to: &stderr)
        }
        if value == nil { throw Exit.notFound }
    }

    static func print(_ format: OutputFormat, headers: [String], rows: [[String]], json: Any) {
        switch format {
        case .json:
            printJSON(json)
        case .table:
            printTable(headers: headers, rows: rows)
        }
    }

    static func printJSON(_ object: Any) {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data("null".utf8)
        Swift.print(String(decoding: data, as: UTF8.self))
    }

    static func printTable(headers: [String], rows: [[String]]) {
        var widths = headers.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        Swift.print(line(headers))
        for row in rows { Swift.print(line(row)) }
    }
}

/// Exit codes (also in `tinykv-ctl --help`).
enum Exit {
    static let notFound = ExitCode(1)
    static let conflict = ExitCode(2)
    static let failed = ExitCode(3)
}

/// Runs a command body, turning cluster errors into a message on stderr and exit code 3.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch {
        var stderr = StandardError()
        Swift.print("error: \(describe(error))", to: &stderr)
        throw Exit.failed
    }
}

func describe(_ error: any Error) -> String {
    if let status = error as? GRPCStatus {
        if status.code == .unavailable { return "unreachable (\(status.message))" }
        return "\(status.code.canonicalName): \(status.message)"
    }
    return "\(error)"
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandle.standardError.write(Data(string.utf8))
    }
}

extension Metapb.StoreState {
    var name: String {
        switch self {
        case .up: return "Up"
        case .offline: return "Offline"
        case .tombstone: return "Tombstone"
        default: return "\(self)"
        }
    }
}
