import ArgumentParser
import Bench

/// `tinykv-bench`: `tinykv-ctl bench` as a program of its own.
@main
struct TinyKVBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tinykv-bench",
        abstract: "Measure a TinyKV cluster: ops/s and latency percentiles (same as tinykv-ctl bench).",
        subcommands: [BenchCommand.self],
        defaultSubcommand: BenchCommand.self)
}
