import ArgumentParser
import Foundation
import Linearizability

/// `tinykv-ctl check-history FILE`: checks a recorded key-value history for linearizability.
///
/// The file has one JSON object per line:
/// `{"client": 3, "op": "put", "key": "k1", "value": "v7", "call": 1200, "return": 1450, "outcome": "ok"}`.
/// `op` is `get`, `put` or `delete`; `call`/`return` are monotonic times (any unit);
/// `outcome` is `ok`, `fail` (the operation certainly did not happen: it is left out)
/// or `unknown` (a timeout: it may have happened); a get's `value` is what it read
/// (absent or null: not found).
struct CheckHistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-history",
        abstract: "Check a key-value history (JSON lines) for linearizability.",
        discussion: "Exit status 0: linearizable; 1: a violation (the operations of the offending key are printed); 2: undecided.")

    @Argument(help: "The history file (JSON lines).")
    var file: String

    struct Record: Decodable {
        var client: Int
        var op: String
        var key: String
        var value: String?
        var call: Int64
        var `return`: Int64?
        var outcome: String
    }

    func run() throws {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        var history: [ClientOperation<KVModel.Input, KVModel.Output>] = []
        let decoder = JSONDecoder()
        for (number, line) in text.split(separator: "\n").enumerated() where !line.isEmpty {
            let record: Record
            do {
                record = try decoder.decode(Record.self, from: Data(line.utf8))
            } catch {
                throw ValidationError("\(file):\(number + 1): \(error)")
            }
            if record.outcome == "fail" { continue }
            let input: KVModel.Input
            switch record.op {
            case "get": input = .get(key: record.key)
            case "put": input = .put(key: record.key, value: record.value ?? "")
            case "delete": input = .delete(key: record.key)
            default: throw ValidationError("\(file):\(number + 1): unknown op \(record.op)")
            }
            let output: KVModel.Output?
            switch (record.outcome, record.op) {
            case ("unknown", _): output = nil
            case ("ok", "get"): output = .value(record.value)
            case ("ok", _): output = .ok
            default: throw ValidationError("\(file):\(number + 1): unknown outcome \(record.outcome)")
            }
            if record.op == "get" && output == nil { continue }  // an unanswered read constrains nothing
            history.append(ClientOperation(client: record.client, input: input, output: output,
                                           call: record.call, returned: record.return ?? Int64.max))
        }
        switch LinearizabilityChecker(model: KVModel()).check(history) {
        case .linearizable:
            print("linearizable: \(history.count) operations")
        case .violation(let ops):
            print("NOT linearizable: key \(ops.first.map { $0.input.key } ?? "?"), \(ops.count) operations:")
            for op in ops.sorted(by: { $0.call < $1.call }) {
                print("  client \(op.client) \(op.input) -> \(op.output.map { "\($0)" } ?? "unknown") [\(op.call), \(op.returned)]")
            }
            throw ExitCode(1)
        case .unknown:
            print("undecided: the search reached its step limit")
            throw ExitCode(2)
        }
    }
}
